/**
 * The status view, pure: from the objects the cluster holds now (restore pods and Jobs, anchors,
 * PVCs) to the groups in flight with their members, nodes, states, anchors and records. Reading
 * the objects is read.ts's; printing is format.ts's. The keys and the record format are core's
 * (keys.ts, records.ts, selection.ts, anchors.ts): status reads what the functions write.
 */
import type { Job, KubeObject, Pod } from '../../functions/core/kube/objects.ts';
import { JobSchema, PodSchema, jobNameOf } from '../../functions/core/kube/objects.ts';
import { holding, leaseLeft } from '../../functions/core/restore/anchors.ts';
import { KB, type Keys } from '../../functions/core/restore/keys.ts';
import { parseOutcome, readHistory } from '../../functions/core/restore/records.ts';
import type { Selection, Selector } from '../../functions/core/restore/selection.ts';
import { restoreClaims, restoreContainerNames } from '../../functions/core/restore/selection.ts';
import { avoidedNodes, jobCondition } from '../shared/objects.ts';
import type { Timeline, TimelineGroup, TimelinePod } from '../shared/timeline-svg.ts';

/** What the cluster held at one moment (read.ts). */
export interface Snapshot {
  /** ms */
  at: number;
  /** Where it was read from (kubeconfig path and server), for headings. */
  source: string;
  namespace: string | null;
  pods: KubeObject[];
  jobs: KubeObject[];
  anchors: KubeObject[];
  pvcs: KubeObject[];
}

/** An outcome record (`<domain>/outcome`) as status shows it. */
export interface RecordView {
  state: string;
  scope: string;
  reason: string | null;
  node: string | null;
  pod: string | null;
  attempt: number | null;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  recordedAt: string | null;
}

/** A member whose pod is gone (deleted once recorded), as its Job's history and record tell it. */
export interface EndedMember {
  pod: string;
  job: string;
  node: string | null;
  state: string;
  reason: string | null;
  attempt: number;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface AnchorStatus {
  name: string;
  /** The restore pod it stands for. */
  for: string;
  node: string | null;
  phase: string | null;
  /** Still holding its node for the scheduler (not ended, not being deleted). */
  holding: boolean;
  createdAt: string | null;
  ageSeconds: number | null;
  /** Seconds left of its lease (activeDeadlineSeconds); null without one. */
  leaseLeftSeconds: number | null;
  generation: number;
  owner: string | null;
}

export interface MemberStatus {
  pod: string;
  job: string | null;
  node: string | null;
  phase: string | null;
  /** restore-guard's state label on the pod (gated, pending, placed, succeeded, failed). */
  state: string | null;
  reason: string | null;
  attempt: number;
  terminating: boolean;
  /** KubeBlocks' stop annotation is set. */
  stopped: boolean;
  record: RecordView | null;
  claims: string[];
  anchors: AnchorStatus[];
  /** ms, from the pod's own conditions and container states (for the timeline). */
  placedAt: number | null;
  restoreDoneAt: number | null;
  endAt: number | null;
}

export interface JobStatus {
  name: string;
  condition: string | null;
  state: string | null;
  record: RecordView | null;
  /** Entries in the Job's history annotation. */
  history: number;
  retryOf: string | null;
  attempt: number;
  avoid: string[];
  createdAt: string | null;
}

export interface PvcStatus {
  name: string;
  present: boolean;
  record: RecordView | null;
}

export type GroupPhase = 'in flight' | 'done';

export interface GroupStatus {
  namespace: string;
  group: string;
  profile: string;
  phase: GroupPhase;
  /** Declared size (`<domain>/group-size`), when any member declares it. */
  size: number | null;
  /** Member pods by restore-guard state (or phase when unlabelled). */
  counts: Record<string, number>;
  members: MemberStatus[];
  /** Members whose pods are gone, from their Jobs' records. */
  ended: EndedMember[];
  jobs: JobStatus[];
  pvcs: PvcStatus[];
  /** Anchors of the group whose pod is no longer there. */
  orphanAnchors: AnchorStatus[];
  retries: { job: string; of: string; attempt: number; avoid: string[]; createdAt: string | null }[];
}

export interface StatusReport {
  at: string;
  source: string;
  namespace: string | null;
  groups: GroupStatus[];
}

const ms = (iso: string | null | undefined): number | null => {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(t) ? t : null;
};

function recordOf(o: KubeObject | undefined, k: Keys): RecordView | null {
  const r = parseOutcome(o?.metadata.annotations?.[k.outcome]);
  if (!r) return null;
  return {
    state: r.state,
    scope: r.scope,
    reason: r.reason ?? null,
    node: r.node ?? null,
    pod: r.pod ?? null,
    attempt: r.attempt ?? null,
    exitCode: r.exitCode ?? null,
    startedAt: r.startedAt ?? null,
    finishedAt: r.finishedAt ?? null,
    recordedAt: r.recordedAt ?? null,
  };
}

function anchorStatus(a: KubeObject, k: Keys, now: number): AnchorStatus {
  const created = ms(a.metadata.creationTimestamp);
  const left = leaseLeft(a, new Date(now));
  const owner = a.metadata.ownerReferences?.[0];
  return {
    name: a.metadata.name,
    for: a.metadata.annotations?.[k.anchorPod] ?? a.metadata.labels?.[k.anchorFor] ?? '',
    node: (a.spec as { nodeName?: string } | undefined)?.nodeName ?? null,
    phase: (a.status as { phase?: string } | undefined)?.phase ?? null,
    holding: holding(a),
    createdAt: a.metadata.creationTimestamp ?? null,
    ageSeconds: created === null ? null : Math.max(0, Math.round((now - created) / 1000)),
    leaseLeftSeconds: left === null ? null : Math.round(left),
    generation: Number(a.metadata.annotations?.[k.generation] ?? 0) || 0,
    owner: owner ? `${owner.kind}/${owner.name}` : null,
  };
}

/** When the pod was bound, its restore containers ended, and the pod ended (ms), from its status. */
function podTimes(pod: Pod, sel: Selection): Pick<MemberStatus, 'placedAt' | 'restoreDoneAt' | 'endAt'> {
  const st = pod.status ?? {};
  const scheduled = (st.conditions ?? []).find((c) => c.type === 'PodScheduled' && c.status === 'True');
  const placedAt = pod.spec.nodeName
    ? (ms(scheduled?.lastTransitionTime) ?? ms((st as { startTime?: string }).startTime))
    : null;
  const byName = new Map((st.containerStatuses ?? []).map((c) => [c.name, c]));
  const names = restoreContainerNames(pod, sel);
  const finished = (n: string) => ms(byName.get(n)?.state?.terminated?.finishedAt);
  const restoreEnds = names.map(finished);
  const restoreDoneAt =
    names.length && restoreEnds.every((t) => t !== null) ? Math.max(...(restoreEnds as number[])) : null;
  const ended = st.phase === 'Succeeded' || st.phase === 'Failed';
  const allEnds = [...byName.values()].map((c) => ms(c.state?.terminated?.finishedAt)).filter((t) => t !== null);
  const endAt = ended ? (allEnds.length ? Math.max(...allEnds) : restoreDoneAt) : null;
  return { placedAt, restoreDoneAt, endAt };
}

/** A Job is done when it has a final condition or restore-guard wrote its verdict (retried, exhausted). */
const jobDone = (j: JobStatus) =>
  /^(Complete|Failed|SuccessCriteriaMet|FailureTarget)/.test(j.condition ?? '') ||
  j.state === 'retried' ||
  j.state === 'exhausted';

/**
 * The groups in the snapshot. A group is in flight while a member pod has not ended, a Job has no
 * final condition, or an anchor still holds a node; else done.
 */
export function buildStatus(s: Snapshot, selector: Selector, k: Keys): StatusReport {
  const groups = new Map<string, GroupStatus>();
  const groupOf = (sel: Selection): GroupStatus => {
    const key = `${sel.namespace}/${sel.group}`;
    let g = groups.get(key);
    if (!g) {
      g = {
        namespace: sel.namespace,
        group: sel.group,
        profile: sel.profile,
        phase: 'done',
        size: null,
        counts: {},
        members: [],
        ended: [],
        jobs: [],
        pvcs: [],
        orphanAnchors: [],
        retries: [],
      };
      groups.set(key, g);
    }
    return g;
  };
  const declaredSize = (g: GroupStatus, o: { metadata: { labels?: unknown; annotations?: unknown } }) => {
    const labels = (o.metadata.labels ?? {}) as Record<string, string>;
    const ann = (o.metadata.annotations ?? {}) as Record<string, string>;
    const n = Number(ann[k.groupSize] ?? labels[k.groupSize]);
    if (Number.isInteger(n) && n > 0) g.size = Math.max(g.size ?? 0, n);
  };

  // Anchors by namespace and the pod they stand for.
  const anchorsFor = new Map<string, KubeObject[]>();
  for (const a of s.anchors) {
    const forPod = a.metadata.annotations?.[k.anchorPod] ?? a.metadata.labels?.[k.anchorFor] ?? '';
    const key = `${a.metadata.namespace}/${forPod}`;
    anchorsFor.set(key, [...(anchorsFor.get(key) ?? []), a]);
  }
  const usedAnchors = new Set<KubeObject>();
  const pvcByKey = new Map(s.pvcs.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));

  for (const o of s.pods) {
    const parsed = PodSchema.safeParse(o);
    if (!parsed.success) continue;
    const pod: Pod = parsed.data;
    const sel = selector.selectPod(pod);
    if (!sel) continue;
    const g = groupOf(sel);
    declaredSize(g, pod);
    const anchors = anchorsFor.get(`${sel.namespace}/${pod.metadata.name}`) ?? [];
    for (const a of anchors) usedAnchors.add(a);
    const record = recordOf(o, k);
    const labels = pod.metadata.labels ?? {};
    g.members.push({
      pod: pod.metadata.name,
      job: jobNameOf(pod) ?? null,
      node: pod.spec.nodeName ?? null,
      phase: pod.status?.phase ?? null,
      state: labels[k.state] ?? null,
      reason: record?.reason ?? null,
      attempt: Number(pod.metadata.annotations?.[k.attempt] ?? record?.attempt ?? 1) || 1,
      terminating: !!pod.metadata.deletionTimestamp,
      stopped: pod.metadata.annotations?.[KB.stop] === 'true',
      record,
      claims: restoreClaims(pod.spec, sel.profile),
      anchors: anchors
        .map((a) => anchorStatus(a, k, s.at))
        .sort((a, b) => a.generation - b.generation || a.name.localeCompare(b.name)),
      ...podTimes(pod, sel),
    });
  }
  const jobClaims = new Map<string, string[]>();
  const recordedPods: EndedMember[] = [];
  for (const o of s.jobs) {
    const parsed = JobSchema.safeParse(o);
    if (!parsed.success) continue;
    const job: Job = parsed.data;
    const sel = selector.selectJob(job);
    if (!sel) continue;
    const g = groupOf(sel);
    declaredSize(g, job);
    const ann = job.metadata.annotations ?? {};
    const avoid = avoidedNodes(o);
    const status: JobStatus = {
      name: job.metadata.name,
      condition: jobCondition(o),
      state: job.metadata.labels?.[k.state] ?? null,
      record: recordOf(o, k),
      history: readHistory(ann[k.history]).length,
      retryOf: ann[k.retryOf] ?? null,
      attempt: Number(ann[k.attempt] ?? 1) || 1,
      avoid: avoid.nodes,
      createdAt: job.metadata.creationTimestamp ?? null,
    };
    g.jobs.push(status);
    // Each pod the Job ran, as its history records it (the record adds when it started).
    const byPod = new Map<string, EndedMember>();
    for (const e of readHistory(ann[k.history])) {
      if (e.scope !== 'pod' || !e.pod) continue;
      byPod.set(e.pod, {
        pod: e.pod,
        job: job.metadata.name,
        node: e.node,
        state: e.state,
        reason: e.reason,
        attempt: e.attempt,
        startedAt: status.record?.pod === e.pod ? status.record.startedAt : null,
        finishedAt: e.finishedAt,
      });
    }
    recordedPods.push(...byPod.values());
    jobClaims.set(`${sel.namespace}/${job.metadata.name}`, restoreClaims(job.spec.template.spec, sel.profile));
    if (status.retryOf)
      g.retries.push({
        job: status.name,
        of: status.retryOf,
        attempt: status.attempt,
        avoid: status.avoid,
        createdAt: status.createdAt,
      });
  }
  // Anchors whose pod is gone: still the group's (its label), still holding a node maybe.
  for (const a of s.anchors) {
    if (usedAnchors.has(a)) continue;
    const group = a.metadata.labels?.[k.group];
    const ns = a.metadata.namespace;
    if (!group || !ns) continue;
    const profile = a.metadata.annotations?.[k.profile] === 'kubeblocks' ? 'kubeblocks' : 'generic';
    const g = groupOf({ profile, namespace: ns, group, restoreContainers: [], helpers: [] });
    g.orphanAnchors.push(anchorStatus(a, k, s.at));
  }
  for (const e of recordedPods) {
    const g = [...groups.values()].find((x) => x.jobs.some((j) => j.name === e.job));
    if (g && !g.members.some((m) => m.pod === e.pod)) g.ended.push(e);
  }
  for (const g of groups.values()) {
    g.ended.sort((a, b) => a.job.localeCompare(b.job) || a.pod.localeCompare(b.pod));
    const claims = [
      ...new Set([
        ...g.members.flatMap((m) => m.claims),
        ...g.jobs.flatMap((j) => jobClaims.get(`${g.namespace}/${j.name}`) ?? []),
      ]),
    ].sort();
    g.pvcs = claims.map((name) => {
      const pvc = pvcByKey.get(`${g.namespace}/${name}`);
      return { name, present: !!pvc, record: recordOf(pvc, k) };
    });
    g.members.sort((a, b) => (a.job ?? a.pod).localeCompare(b.job ?? b.pod) || a.pod.localeCompare(b.pod));
    g.jobs.sort((a, b) => a.name.localeCompare(b.name));
    g.retries.sort((a, b) => a.job.localeCompare(b.job));
    for (const m of g.members) {
      const key = m.state ?? (m.phase ?? 'Pending').toLowerCase();
      g.counts[key] = (g.counts[key] ?? 0) + 1;
    }
    const anchorsHolding = [...g.members.flatMap((m) => m.anchors), ...g.orphanAnchors].some((a) => a.holding);
    const podsRunning = g.members.some((m) => m.phase !== 'Succeeded' && m.phase !== 'Failed' && !m.terminating);
    g.phase = anchorsHolding || podsRunning || g.jobs.some((j) => !jobDone(j)) ? 'in flight' : 'done';
  }
  return {
    at: new Date(s.at).toISOString(),
    source: s.source,
    namespace: s.namespace,
    groups: [...groups.values()].sort((a, b) => `${a.namespace}/${a.group}`.localeCompare(`${b.namespace}/${b.group}`)),
  };
}

/** The groups as the per-node timeline draws them (cli/shared/timeline-svg.ts), as of the snapshot. */
export function toTimeline(r: StatusReport, groups = r.groups): Timeline {
  const at = Date.parse(r.at);
  const tg: TimelineGroup[] = groups.map((g) => ({
    namespace: g.namespace,
    group: g.group,
    profile: g.profile,
    completedAt: null,
    releasedAt: null,
    releasedBy: null,
    pods: [
      ...g.ended.map((e): TimelinePod => {
        const end = ms(e.finishedAt);
        return {
          name: e.pod,
          job: e.job,
          node: e.node,
          placedAt: ms(e.startedAt) ?? end,
          restoreDoneAt: end,
          endAt: end,
          deletedAt: null,
          phase: null,
          outcome: e.state === 'succeeded' || e.state === 'failed' ? e.state : null,
          reason: e.reason,
          stopAt: null,
          stopBy: null,
          present: false,
        };
      }),
      ...g.members.map(
        (m): TimelinePod => ({
          name: m.pod,
          job: m.job,
          node: m.node,
          placedAt: m.placedAt,
          restoreDoneAt: m.restoreDoneAt,
          endAt: m.endAt,
          deletedAt: null,
          phase: m.phase,
          outcome: m.record?.state === 'succeeded' || m.record?.state === 'failed' ? m.record.state : null,
          reason: m.reason,
          stopAt: null,
          stopBy: null,
          present: true,
        }),
      ),
    ],
    anchors: [
      ...g.members.flatMap((m) => m.anchors.map((a) => ({ a, for: m.pod }))),
      ...g.orphanAnchors.map((a) => ({ a, for: a.for })),
    ].map(({ a, for: forPod }) => ({
      name: a.name,
      for: forPod,
      node: a.node,
      createdAt: ms(a.createdAt),
      deletedAt: a.holding ? null : at,
      present: a.holding,
    })),
    retries: g.retries.map((x) => ({
      job: x.job,
      of: x.of,
      attempt: x.attempt,
      avoid: x.avoid,
      at: ms(x.createdAt) ?? at,
    })),
  }));
  const names = groups.map((g) => `${g.namespace}/${g.group} (${g.profile}, ${g.phase})`).join(', ');
  return {
    what: 'status',
    subtitle: `${r.source} · as of ${r.at.replace('T', ' ').slice(0, 19)} UTC · ${names || 'no restore group'}`,
    groups: tg,
    start: at,
    end: at,
  };
}
