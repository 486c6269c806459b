import type { Cluster } from '../core/kube/cluster.ts';
import { KB, keys } from '../core/config.ts';
import type { Deps } from '../core/deps.ts';
import { RefusedWriteError, TransientClusterError, isConflict } from '../core/errors.ts';
import type { RestoreData } from '../core/restore/events.ts';
import { RestoreDataSchema, T, replyEvent } from '../core/restore/events.ts';
import type { FunctionDef } from '../core/http/function.ts';
import { dataOf } from '../core/http/function.ts';
import type { Job, KubeObject, Pod } from '../core/kube/objects.ts';
import { JobSchema, PodSchema, annotationsOf, claimsOf, labelsOf } from '../core/kube/objects.ts';
import type { Selection } from '../core/restore/selection.ts';
import { anchorName, anchorOwner, buildAnchor } from '../core/restore/anchors.ts';
import { hasRecord, jobRecordPatch, olderThanRecord, outcomeEvent, outcomeRecord, recentRecord, redactTail } from './record-format.ts';
import { restoreContainerNames } from '../core/restore/judge.ts';
import { podEnded } from '../completion/index.ts';
import { RETRY_VERDICTS, parseOutcome } from '../core/restore/records.ts';

export const NAME = 'labeling';
const FINAL = new Set(['succeeded', 'failed']);

export interface LabelingResult {
  anchor: 'created' | 'exists' | 'not-needed' | 'skipped';
  recorded: string[];
  stopped: boolean;
}

function asPod(o: KubeObject | null): Pod | null {
  if (!o) return null;
  const r = PodSchema.safeParse(o);
  return r.success ? r.data : null;
}

/** The group's owner for anchors: KubeBlocks' Restore (read by the caller), else the Job's own controller. */
function groupOwner(restore: KubeObject | null, job: KubeObject | null): KubeObject | null {
  if (restore) return restore;
  const ctrl = job?.metadata.ownerReferences?.find((r) => r.controller);
  return ctrl ? { apiVersion: ctrl.apiVersion, kind: ctrl.kind, metadata: { name: ctrl.name, uid: ctrl.uid } } : null;
}

/** What ensureAnchor reads besides the pod: the anchor by its name, the Job, KubeBlocks' Restore. */
export interface AnchorReads {
  existing: KubeObject | null;
  job: KubeObject | null;
  restore: KubeObject | null;
}

const getJob = (cluster: Cluster, namespace: string, job: string | null) => (job ? cluster.get('Job', namespace, job) : Promise.resolve(null));

/**
 * The reads ensureAnchor needs, all at once. Every name is known from the event, so the caller
 * starts them together with its read of the pod (and shares its read of the Job): placement →
 * anchor is on the hot path.
 */
export function anchorReads(cluster: Cluster, namespace: string, profile: 'kubeblocks' | 'generic', group: string, pod: string, job: Promise<KubeObject | null>): Promise<AnchorReads> {
  return Promise.all([
    cluster.get('Pod', namespace, anchorName(pod)),
    job,
    profile === 'kubeblocks' ? cluster.get('Restore', namespace, group) : Promise.resolve(null),
  ]).then(([existing, j, restore]) => ({ existing, job: j, restore }));
}

/**
 * Makes sure a placed (or just finished) restore pod has its anchor. Level-triggered: reads the
 * anchor by its deterministic name; creating it twice is AlreadyExists, which is success.
 * `reads` may be started by the caller beside its own reads (see anchorReads).
 */
export async function ensureAnchor(
  deps: Deps,
  cluster: Cluster,
  pod: Pod,
  sel: Selection,
  jobName: string | null,
  reads?: Promise<AnchorReads>,
): Promise<LabelingResult['anchor']> {
  const k = keys(deps.config.RG_DOMAIN);
  if (FINAL.has(labelsOf(pod)[k.state] ?? '')) return 'skipped'; // recorded before: the anchor was handled then
  if (!pod.spec.nodeName) return 'skipped';
  if (!buildAnchor(pod, sel, deps.config, [])) return 'not-needed';
  const name = anchorName(pod.metadata.name);
  const { existing, job, restore } = await (reads ?? anchorReads(cluster, sel.namespace, sel.profile, sel.group, pod.metadata.name, getJob(cluster, sel.namespace, jobName)));
  if (existing) return 'exists';
  const anchor = buildAnchor(pod, sel, deps.config, anchorOwner(groupOwner(restore, job), job))!;
  const r = await cluster.create('Pod', sel.namespace, anchor);
  if (r.created) {
    deps.metrics.anchors.add({}, 1);
    deps.log.info('anchor created', { namespace: sel.namespace, group: sel.group, pod: pod.metadata.name, anchor: name, node: pod.spec.nodeName });
  }
  return r.created ? 'created' : 'exists';
}

/**
 * Deletes the anchor that stands for this pod (by its uid, so never the anchor of a successor pod
 * with the same name), with the anchor's uid as precondition. Returns its name when deleted.
 */
export async function deleteAnchorFor(cluster: Cluster, k: ReturnType<typeof keys>, namespace: string, pod: string, uid: string | null): Promise<string | null> {
  const anchor = await cluster.get('Pod', namespace, anchorName(pod));
  if (!anchor || !uid || anchor.metadata.annotations?.[k.anchorUid] !== uid) return null;
  return (await cluster.delete('Pod', namespace, anchor.metadata.name, { uid: anchor.metadata.uid ?? '' })) ? anchor.metadata.name : null;
}

async function logTail(deps: Deps, cluster: Cluster, pod: Pod, sel: Selection): Promise<string | null> {
  if (deps.config.RG_LOG_TAIL_LINES <= 0) return null;
  const container = restoreContainerNames(pod, sel)[0];
  if (!container) return null;
  try {
    const text = await cluster.logs(sel.namespace, pod.metadata.name, container, {
      tailLines: deps.config.RG_LOG_TAIL_LINES,
      limitBytes: deps.config.RG_LOG_TAIL_BYTES * 2,
    });
    return text ? redactTail(text, deps.config.RG_LOG_TAIL_BYTES) : null;
  } catch (e) {
    deps.log.warn('log tail not read', { pod: pod.metadata.name, error: (e as Error).message });
    return null;
  }
}

/**
 * Is this live Job the one the outcome is about? Job scope: its uid. Pod scope: the live pod's
 * owner; with the pod gone, a Job created after the pod started is a successor under the same name.
 */
function sameJob(job: KubeObject, d: RestoreData, livePod: Pod | null): boolean {
  if (d.scope === 'job') return job.metadata.uid === d.uid;
  if (livePod) return !!livePod.metadata.ownerReferences?.some((r) => r.kind === 'Job' && r.uid === job.metadata.uid);
  const created = Date.parse(job.metadata.creationTimestamp ?? '');
  const started = Date.parse(d.startedAt ?? d.finishedAt ?? '');
  return !(Number.isFinite(created) && Number.isFinite(started) && created > started);
}

/** How long after a record its Kubernetes Event is still (re)created when missing. */
const EVENT_WINDOW_MS = 10 * 60_000;

/**
 * Records on the Job: read, patch with the resourceVersion as precondition, and on a conflict
 * (another record or retry's verdict landed first) read again and recompute, so no history entry
 * is lost and no verdict overwritten. True when it wrote.
 */
async function recordOnJob(cluster: Cluster, first: KubeObject, d: RestoreData, k: ReturnType<typeof keys>, text: string): Promise<boolean> {
  let job: KubeObject | null = first;
  for (let i = 0; job && i < 5; i++) {
    const patch = jobRecordPatch(job, d, k, text, RETRY_VERDICTS);
    if (!patch) return false;
    const rv = job.metadata.resourceVersion;
    try {
      await cluster.patch('Job', d.namespace, job.metadata.name, { metadata: { ...patch, ...(rv ? { resourceVersion: rv } : {}) } });
      return true;
    } catch (e) {
      if (!isConflict(e)) throw e;
      job = await cluster.get('Job', d.namespace, job.metadata.name);
      if (job && job.metadata.uid !== first.metadata.uid) return false; // made again meanwhile: not ours to record on
    }
  }
  if (!job) return false;
  throw new TransientClusterError(`record on job ${d.namespace}/${first.metadata.name}: still conflicting after 5 attempts`, {
    hint: 'transient; the event will be redelivered',
  });
}

/**
 * Writes an outcome where it outlives the pod: state label and outcome on the Pod and the Job,
 * the Job's history, the outcome on every PVC, a Kubernetes Event. Each write is skipped when the
 * live object already says the same, and converges when repeated.
 */
export async function record(deps: Deps, cluster: Cluster, d: RestoreData): Promise<LabelingResult> {
  const k = keys(deps.config.RG_DOMAIN);
  const now = deps.clock();
  const result: LabelingResult = { anchor: 'skipped', recorded: [], stopped: false };
  const sel: Selection = deps.selector.selectLabels(d.namespace, {
    [d.profile === 'kubeblocks' ? KB.restore : k.group]: d.group,
  })!;

  // Independent reads at once: the pod, its Job, and (a success) what the anchor needs.
  const jobRead = getJob(cluster, d.namespace, d.job);
  const reads = d.scope === 'pod' && d.pod && d.state === 'succeeded' ? anchorReads(cluster, d.namespace, d.profile, d.group, d.pod, jobRead) : undefined;
  reads?.catch(() => {}); // awaited below when needed; never an unhandled rejection
  const [podObj, named] = await Promise.all([d.scope === 'pod' && d.pod ? cluster.get('Pod', d.namespace, d.pod) : Promise.resolve(null), jobRead]);
  const pod = asPod(podObj);
  const livePod = pod && pod.metadata.uid === d.uid ? pod : null;
  // The Job by identity, not by name: a Job deleted and made again under its name is another Job.
  const job = named && sameJob(named, d, livePod) ? named : null;
  const liveSel = livePod ? deps.selector.selectPod(livePod) : sel;
  if (!liveSel) {
    throw new RefusedWriteError(`refused to record on pod ${d.namespace}/${d.pod}: not a selected restore pod`, {
      hint: 'the event names a pod without restore labels; check what sends events to /labeling',
    });
  }
  // The event's group must be the live objects' group: an event never writes onto another group.
  const parsedJob = job ? JobSchema.safeParse(job) : null;
  const jobSel = parsedJob?.success ? deps.selector.selectJob(parsedJob.data) : null;
  if (job && !jobSel) {
    throw new RefusedWriteError(`refused to record on job ${d.namespace}/${d.job}: not a selected restore Job`, {
      hint: 'the event names a Job without restore labels on it or its pod template; check what sends events to /labeling',
    });
  }
  for (const [what, s] of [[`pod ${d.pod}`, livePod ? liveSel : null], [`job ${d.job}`, jobSel]] as const) {
    if (s && (s.group !== d.group || s.profile !== d.profile)) {
      throw new RefusedWriteError(`refused to record on ${what} in ${d.namespace}: it belongs to ${s.profile} group ${s.group}, the event says ${d.profile} group ${d.group}`, {
        hint: 'the event does not match the live object; check what sends events to /labeling',
      });
    }
  }

  // Anchor first, so a finished pod is never invisible while its siblings still schedule; then the
  // early stop (KubeBlocks) together with the records, so the pod frees its requests at once. Release
  // waits for the records on the live objects whatever the order.
  if (livePod && d.state === 'succeeded') {
    result.anchor = await ensureAnchor(deps, cluster, livePod, liveSel, d.job, liveSel.group === d.group && liveSel.profile === d.profile ? reads : undefined);
  }
  // The stop goes out now and the records beside it (separate keys, no ordering between them).
  const stopping = livePod && d.scope === 'pod' ? earlyStop(deps, cluster, livePod, liveSel) : Promise.resolve(false);
  stopping.catch(() => {}); // awaited with the records below; never an unhandled rejection

  const podRecorded = !!livePod && hasRecord(livePod, k, d) && labelsOf(livePod)[k.state] === d.state;
  // The log tail is read once, for the first record of a failure (not on every resync).
  const text = outcomeRecord(d, now, livePod && !podRecorded && d.state === 'failed' ? await logTail(deps, cluster, livePod, liveSel) : null);
  // The records are independent writes: made at once (release checks every one on the live objects).
  const wrote = (what: string) => result.recorded.push(what);
  const writes: Promise<unknown>[] = [];
  if (livePod && !podRecorded) {
    const name = livePod.metadata.name;
    writes.push(cluster.patch('Pod', d.namespace, name, { metadata: { labels: { [k.state]: d.state }, annotations: { [k.outcome]: text } } }).then(() => wrote(`Pod/${name}`)));
  }
  if (job) writes.push(recordOnJob(cluster, job, d, k, text).then((w) => w && wrote(`Job/${job.metadata.name}`)));
  const spec = livePod?.spec ?? (job as Job | null)?.spec?.template?.spec;
  for (const claim of new Set([...(d.claims ?? []), ...(spec ? claimsOf(spec) : [])])) {
    writes.push(
      (async () => {
        const pvc = await cluster.get('PersistentVolumeClaim', d.namespace, claim);
        if (!pvc || hasRecord(pvc, k, d) || olderThanRecord(pvc, k, d)) return;
        // A Job's own verdict adds nothing to a PVC that already has its pod's (richer) record of the same state.
        const onPvc = parseOutcome(pvc.metadata.annotations?.[k.outcome]);
        if (d.scope === 'job' && onPvc?.scope === 'pod' && onPvc.state === d.state) return;
        await cluster.patch('PersistentVolumeClaim', d.namespace, claim, { metadata: { annotations: { [k.outcome]: text } } });
        wrote(`PersistentVolumeClaim/${claim}`);
      })(),
    );
  }
  writes.push(stopping.then((stopped) => (result.stopped = stopped)));
  // Every write is attempted; the first failure (if any) is the answer, and a redelivery converges.
  const failures = (await Promise.allSettled(writes)).filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length) throw failures[0]!.reason;
  // The Event tells of a new record: not of one a resync finds again an hour later (Events expire).
  // Best effort: the records are what release waits for, so a failed Event (e.g. its Job deleted by
  // its TTL meanwhile, which the guard refuses) is logged, never the answer.
  const about = job ?? livePod;
  if (about && (result.recorded.length || (hasRecord(about, k, d) && recentRecord(about, k, now, EVENT_WINDOW_MS)))) {
    try {
      const ev = await cluster.create('Event', d.namespace, outcomeEvent(about, d, now));
      if (ev.created) wrote(`Event/${ev.object.metadata.name}`);
    } catch (e) {
      deps.log.warn('event not created', { namespace: d.namespace, about: `${about.kind}/${about.metadata.name}`, error: (e as Error).message });
    }
  }

  if (result.recorded.length) deps.log.info('outcome recorded', { namespace: d.namespace, group: d.group, pod: d.pod, job: d.job, state: d.state, reason: d.reason, wrote: result.recorded });
  return result;
}

/**
 * Sets KubeBlocks' stop annotation on a pod whose restore container has terminated: at once on a
 * failure (so the Job's own retry can start), after the anchor exists on success.
 */
export async function earlyStop(deps: Deps, cluster: Cluster, pod: Pod, sel: Selection): Promise<boolean> {
  if (sel.profile !== 'kubeblocks') return false;
  if (annotationsOf(pod)[KB.stop] === 'true') return false;
  if (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') return false;
  if (!pod.spec.containers.some((c) => sel.helpers.includes(c.name))) return false;
  await cluster.patch('Pod', sel.namespace, pod.metadata.name, { metadata: { annotations: { [KB.stop]: 'true' } } });
  deps.log.info('early stop signalled', { namespace: sel.namespace, pod: pod.metadata.name });
  return true;
}

export function recordedEvent(d: RestoreData, now: Date): ReturnType<typeof replyEvent> {
  const subject = `${d.namespace}/${d.scope === 'job' ? d.job : d.pod}`;
  return replyEvent(NAME, T.recorded, subject, [d.uid, 'recorded', d.scope, d.state, d.reason, ...(d.scope === 'pod' ? [podEnded(d)] : [])], d, now);
}

/** labeling: make the state durable and visible to the scheduler. */
export const labeling: FunctionDef = {
  name: NAME,
  types: [T.placed, T.succeeded, T.failed],
  async handle(event, deps) {
    const d = dataOf(RestoreDataSchema, event);
    // A running pod repeats its outcome with every status update. An exact repeat (same outcome,
    // same pod phase) was recorded and answered already: say nothing, so release is not run again.
    // A new phase (the sidecar let the pod finish) is news for release: record (idempotent) and answer.
    return deps.memory.once(`${NAME}:${event.id}:${d.phase ?? ''}`, async () => {
      const cluster = await deps.cluster();
      if (d.state === 'placed') {
        if (!d.pod) return null;
        // The pod and what its anchor needs are read at once (one round trip, not two).
        const reads = anchorReads(cluster, d.namespace, d.profile, d.group, d.pod, getJob(cluster, d.namespace, d.job));
        reads.catch(() => {}); // awaited below when needed; never an unhandled rejection
        const pod = asPod(await cluster.get('Pod', d.namespace, d.pod));
        const sel = pod && pod.metadata.uid === d.uid ? deps.selector.selectPod(pod) : null;
        if (pod && sel) await ensureAnchor(deps, cluster, pod, sel, d.job, sel.group === d.group && sel.profile === d.profile ? reads : undefined);
        return null;
      }
      await record(deps, cluster, d);
      return recordedEvent(d, deps.clock());
    }, null);
  },
};
