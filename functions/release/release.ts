import type { Deps } from '../core/deps.ts';
import type { Cluster } from '../core/kube/cluster.ts';
import type { KubeObject, LabelSelector } from '../core/kube/objects.ts';
import { readJob, readPod } from '../core/kube/objects.ts';
import { deleteAnchorFor, failureRecorded, memberKeys, selectorString } from '../core/restore/anchors.ts';
import { matchesSelector } from '../core/kube/cluster.ts';
import { judgeObject } from '../core/restore/judge.ts';
import type { GroupData, RestoreData } from '../core/restore/events.ts';
import { keys } from '../core/restore/keys.ts';
import { tell } from '../core/restore/kube-events.ts';
import { parseOutcome } from '../core/restore/records.ts';
import type { ProfileName } from '../core/restore/selection.ts';
import type { GroupView } from './group.ts';
import { groupComplete, groupInFlight } from './group.ts';

/**
 * Why a finished pod may or may not be deleted yet: its record must be on the live pod, and say what
 * the live pod says. Labeling writes the pod's record last, after its Job's and its PVCs' (README,
 * "What one restore pod costs"), so the record on the pod stands for all of them.
 */
export function podReleasable(deps: Deps, pod: KubeObject): string | null {
  const k = keys(deps.config.RG_DOMAIN);
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  if (phase !== 'Succeeded' && phase !== 'Failed') return `pod is ${phase ?? 'not finished'}`;
  const state = pod.metadata.labels?.[k.state];
  if (state !== 'succeeded' && state !== 'failed') return 'no record on the pod';
  if (!pod.metadata.annotations?.[k.outcome]) return 'no outcome on the pod';
  // Our own labels are not enough (README, Security): the record must say what the live pod says.
  const live = judgeObject(readPod(pod)!, deps, false, deps.clock());
  if (live?.state !== state) return `recorded ${state}, but the live pod is ${live?.state ?? 'not judged'}`;
  const recorded = parseOutcome(pod.metadata.annotations[k.outcome]);
  if (recorded?.state !== live.state || recorded.uid !== pod.metadata.uid)
    return 'the outcome on the pod is not the live outcome';
  return null;
}

/**
 * A group's Jobs, by label selector: KubeBlocks labels its Jobs; a generic Job carries the group
 * label itself, or gets it with its first record (labeling). Never every Job of a namespace (README,
 * "What one restore pod costs"); jobsOfPods adds the Jobs of the group's pods that it missed.
 */
export async function listGroupJobs(
  deps: Deps,
  cluster: Cluster,
  namespace: string,
  profile: ProfileName,
  group: string,
): Promise<KubeObject[]> {
  const listed =
    profile === 'kubeblocks'
      ? await cluster.list('Job', namespace, deps.selector.groupSelector({ profile, group }))
      : await cluster.list('Job', namespace, `${keys(deps.config.RG_DOMAIN).group}=${group}`);
  return listed.filter((j) => {
    const sel = deps.selector.selectJob(readJob(j)!);
    return sel?.profile === profile && sel.group === group;
  });
}

/** The Jobs of the group's pods that the label selector missed (a Job labelled only on its template, not yet recorded). */
async function jobsOfPods(
  deps: Deps,
  cluster: Cluster,
  namespace: string,
  profile: ProfileName,
  group: string,
  have: KubeObject[],
  pods: KubeObject[],
): Promise<KubeObject[]> {
  const known = new Set(have.map((j) => j.metadata.name));
  const out: KubeObject[] = [];
  for (const p of pods) {
    const owner = p.metadata.ownerReferences?.find((r) => r.kind === 'Job' && r.controller)?.name;
    if (!owner || known.has(owner)) continue;
    known.add(owner);
    const j = await cluster.get('Job', namespace, owner);
    const sel = j ? deps.selector.selectJob(readJob(j)!) : null;
    if (j && sel?.profile === profile && sel.group === group) out.push(j);
  }
  return out;
}

/**
 * Reads what release needs to judge a group, and stops reading as soon as the group is surely not
 * complete (its Restore running, a Job running): most checks are of a group still in flight.
 */
export async function viewGroup(
  deps: Deps,
  cluster: Cluster,
  namespace: string,
  profile: ProfileName,
  group: string,
): Promise<GroupView | { complete: false; why: string }> {
  const k = keys(deps.config.RG_DOMAIN);
  const owner = profile === 'kubeblocks' ? await cluster.get('Restore', namespace, group) : null;
  const early = groupInFlight(owner, null);
  if (early) return { complete: false, why: early };
  const labelled = await listGroupJobs(deps, cluster, namespace, profile, group);
  const running = groupInFlight(owner, labelled);
  if (running) return { complete: false, why: running };
  const sel = deps.selector.groupSelector({ profile, group });
  // A generic group's members and anchors carry the same group label: one list holds both.
  const both = sel === `${k.group}=${group}` ? await cluster.list('Pod', namespace, sel) : null;
  const anchors = both
    ? both.filter((p) => deps.selector.isAnchor(p))
    : await cluster.list('Pod', namespace, `${k.group}=${group},${k.anchorFor}`);
  // No anchor left and no Job to delete: nothing to release (a late event of a group released before).
  if (anchors.length === 0 && !deps.config.RG_DELETE_FINISHED_JOBS)
    return { complete: false, why: 'no anchors left to release' };
  const members = both
    ? both.filter((p) => !deps.selector.isAnchor(p))
    : await cluster.list('Pod', namespace, `${sel},!${k.anchorFor}`);
  const jobs = [...labelled, ...(await jobsOfPods(deps, cluster, namespace, profile, group, labelled, members))];
  return { profile, owner, jobs, pods: members, anchors, retryJobs: deps.config.RG_RETRY_JOBS };
}

/**
 * The pods and Jobs that one list by `selector` may hold among those the anchors repel: the anchors'
 * terms, each without its member exclusion (memberOf's `notin`), so the anchors of one group, which
 * differ only in the member they exclude, need one list, not one each. A term that is nothing but
 * the exclusion is kept whole (a list without a selector would read the whole namespace).
 */
export function siblingQueries(anchors: KubeObject[], domain: string): Map<string, string[]> {
  const member = new Set(memberKeys(domain));
  const out = new Map<string, string[]>();
  for (const a of anchors) {
    const spec = a.spec as {
      affinity?: {
        podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { labelSelector?: LabelSelector }[] };
      };
    };
    for (const t of spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      if (!t.labelSelector) continue;
      const exact = selectorString(t.labelSelector);
      if (!exact) continue;
      const wide = selectorString({
        ...t.labelSelector,
        matchExpressions: (t.labelSelector.matchExpressions ?? []).filter(
          (e) => !(e.operator === 'NotIn' && member.has(e.key)),
        ),
      });
      const list = wide || exact;
      const exacts = out.get(list) ?? [];
      if (!exacts.includes(exact)) exacts.push(exact);
      out.set(list, exacts);
    }
  }
  return out;
}

/**
 * A restore of another group that the anchors' own anti-affinity repels and that is still in flight
 * (a pod not finished, a Job not finished): the scheduling constraint spans both groups (KubeBlocks
 * makes one Restore per instance template of a component), so the anchors must stay. Null when none.
 * One list of Pods and one of Jobs per distinct term (siblingQueries); each object found is held to
 * the anchors' exact selectors.
 */
async function siblingInFlight(
  deps: Deps,
  cluster: Cluster,
  namespace: string,
  group: string,
  anchors: KubeObject[],
): Promise<string | null> {
  const other = (sel: { group: string } | null) => !!sel && sel.group !== group;
  for (const [s, exact] of siblingQueries(anchors, deps.config.RG_DOMAIN)) {
    const repelled = (o: KubeObject) => exact.some((e) => matchesSelector(o.metadata.labels, e));
    const [pods, jobs] = await Promise.all([cluster.list('Pod', namespace, s), cluster.list('Job', namespace, s)]);
    for (const p of pods.filter(repelled).map((o) => readPod(o)!)) {
      const phase = p.status.phase;
      if (deps.selector.isAnchor(p) || phase === 'Succeeded' || phase === 'Failed' || p.metadata.deletionTimestamp)
        continue;
      const sel = deps.selector.selectPod(p);
      if (other(sel)) return `${sel!.group} (pod ${p.metadata.name})`;
    }
    for (const j of jobs.filter(repelled).map((o) => readJob(o)!)) {
      const done = (j.status?.conditions ?? []).some(
        (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
      );
      const sel = deps.selector.selectJob(j);
      if (!done && other(sel)) return `${sel!.group} (job ${j.metadata.name})`;
    }
  }
  return null;
}

/**
 * Deletes a group's anchors once the group is complete and no restore of another group under the same
 * scheduling constraint is in flight; then the anchors of the groups that share the constraint and were
 * held for this one (cascade). Returns the anchors deleted, or null if not complete.
 */
export async function releaseGroup(
  deps: Deps,
  cluster: Cluster,
  namespace: string,
  profile: ProfileName,
  group: string,
  cascade = true,
): Promise<GroupData | null> {
  const k = keys(deps.config.RG_DOMAIN);
  const view = await viewGroup(deps, cluster, namespace, profile, group);
  if ('complete' in view) {
    deps.log.debug('group not complete', { namespace, group, why: view.why });
    return null;
  }
  const verdict = groupComplete(view, k);
  if (!verdict.complete) {
    deps.log.debug('group not complete', { namespace, group, why: verdict.why });
    return null;
  }
  const busy = view.anchors.length ? await siblingInFlight(deps, cluster, namespace, group, view.anchors) : null;
  if (busy) {
    deps.log.info('group complete; anchors held for a restore under the same constraint', {
      namespace,
      group,
      for: busy,
    });
    return null;
  }
  // All at once: the workload pods that follow wait on the last of them.
  const gone = await Promise.all(
    view.anchors.map((a) =>
      cluster.delete('Pod', namespace, a.metadata.name, { uid: a.metadata.uid ?? '', witness: [a] }),
    ),
  );
  const deleted = view.anchors.filter((_, i) => gone[i]).map((a) => a.metadata.name);
  if (deleted.length) {
    // Told where an operator looks: on KubeBlocks' Restore, else on the group's first Job.
    const about = view.owner ?? [...view.jobs].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))[0];
    if (about)
      await tell(cluster, deps.log, {
        about,
        namespace,
        reason: 'AnchorsReleased',
        type: 'Normal',
        message: `restore group ${group} complete (${verdict.why}): ${deleted.length} anchor${deleted.length === 1 ? '' : 's'} released: ${deleted.join(', ')}`,
        fn: 'release',
        key: [group, ...[...deleted].sort()],
        now: deps.clock(),
      });
    deps.metrics.anchorsDeleted.inc({}, deleted.length);
    deps.log.info('group complete: anchors deleted', { namespace, group, why: verdict.why, anchors: deleted });
  }
  // Groups under the same constraint whose anchors were held for this one may go now.
  const constraints = new Set(
    view.anchors.map((a) => a.metadata.labels?.[k.constraint]).filter((c): c is string => !!c),
  );
  if (cascade && constraints.size) {
    const siblings = new Map<string, ProfileName>();
    for (const c of constraints) {
      for (const a of await cluster.list('Pod', namespace, `${k.constraint}=${c},${k.anchorFor}`)) {
        const g = a.metadata.labels?.[k.group];
        if (g && g !== group)
          siblings.set(g, a.metadata.annotations?.[k.profile] === 'kubeblocks' ? 'kubeblocks' : 'generic');
      }
    }
    for (const [g, p] of siblings) await releaseGroup(deps, cluster, namespace, p, g, false);
  }
  // Finished Jobs go (by policy) with the group, after its anchors: a Job may own anchors (the
  // garbage collector would take them along), and a failed member's Job is what counts it in a
  // group of declared size. Every Job of a complete group is finished, recorded and settled.
  if (deps.config.RG_DELETE_FINISHED_JOBS) {
    const jobs: string[] = [];
    for (const j of view.jobs) {
      if (
        await cluster.delete('Job', namespace, j.metadata.name, {
          uid: j.metadata.uid ?? '',
          propagation: 'Background',
        })
      )
        jobs.push(j.metadata.name);
    }
    if (jobs.length) deps.log.info('released', { namespace, group, released: jobs.map((j) => `job ${j}`) });
  }
  return { namespace, group, profile, anchorsDeleted: deleted, members: view.jobs.length + view.pods.length };
}

/** Releases what one recorded outcome holds: the pod (once recorded) and a failed pod's anchor. Jobs go with their group. */
export async function releaseOutcome(deps: Deps, cluster: Cluster, d: RestoreData): Promise<string[]> {
  const k = keys(deps.config.RG_DOMAIN);
  const done: string[] = [];
  if (d.scope === 'pod' && d.pod) {
    const pod = await cluster.get('Pod', d.namespace, d.pod);
    if (!pod || pod.metadata.uid !== d.uid) {
      // The pod is gone already: its anchor (the one standing for this uid) goes when its failure
      // is on record (README, Security), never on the event's word alone.
      const gone = (await failureRecorded(cluster, k, d.namespace, d.job, d.uid))
        ? await deleteAnchorFor(cluster, k, d.namespace, d.pod, d.uid)
        : null;
      if (gone) done.push(`anchor ${gone}`);
    }
    if (pod && pod.metadata.uid === d.uid && !pod.metadata.deletionTimestamp) {
      const why = podReleasable(deps, pod);
      if (why === null) {
        // A failed attempt's anchor would repel its own retry (same labels): it goes with the failure,
        // as the live pod tells it.
        const failed = judgeObject(readPod(pod)!, deps, false, deps.clock())?.state === 'failed';
        const gone = failed ? await deleteAnchorFor(cluster, k, d.namespace, d.pod, d.uid) : null;
        if (gone) done.push(`anchor ${gone}`);
        // KubeBlocks reads a failed restore pod's log into its Restore's status (its log collector)
        // and deletes its Jobs, and with them their pods, when the Restore ends: its failed pods stay.
        const keep = failed && d.profile === 'kubeblocks';
        if (
          deps.config.RG_DELETE_FINISHED_PODS &&
          !keep &&
          (await cluster.delete('Pod', d.namespace, d.pod, { uid: d.uid ?? '', witness: [pod] }))
        )
          done.push(`pod ${d.pod}`);
      } else deps.log.debug('pod kept', { namespace: d.namespace, pod: d.pod, why });
    }
  }
  if (done.length) deps.log.info('released', { namespace: d.namespace, group: d.group, released: done });
  return done;
}
