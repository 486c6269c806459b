import type { Deps } from '../core/deps.ts';
import { RefusedWriteError, TransientClusterError, isConflict } from '../core/errors.ts';
import type { Cluster } from '../core/kube/cluster.ts';
import type { Job, KubeObject, Pod } from '../core/kube/objects.ts';
import { annotationsOf, readJob, readPod } from '../core/kube/objects.ts';
import type { AnchorResult } from '../core/restore/anchors.ts';
import { anchorReads, ensureAnchor, getJob } from '../core/restore/anchors.ts';
import type { RestoreData } from '../core/restore/events.ts';
import { KB, keys } from '../core/restore/keys.ts';
import type { Keys } from '../core/restore/keys.ts';
import { templateGated } from '../core/restore/gate.ts';
import { restoreClaimsOfRestore, stopAnnotations } from '../core/restore/kubeblocks.ts';
import {
  RETRY_VERDICTS,
  hasRecord,
  historyState,
  parseOutcome,
  readHistory,
  recordedOn,
} from '../core/restore/records.ts';
import { tell } from '../core/restore/kube-events.ts';
import { judgeObject } from '../core/restore/judge.ts';
import { liveFailures } from '../core/restore/job-pods.ts';
import type { Selection } from '../core/restore/selection.ts';
import { restoreClaims, restoreContainerNames } from '../core/restore/selection.ts';
import {
  jobRecordPatch,
  olderThanRecord,
  outcomeEventSpec,
  outcomeRecord,
  recentRecord,
  redactTail,
} from './record-format.ts';

export interface LabelingResult {
  anchor: AnchorResult;
  /** The Job's pod template carries the placement gate: its group moves on one pod at a time. */
  gated: boolean;
  recorded: string[];
  stopped: boolean;
  /** The outcome recorded: the live object's judgement (or the event's, where the object is gone); null when there is none. */
  data: RestoreData | null;
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

/**
 * What to record: the live Pod's (or Job's) judgement, made as completion makes it (judgeObject);
 * null when the live object has no outcome (still running: a stale or forged event). Where the
 * object is gone, the event is the only witness (completion judged the object's last state), unless
 * the Job's history already recorded this pod otherwise, from the live pod: then that record stands.
 */
function liveOutcome(
  deps: Deps,
  k: Keys,
  told: RestoreData,
  livePod: Pod | null,
  liveJob: Job | null,
  now: Date,
): RestoreData | null {
  const live = told.scope === 'pod' ? livePod : liveJob;
  if (live) {
    const judged = judgeObject(live, deps, false, now);
    if (!judged || judged.state === 'placed' || judged.scope !== told.scope) {
      deps.log.warn('not recorded: the live object has no outcome; the event is stale or forged', {
        namespace: told.namespace,
        [told.scope]: told.scope === 'pod' ? told.pod : told.job,
        told: told.state,
      });
      return null;
    }
    if (judged.state !== told.state || judged.reason !== told.reason)
      deps.log.warn('the event disagrees with the live object: the live judgement is recorded', {
        namespace: told.namespace,
        [told.scope]: told.scope === 'pod' ? told.pod : told.job,
        told: `${told.state}${told.reason ? ` (${told.reason})` : ''}`,
        live: `${judged.state}${judged.reason ? ` (${judged.reason})` : ''}`,
      });
    return judged;
  }
  if (told.scope === 'pod' && liveJob && told.uid) {
    const recorded = historyState(annotationsOf(liveJob)[k.history], told.uid);
    if (recorded && recorded !== told.state) {
      deps.log.warn('not recorded: the Job already records this pod otherwise', {
        namespace: told.namespace,
        pod: told.pod,
        told: told.state,
        recorded,
      });
      return null;
    }
  }
  return told;
}

/**
 * A Job's failure judged from the Job alone says retryable unless its history names a pod failure
 * (BackoffLimitExceeded is worth another attempt). The Job controller marks the Job Failed as its
 * pod fails, so the Job's event may come before the pod's record: then the Job's pods still in the
 * cluster decide, as completion would judge them (an exit code 127 is not retryable, whatever the
 * Job's reason). One list, only on that path.
 */
async function withLivePodFailure(
  deps: Deps,
  cluster: Cluster,
  k: Keys,
  job: KubeObject,
  d: RestoreData,
): Promise<RestoreData> {
  if (d.scope !== 'job' || d.state !== 'failed') return d;
  if (readHistory(annotationsOf(job)[k.history]).some((e) => e.scope === 'pod' && e.state === 'failed')) return d;
  const last = (await liveFailures(deps, cluster, job)).at(-1);
  if (!last) return d;
  return {
    ...d,
    retryable: d.retryable && last.retryable,
    exitCode: d.exitCode ?? last.exitCode,
    pod: d.pod ?? last.pod,
    node: d.node ?? last.node,
  };
}

/** How long after a record its Kubernetes Event is still (re)created when missing. */
const EVENT_WINDOW_MS = 10 * 60_000;

/**
 * Records on the Job: read, patch on the precondition that what the patch was computed from (the
 * history, the outcome, the state and group labels) is unchanged, and on a conflict (another record
 * or retry's verdict landed first) read again and recompute, so no history entry is lost and no
 * verdict overwritten. Not the resourceVersion: the Job controller writes the Job's status two or
 * three times as its pod ends, just when the pod's record comes, and each would be a conflict.
 * True when it wrote.
 */
async function recordOnJob(
  cluster: Cluster,
  first: KubeObject,
  d: RestoreData,
  k: Keys,
  text: string,
): Promise<boolean> {
  let job: KubeObject | null = first;
  for (let i = 0; job && i < 5; i++) {
    const patch = jobRecordPatch(job, d, k, text, RETRY_VERDICTS);
    if (!patch) return false;
    try {
      await cluster.patch(
        'Job',
        d.namespace,
        job.metadata.name,
        { metadata: patch },
        {
          witness: [job],
          // What the record was computed from, and the labels that make the Job a restore Job (its
          // template, the other place selection looks, is immutable): the write guard's check of
          // this read stands, as under a resourceVersion precondition.
          unchanged: { of: job, labels: [k.state, k.group, KB.restore], annotations: [k.outcome, k.history] },
        },
      );
      return true;
    } catch (e) {
      if (!isConflict(e)) throw e;
      job = await cluster.get('Job', d.namespace, job.metadata.name);
      if (job && job.metadata.uid !== first.metadata.uid) return false; // made again meanwhile: not ours to record on
    }
  }
  if (!job) return false;
  throw new TransientClusterError(
    `record on job ${d.namespace}/${first.metadata.name}: still conflicting after 5 attempts`,
    {
      hint: 'transient; the event will be redelivered',
    },
  );
}

/**
 * Writes an outcome where it outlives the pod: state label and outcome on the Pod and the Job,
 * the Job's history, the outcome on every PVC, a Kubernetes Event. Each write is skipped when the
 * live object already says the same, and converges when repeated.
 */
export async function record(deps: Deps, cluster: Cluster, told: RestoreData): Promise<LabelingResult> {
  const k = keys(deps.config.RG_DOMAIN);
  const now = deps.clock();
  const result: LabelingResult = { anchor: 'skipped', recorded: [], stopped: false, gated: false, data: null };
  let d = told;
  const sel: Selection = deps.selector.selectLabels(d.namespace, {
    [d.profile === 'kubeblocks' ? KB.restore : k.group]: d.group,
  })!;

  // Independent reads at once: the pod, its Job, and (a success) what the anchor needs.
  const jobRead = getJob(cluster, d.namespace, d.job);
  const reads =
    d.scope === 'pod' && d.pod && d.state === 'succeeded'
      ? anchorReads(cluster, k, d.namespace, d.profile, d.group, d.pod, jobRead)
      : undefined;
  reads?.catch(() => {}); // awaited below when needed; never an unhandled rejection
  const [podObj, named] = await Promise.all([
    d.scope === 'pod' && d.pod ? cluster.get('Pod', d.namespace, d.pod) : Promise.resolve(null),
    jobRead,
  ]);
  const pod = readPod(podObj);
  const livePod = pod && pod.metadata.uid === d.uid ? pod : null;
  // The Job by identity, not by name: a Job deleted and made again under its name is another Job.
  const job = named && sameJob(named, d, livePod) ? named : null;
  result.gated = templateGated(job ?? named, deps.config.RG_DOMAIN);
  const liveSel = livePod ? deps.selector.selectPod(livePod) : sel;
  if (!liveSel) {
    throw new RefusedWriteError(`refused to record on pod ${d.namespace}/${d.pod}: not a selected restore pod`, {
      hint: 'the event names a pod without restore labels; check what sends events to /labeling',
    });
  }
  // The event's group must be the live objects' group: an event never writes onto another group.
  const parsedJob = readJob(job);
  const jobSel = parsedJob ? deps.selector.selectJob(parsedJob) : null;
  if (job && !jobSel) {
    throw new RefusedWriteError(`refused to record on job ${d.namespace}/${d.job}: not a selected restore Job`, {
      hint: 'the event names a Job without restore labels on it or its pod template; check what sends events to /labeling',
    });
  }
  for (const [what, s] of [
    [`pod ${d.pod}`, livePod ? liveSel : null],
    [`job ${d.job}`, jobSel],
  ] as const) {
    if (s && (s.group !== d.group || s.profile !== d.profile)) {
      throw new RefusedWriteError(
        `refused to record on ${what} in ${d.namespace}: it belongs to ${s.profile} group ${s.group}, the event says ${d.profile} group ${d.group}`,
        {
          hint: 'the event does not match the live object; check what sends events to /labeling',
        },
      );
    }
  }

  // The live object decides what is recorded (README, Security): the event only says where to look.
  const decided = liveOutcome(deps, k, told, livePod, parsedJob && job ? parsedJob : null, now);
  if (!decided) return result;
  d = job ? await withLivePodFailure(deps, cluster, k, job, decided) : decided;
  result.data = d;

  // Anchor first, so a finished pod is never invisible while its siblings still schedule; then the
  // records, and the early stop (KubeBlocks) with the pod's.
  if (livePod && d.state === 'succeeded') {
    result.anchor = await ensureAnchor(
      deps,
      cluster,
      livePod,
      liveSel,
      d.job,
      liveSel.group === d.group && liveSel.profile === d.profile ? reads : undefined,
    );
  }
  const podRecorded = !!livePod && recordedOn(livePod, k, d);
  // The log tail is read once, for the first record of a failure (not on every resync).
  const text = outcomeRecord(
    d,
    now,
    livePod && !podRecorded && d.state === 'failed' ? await logTail(deps, cluster, livePod, liveSel) : null,
  );
  // The Job's and the PVCs' records are independent writes, made at once; the pod's comes last, so
  // a record on the pod says the others are there (release and completion rely on it: README, "What
  // one restore pod costs").
  const wrote = (what: string) => result.recorded.push(what);
  const writes: Promise<unknown>[] = [];
  // What this call read from the API server: the write guard checks its writes against these.
  const witness = [livePod, job].filter((o): o is KubeObject => !!o);
  if (job) writes.push(recordOnJob(cluster, job, d, k, text).then((w) => w && wrote(`Job/${job.metadata.name}`)));
  // Only the PVCs the live pod (or, with the pod gone, the live Job's template) mounts: never the
  // event's list, which could name any PVC (README, Security). The write guard checks it again.
  const spec = livePod?.spec ?? parsedJob?.spec.template.spec;
  // Pod and Job both gone (KubeBlocks deletes its Jobs the moment the Restore is Completed): the live
  // Restore still names its PVCs, and the event's claims are written only where it does.
  const fromRestore =
    !spec && d.profile === 'kubeblocks'
      ? restoreClaimsOfRestore(await cluster.get('Restore', d.namespace, d.group)).filter((c) => d.claims?.includes(c))
      : [];
  for (const claim of new Set(spec ? restoreClaims(spec, d.profile) : fromRestore)) {
    writes.push(
      (async () => {
        // Read, decide, patch with the resourceVersion as precondition; on a conflict (the pod's and
        // its Job's records arrive at once) read again and decide again, so a Job's verdict never
        // overwrites the pod's richer record that landed in between.
        for (let attempt = 0; attempt < 5; attempt++) {
          const pvc = await cluster.get('PersistentVolumeClaim', d.namespace, claim);
          if (!pvc || hasRecord(pvc, k, d) || olderThanRecord(pvc, k, d)) return;
          // A Job's own verdict adds nothing to a PVC that already has its pod's (richer) record of the same state.
          const onPvc = parseOutcome(pvc.metadata.annotations?.[k.outcome]);
          if (d.scope === 'job' && onPvc?.scope === 'pod' && onPvc.state === d.state) return;
          const rv = pvc.metadata.resourceVersion;
          try {
            await cluster.patch(
              'PersistentVolumeClaim',
              d.namespace,
              claim,
              { metadata: { annotations: { [k.outcome]: text }, ...(rv ? { resourceVersion: rv } : {}) } },
              { witness },
            );
            wrote(`PersistentVolumeClaim/${claim}`);
            return;
          } catch (e) {
            if (!isConflict(e)) throw e;
          }
        }
        throw new TransientClusterError(`record on PVC ${d.namespace}/${claim}: still conflicting after 5 attempts`, {
          hint: 'transient; the event will be redelivered',
        });
      })(),
    );
  }
  // Every write is attempted; the first failure (if any) is the answer, and a redelivery converges.
  const failures = (await Promise.allSettled(writes)).filter(
    (r): r is PromiseRejectedResult => r.status === 'rejected',
  );
  if (failures.length) throw failures[0]!.reason;
  // The pod's record, and KubeBlocks' stop signal with it (one write).
  const stop = livePod && d.scope === 'pod' ? stopAnnotations(livePod, liveSel) : null;
  if (livePod && (!podRecorded || stop)) {
    const name = livePod.metadata.name;
    await cluster.patch(
      'Pod',
      d.namespace,
      name,
      {
        metadata: podRecorded
          ? { annotations: stop! }
          : { labels: { [k.state]: d.state }, annotations: { [k.outcome]: text, ...stop } },
      },
      { witness },
    );
    if (!podRecorded) wrote(`Pod/${name}`);
    if (stop) {
      result.stopped = true;
      deps.log.info('early stop signalled', { namespace: d.namespace, pod: name });
    }
  }
  // The Event tells of a new record: not of one a resync finds again an hour later (Events expire).
  // Best effort: the records are what release waits for, so a failed Event (e.g. its Job deleted by
  // its TTL meanwhile, which the guard refuses) is logged, never the answer.
  const about = job ?? livePod;
  if (about && (result.recorded.length || (hasRecord(about, k, d) && recentRecord(about, k, now, EVENT_WINDOW_MS)))) {
    const ev = await tell(cluster, deps.log, outcomeEventSpec(about, d, now));
    if (ev) wrote(`Event/${ev}`);
  }

  if (result.recorded.length)
    deps.log.info('outcome recorded', {
      namespace: d.namespace,
      group: d.group,
      pod: d.pod,
      job: d.job,
      state: d.state,
      reason: d.reason,
      wrote: result.recorded,
    });
  return result;
}
