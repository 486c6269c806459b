import type { Cluster } from '../core/kube/cluster.ts';
import type { Deps } from '../core/deps.ts';
import type { KubeObject } from '../core/kube/objects.ts';
import { readJob, readPod } from '../core/kube/objects.ts';
import type { Job, Pod } from '../core/kube/objects.ts';
import { ensureAnchor, handOver, holding, leaseLeft, renewAnchor } from '../core/restore/anchors.ts';
import { anchorCensus, anchorKey } from '../core/restore/anchor-census.ts';
import { admitNext } from '../core/restore/gate.ts';
import { stopAnnotations } from '../core/restore/kubeblocks.ts';
import type { GroupData, RestoreData } from '../core/restore/events.ts';
import { EventType } from '../core/restore/events.ts';
import { judgeObject } from '../core/restore/judge.ts';
import { keys } from '../core/restore/keys.ts';
import { readHistory } from '../core/restore/records.ts';
import type { ProfileName } from '../core/restore/selection.ts';

/**
 * The steps of the event chain that resync runs again. resync declares what it needs and the
 * composition root (functions/server.ts) hands in labeling's, retry's and release's own steps, so
 * the sweep converges exactly as the events would, without importing its sibling functions.
 */
export interface SweepSteps {
  /** labeling: records an outcome (and anchors a success), idempotently. */
  record(deps: Deps, cluster: Cluster, d: RestoreData): Promise<{ recorded: string[]; anchor: string }>;
  /** retry: acts on a failure without waiting for its backoff (a later ping finds it due). */
  retry(deps: Deps, cluster: Cluster, d: RestoreData): Promise<{ type: string | null }>;
  /** release: what one recorded outcome holds. */
  releaseOutcome(deps: Deps, cluster: Cluster, d: RestoreData): Promise<string[]>;
  /** release: the group's anchors once it is complete; null while it is not. */
  releaseGroup(
    deps: Deps,
    cluster: Cluster,
    namespace: string,
    profile: ProfileName,
    group: string,
  ): Promise<GroupData | null>;
}

export interface SweepReport {
  pods: number;
  jobs: number;
  groups: number;
  anchorsCreated: number;
  recorded: number;
  released: number;
  retries: number;
  groupsCompleted: number;
  groupsCompletedAnchors: number;
  /** anchors of failed pods that were gone before their anchor was deleted */
  orphanAnchors: number;
  /** placement gates lifted (opt-in gated groups) */
  gatesLifted: number;
  /** anchors of groups in flight replaced before their lease ran out, or after they ended */
  anchorsRenewed: number;
  /** anchors that took their labels off for their member's pending successor */
  handedOver: number;
  errors: number;
}

/**
 * The level-triggered sweep: list every selected Pod and Job (and our anchors), judge each one as
 * completion would, and run the same idempotent steps as the event chain. Converges whatever
 * events arrived once, twice, late, out of order, or never.
 */
export async function sweep(deps: Deps, cluster: Cluster, steps: SweepSteps): Promise<SweepReport> {
  const k = keys(deps.config.RG_DOMAIN);
  const now = deps.clock();
  const report: SweepReport = {
    pods: 0,
    jobs: 0,
    groups: 0,
    anchorsCreated: 0,
    recorded: 0,
    released: 0,
    retries: 0,
    groupsCompleted: 0,
    groupsCompletedAnchors: 0,
    orphanAnchors: 0,
    gatesLifted: 0,
    anchorsRenewed: 0,
    handedOver: 0,
    errors: 0,
  };
  const namespaces: (string | null)[] = deps.config.RG_NAMESPACES.length ? deps.config.RG_NAMESPACES : [null];
  const allAnchors: KubeObject[] = [];
  /** Listed anchors this sweep deleted or replaced (for the metrics). */
  const gone = new Set<string>();
  const gatedGroups = new Map<string, { namespace: string; profile: ProfileName; group: string }>();
  const groups = new Map<string, { namespace: string; profile: ProfileName; group: string }>();
  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      report.errors++;
      deps.log.warn('resync step failed', { step: what, error: (e as Error).message });
    }
  };

  for (const ns of namespaces) {
    // Pods by label (cheap); Jobs all, because the generic profile labels only their pod template.
    const lists = await Promise.all([
      ...deps.selector.listSelectors().map((s) => cluster.list('Pod', ns, s)),
      cluster.list('Job', ns, ''),
    ]);
    const seen = new Set<string>();
    const objects: KubeObject[] = lists.flat().filter((o) => {
      const id = `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
      return !seen.has(id) && seen.add(id);
    });
    const anchors = await cluster.list('Pod', ns, k.anchorFor);
    allAnchors.push(...anchors);

    for (const o of objects) {
      let obj: Pod | Job;
      try {
        obj = o.kind === 'Pod' ? readPod(o)! : readJob(o)!;
      } catch (e) {
        report.errors++; // loud, never silently skipped: the object is counted and named
        deps.log.warn('resync: object does not parse', {
          kind: o.kind,
          namespace: o.metadata.namespace,
          name: o.metadata.name,
          error: (e as Error).message,
        });
        continue;
      }
      const d = judgeObject(obj, deps, false, now);
      const sel = obj.kind === 'Pod' ? deps.selector.selectPod(obj) : deps.selector.selectJob(obj);
      if (!sel) continue;
      groups.set(`${sel.namespace}/${sel.profile}/${sel.group}`, {
        namespace: sel.namespace,
        profile: sel.profile,
        group: sel.group,
      });
      if (obj.kind === 'Pod') report.pods++;
      else report.jobs++;
      // A generic Job labelled only on its pod template (or recorded before Jobs were labelled) gets
      // its group label: release lists a group's Jobs by it, never every Job of a namespace.
      if (obj.kind === 'Job' && sel.profile === 'generic' && obj.metadata.labels?.[k.group] === undefined) {
        await step(`label job ${sel.namespace}/${obj.metadata.name}`, async () => {
          await cluster.patch(
            'Job',
            sel.namespace,
            obj.metadata.name,
            { metadata: { labels: { [k.group]: sel.group } } },
            { witness: [o] },
          );
        });
      }
      if (!d) continue;
      if (d.state === 'pending') {
        if (obj.kind === 'Pod') {
          await step(`hand over ${sel.namespace}/${obj.metadata.name}`, async () => {
            report.handedOver += (await handOver(deps, cluster, obj, sel.namespace)).length;
          });
        }
        continue;
      }
      if (d.state === 'gated') {
        gatedGroups.set(`${sel.namespace}/${sel.profile}/${sel.group}`, {
          namespace: sel.namespace,
          profile: sel.profile,
          group: sel.group,
        });
        continue;
      }
      await step(`${obj.kind} ${sel.namespace}/${obj.metadata.name}`, async () => {
        if (d.state === 'placed') {
          if (obj.kind === 'Pod' && (await ensureAnchor(deps, cluster, obj, sel, d.job)) === 'created')
            report.anchorsCreated++;
          return;
        }
        // A pod that carries its record has every record: labeling writes the pod's last (README,
        // "What one restore pod costs"), with KubeBlocks' stop signal; nothing to record again.
        if (!(obj.kind === 'Pod' && d.recorded && !stopAnnotations(obj, sel))) {
          const r = await steps.record(deps, cluster, d);
          report.recorded += r.recorded.length;
          if (r.anchor === 'created') report.anchorsCreated++;
        }
        if (d.state === 'failed') {
          const rr = await steps.retry(deps, cluster, d);
          if (rr.type === EventType.retryScheduled) report.retries++;
        }
        report.released += (await steps.releaseOutcome(deps, cluster, d)).length;
      });
    }
    // Gated groups (opt-in placement gate) whose next pod may go now that the steps above ran.
    for (const g of gatedGroups.values()) {
      await step(`gate ${g.namespace}/${g.group}`, async () => {
        if (await admitNext(deps, cluster, g.namespace, g.profile, g.group)) report.gatesLifted++;
      });
    }
    gatedGroups.clear();
    // Anchors of failed pods that are gone (their failure is in a Job's history): a failed attempt's
    // anchor would repel its own retry, and nothing else would delete it before its deadline.
    const live = new Set(objects.map((o) => o.metadata.uid));
    const failed = new Set(
      objects
        .filter((o) => o.kind === 'Job')
        .flatMap((j) =>
          readHistory(j.metadata.annotations?.[k.history])
            .filter((e) => e.scope === 'pod' && e.state === 'failed' && e.uid)
            .map((e) => e.uid!),
        ),
    );
    for (const a of anchors) {
      const uid = a.metadata.annotations?.[k.anchorUid];
      if (!uid || live.has(uid) || !failed.has(uid)) continue;
      await step(`anchor ${a.metadata.namespace}/${a.metadata.name}`, async () => {
        if (await cluster.delete('Pod', a.metadata.namespace ?? '', a.metadata.name, { uid: a.metadata.uid ?? '' })) {
          report.released++;
          report.orphanAnchors++;
          gone.add(anchorKey(a));
          deps.log.info('anchor of a failed pod that is gone deleted', {
            namespace: a.metadata.namespace,
            anchor: a.metadata.name,
            podUid: uid,
          });
        }
      });
    }
    // Anchors whose group has no member left still belong to a group: judge it too.
    for (const a of anchors) {
      const group = a.metadata.labels?.[k.group];
      const ns2 = a.metadata.namespace;
      if (!group || !ns2) continue;
      const profile = a.metadata.annotations?.[k.profile] === 'kubeblocks' ? 'kubeblocks' : 'generic';
      if (![...groups.values()].some((g) => g.namespace === ns2 && g.group === group))
        groups.set(`${ns2}/${profile}/${group}`, { namespace: ns2, profile, group });
    }
  }
  const inFlight = new Set<string>();
  // A group with no anchor left has nothing to release (release would read its Restore, Jobs and
  // anchors to find that out, every sweep, for every group the namespaces ever held), unless
  // finished Jobs go with their group.
  const anchored = new Set(allAnchors.map((a) => `${a.metadata.namespace}/${a.metadata.labels?.[k.group]}`));
  for (const g of groups.values()) {
    report.groups++;
    if (!deps.config.RG_DELETE_FINISHED_JOBS && !anchored.has(`${g.namespace}/${g.group}`)) continue;
    await step(`group ${g.namespace}/${g.group}`, async () => {
      const done = await steps.releaseGroup(deps, cluster, g.namespace, g.profile, g.group);
      if (done?.anchorsDeleted.length) {
        report.groupsCompleted++;
        report.groupsCompletedAnchors += done.anchorsDeleted.length;
        for (const name of done.anchorsDeleted) gone.add(`${g.namespace}/${name}`);
      }
      if (!done) inFlight.add(`${g.namespace}/${g.group}`);
    });
  }
  // Anchors are leases: while their group is in flight, one past half its lease, or one that ended
  // (expired, evicted, preempted), is replaced by a fresh copy before it lapses. If restore-guard is
  // gone, nothing renews them and the footprint lapses within one lease (fail open).
  const half = deps.config.RG_ANCHOR_DEADLINE_SECONDS / 2;
  for (const a of allAnchors) {
    const group = a.metadata.labels?.[k.group];
    if (!group || !inFlight.has(`${a.metadata.namespace}/${group}`) || a.metadata.deletionTimestamp) continue;
    const left = leaseLeft(a, now);
    if (holding(a) && (left === null || left > half)) continue;
    await step(`renew anchor ${a.metadata.namespace}/${a.metadata.name}`, async () => {
      if (await renewAnchor(deps, cluster, a)) report.anchorsRenewed++;
      gone.add(anchorKey(a));
    });
  }
  recordSweep(deps, report, anchorCensus(allAnchors, gone, report.anchorsCreated + report.anchorsRenewed, now));
  deps.log.info('resync done', { ...report });
  return report;
}

/**
 * The sweep's metrics: it lists every anchor in the cluster, so its census is true across replicas
 * and restarts (README, Operations); each replica exports its own last sweep's.
 */
function recordSweep(deps: Deps, report: SweepReport, census: ReturnType<typeof anchorCensus>): void {
  const m = deps.metrics;
  m.resyncAnchors.set({ state: 'holding' }, census.holding);
  m.resyncAnchors.set({ state: 'ended' }, census.ended);
  m.resyncAnchorsPastLease.set({}, census.pastLease);
  m.resyncAnchorOldest.set({}, Math.round(census.oldestSeconds));
  const repairs = {
    anchorsCreated: report.anchorsCreated,
    recorded: report.recorded,
    released: report.released,
    retries: report.retries,
    groupsCompleted: report.groupsCompleted,
    gatesLifted: report.gatesLifted,
    anchorsRenewed: report.anchorsRenewed,
    handedOver: report.handedOver,
  };
  for (const [action, n] of Object.entries(repairs)) if (n) m.resyncRepairs.inc({ action }, n);
  if (report.errors) m.resyncErrors.inc({}, report.errors);
  m.resyncLastSweep.set({}, deps.clock().getTime() / 1000);
}
