import type { Cluster } from '../../functions/core/kube/cluster.ts';
import type { Deps } from '../../functions/core/deps.ts';
import { EventType } from '../../functions/core/restore/events.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { JobSchema, PodSchema } from '../../functions/core/kube/objects.ts';
import { claimsOfObject } from './view.ts';
import { restoreContainerNames } from '../../functions/core/restore/selection.ts';
import { KB, keys } from '../../functions/core/restore/keys.ts';
import type { Report } from './report.ts';
import type { AnchorLife, EndState, GroupState, JobState, Outcome, PodLife } from './report.ts';
import { avoidedNodes, jobCondition } from '../shared/objects.ts';

function parseOutcomeText(text: string | undefined): Outcome | null {
  if (!text) return null;
  try {
    const o = JSON.parse(text) as Partial<Outcome> & { attempt?: number };
    return {
      state: String(o.state),
      scope: String(o.scope),
      reason: o.reason ?? null,
      node: o.node ?? null,
      pod: o.pod ?? null,
      attempt: o.attempt ?? null,
    };
  } catch {
    return null;
  }
}

/**
 * The end state per group, from what the replay saw (objects the events carried, the chain's
 * replies and writes) and what the cluster holds at the end.
 */
export async function endState(cluster: Cluster, deps: Deps, report: Report): Promise<EndState> {
  const k = keys(deps.config.RG_DOMAIN);
  const groups = new Map<string, GroupState>();
  const groupOf = (ns: string, profile: 'kubeblocks' | 'generic', group: string): GroupState => {
    const key = `${ns}/${group}`;
    let g = groups.get(key);
    if (!g) {
      g = {
        namespace: ns,
        group,
        profile,
        completedAt: null,
        releasedAt: null,
        releasedBy: null,
        pods: [],
        anchors: [],
        jobs: [],
        pvcs: [],
        retries: [],
        failures: [],
      };
      groups.set(key, g);
    }
    return g;
  };
  const pods = new Map<string, { g: GroupState; life: PodLife; obj: KubeObject }>();
  const jobs = new Map<
    string,
    {
      g: GroupState;
      obj: KubeObject;
      createdByUs: boolean;
      deletedBy: JobState['deletedBy'];
      createdAt: number | null;
      firstSeen: number | null;
    }
  >();
  const anchors = new Map<string, { g: GroupState; life: AnchorLife }>();
  const claims = new Map<string, Set<string>>();
  const addClaims = (g: GroupState, o: KubeObject) => {
    const set = claims.get(`${g.namespace}/${g.group}`) ?? new Set();
    for (const c of claimsOfObject(o)) set.add(c);
    claims.set(`${g.namespace}/${g.group}`, set);
  };
  const podEntry = (o: KubeObject) => {
    const parsed = PodSchema.safeParse(o);
    if (!parsed.success) return null;
    const sel = deps.selector.selectPod(parsed.data);
    if (!sel) return null;
    const key = `${sel.namespace}/${o.metadata.name}`;
    let e = pods.get(key);
    if (!e) {
      const g = groupOf(sel.namespace, sel.profile, sel.group);
      const labels = o.metadata.labels ?? {};
      const life: PodLife = {
        name: o.metadata.name,
        uid: o.metadata.uid ?? null,
        job: labels['batch.kubernetes.io/job-name'] ?? labels['job-name'] ?? null,
        node: null,
        placedAt: null,
        restoreDoneAt: null,
        endAt: null,
        phase: null,
        outcome: null,
        reason: null,
        stopAt: null,
        stopBy: null,
        deletedAt: null,
        deletedBy: null,
        state: null,
        present: false,
        attempt: Number(o.metadata.annotations?.[k.attempt] ?? 1) || 1,
      };
      e = { g, life, obj: o };
      pods.set(key, e);
      g.pods.push(life);
    }
    addClaims(e.g, o);
    return { ...e, pod: parsed.data, sel };
  };
  const jobEntry = (o: KubeObject, createdByUs = false) => {
    const parsed = JobSchema.safeParse(o);
    if (!parsed.success) return null;
    const sel = deps.selector.selectJob(parsed.data);
    if (!sel) return null;
    const key = `${sel.namespace}/${o.metadata.name}`;
    let e = jobs.get(key);
    if (!e) {
      e = {
        g: groupOf(sel.namespace, sel.profile, sel.group),
        obj: o,
        createdByUs,
        deletedBy: null,
        createdAt: null,
        firstSeen: null,
      };
      jobs.set(key, e);
    }
    e.obj = o;
    e.createdByUs ||= createdByUs;
    addClaims(e.g, o);
    return e;
  };

  // What the world showed: offline, every state applied to the view; else the delivered objects.
  const shown = report.world.length
    ? report.world
        .filter((w) => w.result === 'taken' || w.result === 'deleted')
        .map((w) => ({ at: w.at, o: w.object, deleted: w.deleted, before: w.before }))
    : report.steps
        .filter((s) => s.kind === 'event' && s.object)
        .map((s) => ({ at: s.at, o: s.object!, deleted: s.deleted, before: s.before }));
  for (const s of shown) {
    const o = s.o;
    if (o.kind === 'Pod') {
      const e = podEntry(o);
      if (e) {
        const { life, pod, sel } = e;
        if (s.deleted) {
          if (life.deletedAt === null) {
            life.deletedAt = s.at;
            life.deletedBy = 'recording';
          }
          if (s.before) life.state = s.before.metadata.labels?.[k.state] ?? life.state;
        } else {
          if (pod.spec.nodeName) {
            life.node = pod.spec.nodeName;
            life.placedAt ??= s.at;
          }
          const names = restoreContainerNames(pod, sel);
          const st = new Map((pod.status.containerStatuses ?? []).map((c) => [c.name, c]));
          if (names.length && names.every((n) => st.get(n)?.state?.terminated)) life.restoreDoneAt ??= s.at;
          const phase = pod.status.phase ?? null;
          life.phase = phase;
          if (phase === 'Succeeded' || phase === 'Failed') life.endAt ??= s.at;
          if (o.metadata.annotations?.[KB.stop] === 'true' && life.stopAt === null) {
            life.stopAt = s.at;
            life.stopBy = 'recording';
          }
        }
      }
    } else if (o.kind === 'Job') {
      const e = jobEntry(s.deleted && s.before ? s.before : o);
      if (e) e.firstSeen ??= s.at;
      if (e && s.deleted && !e.deletedBy) e.deletedBy = 'recording';
    }
  }
  for (const s of report.steps) {
    for (const h of s.hops) {
      if (h.reply?.type === EventType.groupCompleted) {
        const d = h.reply.data as { namespace: string; group: string; profile: 'kubeblocks' | 'generic' };
        const g = groupOf(d.namespace, d.profile, d.group);
        g.completedAt ??= s.at;
      }
      if (
        h.function === 'completion' &&
        (h.reply?.type === EventType.failed || h.reply?.type === EventType.succeeded)
      ) {
        const d = h.reply.data as {
          namespace: string;
          group: string;
          profile: 'kubeblocks' | 'generic';
          pod: string | null;
          job: string | null;
          node: string | null;
          reason: string | null;
          scope: string;
          state: 'succeeded' | 'failed';
          retryable: boolean;
        };
        const g = groupOf(d.namespace, d.profile, d.group);
        if (d.scope === 'pod' && d.pod) {
          const e = pods.get(`${d.namespace}/${d.pod}`);
          if (e) {
            e.life.outcome = d.state;
            e.life.reason = d.reason;
          }
        }
        if (
          d.state === 'failed' &&
          !g.failures.some((f) => f.scope === d.scope && f.pod === d.pod && f.job === d.job && f.reason === d.reason)
        ) {
          g.failures.push({
            pod: d.pod,
            job: d.job,
            node: d.node,
            reason: d.reason,
            scope: d.scope,
            at: s.at,
            retryable: d.retryable,
          });
        }
      }
      for (const w of h.writes) {
        if (w.changed === false) continue;
        if (w.kind === 'Pod' && w.verb === 'create') {
          const body = w.body as KubeObject;
          const group = body.metadata.labels?.[k.group];
          const profile = body.metadata.annotations?.[k.profile] === 'kubeblocks' ? 'kubeblocks' : 'generic';
          if (!group) continue;
          const g = groupOf(w.namespace, profile, group);
          const key = `${w.namespace}/${w.name}`;
          if (!anchors.has(key)) {
            const life: AnchorLife = {
              name: w.name,
              for: body.metadata.annotations?.[k.anchorPod] ?? body.metadata.labels?.[k.anchorFor] ?? '',
              node: (body.spec as { nodeName?: string } | undefined)?.nodeName ?? null,
              createdAt: w.at,
              deletedAt: null,
              present: false,
              owner: body.metadata.ownerReferences?.[0]
                ? `${body.metadata.ownerReferences[0].kind}/${body.metadata.ownerReferences[0].name}`
                : null,
            };
            anchors.set(key, { g, life });
            g.anchors.push(life);
          }
        } else if (w.kind === 'Pod' && w.verb === 'delete') {
          const key = `${w.namespace}/${w.name}`;
          const a = anchors.get(key);
          if (a && a.life.deletedAt === null) {
            a.life.deletedAt = w.at;
            a.g.releasedAt = w.at;
            a.g.releasedBy = h.function;
          }
          const p = pods.get(key);
          if (
            p &&
            (p.life.deletedAt === null || p.life.deletedBy === 'recording'
              ? w.at <= (p.life.deletedAt ?? Infinity)
              : false)
          ) {
            p.life.deletedAt = w.at;
            p.life.deletedBy = 'restore-guard';
            p.life.state = w.before?.metadata.labels?.[k.state] ?? p.life.state;
          }
        } else if (w.kind === 'Pod' && w.verb === 'patch') {
          const ann = (w.body as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations ?? {};
          const p = pods.get(`${w.namespace}/${w.name}`);
          if (p && ann[KB.stop] === 'true' && (p.life.stopAt === null || p.life.stopBy === 'recording')) {
            p.life.stopAt = Math.min(w.at, p.life.stopAt ?? Infinity);
            p.life.stopBy = 'restore-guard';
          }
        } else if (w.kind === 'Job' && w.verb === 'create') {
          const e = jobEntry(w.body as KubeObject, true);
          if (e) e.createdAt ??= w.at;
        } else if (w.kind === 'Job' && w.verb === 'delete') {
          const e = jobs.get(`${w.namespace}/${w.name}`);
          if (e) e.deletedBy = 'restore-guard';
        }
      }
    }
  }

  // What the cluster holds at the end.
  for (const { life, g } of pods.values()) {
    const live = await cluster.get('Pod', g.namespace, life.name);
    if (live && (!life.uid || live.metadata.uid === life.uid)) {
      life.present = true;
      life.state = live.metadata.labels?.[k.state] ?? null;
      if (live.metadata.annotations?.[KB.stop] === 'true' && life.stopAt === null) life.stopBy = 'recording';
    }
  }
  for (const { life, g } of anchors.values()) {
    const live = await cluster.get('Pod', g.namespace, life.name);
    life.present = !!live;
  }
  for (const g of groups.values())
    if (g.anchors.some((a) => a.present)) {
      g.releasedAt = null;
      g.releasedBy = null;
    }
  for (const e of jobs.values()) {
    const live = await cluster.get('Job', e.g.namespace, e.obj.metadata.name);
    const o = live ?? e.obj;
    const ann = o.metadata.annotations ?? {};
    e.g.jobs.push({
      name: o.metadata.name,
      condition: jobCondition(o),
      state: o.metadata.labels?.[k.state] ?? null,
      outcome: parseOutcomeText(ann[k.outcome]),
      present: !!live,
      deletedBy: live ? null : (e.deletedBy ?? 'recording'),
      retryOf: ann[k.retryOf] ?? null,
      attempt: Number(ann[k.attempt] ?? 1) || 1,
      createdByRestoreGuard: e.createdByUs,
    });
    // Retries: every Job that says what it retries, whoever created it in this replay.
    const retryOf = ann[k.retryOf];
    if (retryOf) {
      const avoid = avoidedNodes(o);
      e.g.retries.push({
        job: o.metadata.name,
        of: retryOf,
        attempt: Number(ann[k.attempt] ?? 0),
        avoid: avoid.nodes,
        required: avoid.required,
        at: e.createdAt ?? e.firstSeen ?? report.start,
        createdBy: e.createdByUs ? 'restore-guard' : 'recording',
      });
    }
  }
  const inferred = new Set(report.inferred);
  for (const g of groups.values()) {
    for (const claim of [...(claims.get(`${g.namespace}/${g.group}`) ?? [])].sort()) {
      const pvc = await cluster.get('PersistentVolumeClaim', g.namespace, claim);
      g.pvcs.push({
        name: claim,
        outcome: parseOutcomeText(pvc?.metadata.annotations?.[k.outcome]),
        inferred: inferred.has(`PersistentVolumeClaim/${g.namespace}/${claim}`),
      });
    }
    g.pods.sort((a, b) => (a.placedAt ?? Infinity) - (b.placedAt ?? Infinity) || a.name.localeCompare(b.name));
    g.jobs.sort((a, b) => a.name.localeCompare(b.name));
  }
  return {
    groups: [...groups.values()].sort((a, b) => `${a.namespace}/${a.group}`.localeCompare(`${b.namespace}/${b.group}`)),
  };
}
