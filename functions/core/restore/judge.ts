import type { Deps } from '../deps.ts';
import type { Reason } from './reasons.ts';
import { keys } from './keys.ts';
import type { ContainerOutcome, RestoreData } from './events.ts';
import type { Condition, ContainerStatus, Job, Pod } from '../kube/objects.ts';
import { annotationsOf, jobNameOf } from '../kube/objects.ts';
import type { RetryPolicy } from './reasons.ts';
import { isRetryable } from './reasons.ts';
import type { Selection } from './selection.ts';
import { restoreClaims, restoreContainerNames } from './selection.ts';
import { parseOutcome, readHistory, recordedOn } from './records.ts';

/**
 * What happened to a restore, as a pure function of the object (and the event's time, for the
 * one judgement that needs a clock: how long an image pull may stay stuck). No API call.
 */
export interface JudgeContext {
  policy: RetryPolicy;
  domain: string;
  imagePullGraceSeconds: number;
  /** The event said the object was deleted. */
  deleted: boolean;
  now: Date;
}

const IMAGE_PULL = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'RegistryUnavailable',
]);
const IMAGE_PULL_FATAL = new Set(['InvalidImageName', 'ErrImageNeverPull']);
const CONFIG = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

function containerOutcome(name: string, s: ContainerStatus | undefined): ContainerOutcome {
  const t = s?.state?.terminated;
  return {
    name,
    exitCode: t ? t.exitCode : null,
    reason: t?.reason ?? s?.state?.waiting?.reason ?? null,
    startedAt: t?.startedAt ?? s?.state?.running?.startedAt ?? null,
    finishedAt: t?.finishedAt ?? null,
  };
}

function attemptOf(annotations: Record<string, string>, domain: string): number {
  const n = Number(annotations[keys(domain).attempt]);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

function minIso(values: (string | null)[]): string | null {
  const v = values.filter((x): x is string => !!x).sort();
  return v[0] ?? null;
}
function maxIso(values: (string | null)[]): string | null {
  const v = values.filter((x): x is string => !!x).sort();
  return v[v.length - 1] ?? null;
}

/** Why a pod ended without its restore containers finishing, from its status. */
export function disruptionReason(pod: Pod, deleted: boolean): Reason | null {
  const said = statusDisruption(pod);
  if (said) return said.reason;
  if (deleted || pod.metadata.deletionTimestamp) return 'Deleted';
  return null;
}

const DISRUPTION_TARGET: Record<string, Reason> = {
  PreemptionByScheduler: 'Preempted',
  PreemptionByKubeScheduler: 'Preempted',
  DeletionByTaintManager: 'NodeLost',
  DeletionByPodGC: 'NodeLost',
  EvictionByEvictionAPI: 'Evicted', // a drain, or anything else through the Eviction API
  TerminationByKubelet: 'Evicted', // node pressure, node shutdown
};

/**
 * The pod's DisruptionTarget condition (set before Kubernetes takes the pod away): its reason in
 * our terms (null for a reason we do not name), when, and its message. Null: no such condition.
 */
export function disruptionTarget(
  pod: Pick<Pod, 'status'>,
): { reason: Reason | null; at: string | null; message: string | null } | null {
  const c = (pod.status.conditions ?? []).find((x) => x.type === 'DisruptionTarget' && x.status === 'True');
  if (!c) return null;
  return {
    reason: DISRUPTION_TARGET[c.reason ?? ''] ?? null,
    at: c.lastTransitionTime ?? null,
    message: c.message ?? null,
  };
}

/**
 * What the pod's status says disrupted it, and since when where it says so (the DisruptionTarget
 * condition's time; a status.reason carries none).
 */
function statusDisruption(pod: Pod): { reason: Reason; since: number | null; message: string | null } | null {
  const target = disruptionTarget(pod);
  const message = pod.status.message ?? target?.message ?? null;
  if (target?.reason) return { reason: target.reason, since: timeOf(target.at), message };
  switch (pod.status.reason) {
    case 'Evicted':
      return { reason: 'Evicted', since: null, message };
    case 'Preempting':
      return { reason: 'Preempted', since: null, message };
    case 'NodeLost':
    case 'NodeShutdown':
    case 'Terminated':
      return { reason: 'NodeLost', since: null, message };
    case 'DeadlineExceeded':
      return { reason: 'DeadlineExceeded', since: null, message };
  }
  return null;
}

function timeOf(iso: string | null | undefined): number | null {
  const t = Date.parse(iso ?? '');
  return Number.isFinite(t) ? t : null;
}

/**
 * When deletion was requested: deletionTimestamp minus its grace period (the API server sets
 * deletionTimestamp = request time + grace). Null when the object does not say.
 */
function deletionRequestedAt(pod: Pod): number | null {
  const at = timeOf(pod.metadata.deletionTimestamp);
  if (at === null) return null;
  const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds;
  return at - (typeof grace === 'number' && grace > 0 ? grace * 1000 : 0);
}

/**
 * Was this terminated container killed by the disruption? A signal exit (137 SIGKILL, 143 SIGTERM)
 * that is not the OOM killer's, at or after the disruption began. A container that had already
 * ended before (a failed pod deleted later, say by release) keeps its own verdict.
 */
function killedBy(c: ContainerOutcome, since: number | null): boolean {
  if (c.exitCode !== 137 && c.exitCode !== 143) return false;
  if (c.reason === 'OOMKilled') return false;
  const finished = timeOf(c.finishedAt);
  return since === null || finished === null || finished >= since;
}

/** Judges a selected Pod. Returns null when there is nothing to say. */
export function judgePod(pod: Pod, sel: Selection, ctx: JudgeContext): RestoreData | null {
  const names = restoreContainerNames(pod, sel);
  const statuses = new Map((pod.status.containerStatuses ?? []).map((s) => [s.name, s]));
  const containers = names.map((n) => containerOutcome(n, statuses.get(n)));
  const node = pod.spec.nodeName ?? null;
  const phase = pod.status.phase;
  const ended = phase === 'Succeeded' || phase === 'Failed';
  const going = ctx.deleted || !!pod.metadata.deletionTimestamp;
  const allTerminated = containers.length > 0 && containers.every((c) => c.exitCode !== null);
  const anyTerminated = containers.some((c) => c.exitCode !== null);

  const base = {
    namespace: sel.namespace,
    group: sel.group,
    profile: sel.profile,
    job: jobNameOf(pod) ?? null,
    pod: pod.metadata.name,
    uid: pod.metadata.uid ?? null,
    node,
    scope: 'pod' as const,
    containers,
    attempt: attemptOf(annotationsOf(pod), ctx.domain),
    startedAt: minIso(containers.map((c) => c.startedAt)) ?? pod.status.startTime ?? null,
    finishedAt: maxIso(containers.map((c) => c.finishedAt)),
    claims: restoreClaims(pod.spec, sel.profile),
    phase: phase ?? null,
  };
  const failed = (reason: Reason, exitCode: number | null, message: string | null): RestoreData => ({
    ...base,
    state: 'failed',
    reason,
    exitCode,
    retryable: isRetryable(ctx.policy, reason, exitCode),
    message,
  });

  // 1. Every restore container terminated: the restore's own verdict, whatever the pod's phase
  //    (a helper sidecar may keep the pod Running). A kill during deletion is not the restore's fault.
  if (allTerminated) {
    const bad = containers.filter((c) => c.exitCode !== 0);
    if (bad.length === 0)
      return { ...base, state: 'succeeded', reason: null, exitCode: 0, retryable: false, message: null };
    if (going || ended) {
      const said = statusDisruption(pod);
      const disrupted =
        said ?? (going ? { reason: 'Deleted' as const, since: deletionRequestedAt(pod), message: DELETED } : null);
      if (disrupted && bad.every((c) => killedBy(c, disrupted.since))) {
        return failed(disrupted.reason, bad[0]!.exitCode, disrupted.message);
      }
    }
    const oom = bad.find((c) => c.reason === 'OOMKilled');
    const first = oom ?? bad[0]!;
    const status = statuses.get(first.name)?.state?.terminated;
    const why = first.reason && first.reason !== 'Error' ? ` (${first.reason})` : '';
    return failed(
      oom ? 'OOMKilled' : 'Error',
      first.exitCode,
      status?.message ?? `container ${first.name} exited ${first.exitCode}${why}`,
    );
  }

  // 2. The pod ended (or is going) without its restore containers finishing.
  if (ended || going) {
    const sidecars = nativeSidecars(pod);
    const init = (pod.status.initContainerStatuses ?? []).find(
      (s) => (s.state?.terminated?.exitCode ?? 0) !== 0 && !sidecars.has(s.name),
    );
    if (init && phase === 'Failed') {
      const t = init.state!.terminated!;
      return failed(
        'InitFailed',
        t.exitCode,
        `init container ${init.name} exited ${t.exitCode}${t.message ? `: ${t.message}` : ''}`,
      );
    }
    const said = statusDisruption(pod);
    if (said) return failed(said.reason, firstExit(containers), said.message);
    // A pod that was stuck (past the grace period) and is then deleted stays stuck: the same
    // verdict as before the deletion. A pod that failed while stuck was stuck for good.
    const stuck = waitingFailure(pod, names, phase === 'Failed' ? null : ctx);
    if (stuck) return failed(stuck.reason, null, stuck.message);
    if (going) return failed('Deleted', firstExit(containers), pod.status.message ?? DELETED);
    if (phase === 'Failed')
      return failed('Unknown', firstExit(containers), pod.status.message ?? pod.status.reason ?? null);
    // Succeeded without terminated statuses (should not happen): say nothing rather than guess.
    return null;
  }

  // 3. Stuck before it could start: an image that cannot be pulled, a missing config.
  const stuck = waitingFailure(pod, names, ctx);
  if (stuck) return failed(stuck.reason, null, stuck.message);

  // 4. Bound to a node and nothing finished yet: placed.
  if (node && !anyTerminated && phase !== 'Unknown') {
    return { ...base, state: 'placed', reason: null, exitCode: null, retryable: false, message: null };
  }
  // 5. Held by our placement gate (opt-in): waiting for restore-guard to let it be scheduled.
  if (!node && hasPlacementGate(pod, ctx.domain)) {
    return { ...base, state: 'gated', reason: null, exitCode: null, retryable: false, message: null };
  }
  // 6. Waiting for a node: its member's earlier anchors must hand the node over (a next backup set).
  if (!node && !anyTerminated && (phase ?? 'Pending') === 'Pending') {
    return { ...base, state: 'pending', reason: null, exitCode: null, retryable: false, message: null };
  }
  return null;
}

const DELETED = 'the pod was deleted before its restore containers finished';

function firstExit(containers: ContainerOutcome[]): number | null {
  return containers.find((c) => c.exitCode !== null && c.exitCode !== 0)?.exitCode ?? null;
}

/** Names of the native sidecars (init containers with restartPolicy Always). */
function nativeSidecars(pod: Pod): Set<string> {
  return new Set((pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
}

/**
 * Waiting reasons that mean the restore cannot start. Fatal ones count at once; the others
 * (ErrImagePull, CreateContainerConfigError, ...) only after the grace period since the pod
 * started, because a registry hiccup or a Secret created a moment later heals them. With ctx null
 * (the pod already ended) any of them explains the end.
 */
function waitingFailure(
  pod: Pod,
  names: string[],
  ctx: JudgeContext | null,
): { reason: Reason; message: string } | null {
  // Every init container counts, and the restore containers among the regular ones (a Set: linear).
  const restore = new Set(names);
  const all = [
    ...(pod.status.initContainerStatuses ?? []),
    ...(pod.status.containerStatuses ?? []).filter((s) => restore.has(s.name)),
  ];
  for (const s of all) {
    const w = s.state?.waiting?.reason;
    if (!w) continue;
    const reason: Reason | null = IMAGE_PULL.has(w) ? 'ImagePullFailed' : CONFIG.has(w) ? 'ConfigError' : null;
    if (!reason) continue;
    const message = `${s.name}: ${w}${s.state?.waiting?.message ? `: ${s.state.waiting.message}` : ''}`;
    if (!ctx || IMAGE_PULL_FATAL.has(w)) return { reason, message };
    const since = Date.parse(pod.status.startTime ?? pod.metadata.creationTimestamp ?? '');
    if (Number.isFinite(since) && ctx.now.getTime() - since >= ctx.imagePullGraceSeconds * 1000)
      return { reason, message };
  }
  return null;
}

const JOB_FAILED_REASONS: Record<string, Reason> = {
  BackoffLimitExceeded: 'BackoffLimitExceeded',
  DeadlineExceeded: 'DeadlineExceeded',
  PodFailurePolicy: 'PodFailurePolicy',
  MaxFailedIndexesExceeded: 'BackoffLimitExceeded',
  FailedIndexes: 'BackoffLimitExceeded',
};

function trueCondition(job: Job, ...types: string[]): Condition | undefined {
  return (job.status.conditions ?? []).find((c) => types.includes(c.type) && c.status === 'True');
}

/** Judges a selected Job by its conditions. */
export function judgeJob(job: Job, sel: Selection, ctx: JudgeContext): RestoreData | null {
  const ann = annotationsOf(job);
  const prior = parseOutcome(ann[keys(ctx.domain).outcome]);
  const base = {
    namespace: sel.namespace,
    group: sel.group,
    profile: sel.profile,
    job: job.metadata.name,
    pod: prior?.pod ?? null,
    uid: job.metadata.uid ?? null,
    node: prior?.node ?? null,
    scope: 'job' as const,
    containers: prior?.containers ?? [],
    attempt: attemptOf(ann, ctx.domain),
    startedAt: job.status.startTime ?? null,
    finishedAt: job.status.completionTime ?? null,
    claims: restoreClaims(job.spec.template.spec, sel.profile),
  };
  const done = trueCondition(job, 'Complete', 'SuccessCriteriaMet');
  if (done) {
    const finishedAt = base.finishedAt ?? done.lastTransitionTime ?? null;
    return {
      ...base,
      state: 'succeeded',
      reason: null,
      retryable: false,
      exitCode: 0,
      message: done.message ?? null,
      finishedAt,
    };
  }
  const fail = trueCondition(job, 'Failed', 'FailureTarget');
  if (fail) {
    const reason: Reason = JOB_FAILED_REASONS[fail.reason ?? ''] ?? 'Unknown';
    // A Job that gave up is worth another attempt when its last pod failed in a retryable way.
    // Once the Job's own verdict is recorded, every later update of the Job carries it as `prior`:
    // keep that verdict (it was made from the pod's record); judged again as if it were the pod's,
    // BackoffLimitExceeded would turn a non-retryable exit code retryable.
    // The Job's history names its pods' failures whatever record the Job carries last: the
    // newest one decides when there is one.
    const lastPod = readHistory(ann[keys(ctx.domain).history]).findLast(
      (e) => e.scope === 'pod' && e.state === 'failed',
    );
    const podRetryable =
      typeof lastPod?.retryable === 'boolean'
        ? lastPod.retryable
        : prior?.scope === 'job' && prior.state === 'failed'
          ? prior.retryable
          : prior && prior.state === 'failed' && prior.reason
            ? isRetryable(ctx.policy, prior.reason, prior.exitCode)
            : lastPod?.reason
              ? isRetryable(ctx.policy, lastPod.reason as Reason, lastPod.exitCode ?? null)
              : true;
    return {
      ...base,
      state: 'failed',
      reason,
      exitCode: prior?.exitCode ?? null,
      retryable: reason !== 'PodFailurePolicy' && isRetryable(ctx.policy, reason, null) && podRetryable,
      message: fail.message ?? null,
      finishedAt: fail.lastTransitionTime ?? base.finishedAt,
    };
  }
  return null;
}

/** The judgement's context from configuration and the event's time. */
export function judgeContext(deps: Pick<Deps, 'config'>, deleted: boolean, time: Date): JudgeContext {
  return {
    policy: deps.config,
    domain: deps.config.RG_DOMAIN,
    imagePullGraceSeconds: deps.config.RG_IMAGE_PULL_GRACE_SECONDS,
    deleted,
    now: time,
  };
}

/** Judges any Pod or Job; null when it is not a selected restore object or there is nothing to say. */
export function judgeObject(
  obj: Pod | Job,
  deps: Pick<Deps, 'config' | 'selector'>,
  deleted: boolean,
  time: Date,
): RestoreData | null {
  const ctx = judgeContext(deps, deleted, time);
  const sel = obj.kind === 'Pod' ? deps.selector.selectPod(obj) : deps.selector.selectJob(obj);
  if (!sel) return null;
  const d = obj.kind === 'Pod' ? judgePod(obj, sel, ctx) : judgeJob(obj, sel, ctx);
  return d && recordedOn(obj, keys(ctx.domain), d) ? { ...d, recorded: true } : d;
}

/**
 * Is this judgement news that the chain must act on, or a repeat that the object itself shows
 * handled (README, "What one restore pod costs")? Pure: completion answers only news, so most of a
 * restore pod's status updates cost no request. Resync judges every object regardless.
 * - placed: the bind (the pod is still Pending); its later status updates repeat it;
 * - pending: only once kube-scheduler found no node (PodScheduled False, Unschedulable): a member's
 *   earlier anchors may be what repels it, and the hand-over is needed; a pod that schedules at
 *   once needs nothing;
 * - a pod's outcome already recorded on it: news only once the pod itself has ended (release
 *   deletes ended pods), never again while it is being deleted;
 * - a Job's success: once it is Complete (SuccessCriteriaMet comes first, then Complete);
 * - everything else (gated, unrecorded outcomes, Jobs) is news.
 */
export function isNews(obj: Pod | Job, d: RestoreData, deleted: boolean): boolean {
  if (obj.kind !== 'Pod') {
    // A Job that met its success criteria is Complete a moment later (once its pods ended): that
    // update is the news, so a group is checked once per Job, not twice.
    if (d.state === 'succeeded') return !!trueCondition(obj, 'Complete');
    return true;
  }
  const phase = obj.status.phase ?? 'Pending';
  if (d.state === 'placed') return phase === 'Pending';
  if (d.state === 'pending')
    return (obj.status.conditions ?? []).some(
      (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
    );
  if (d.recorded) return (phase === 'Succeeded' || phase === 'Failed') && !deleted && !obj.metadata.deletionTimestamp;
  return true;
}

/** Does the pod still carry restore-guard's placement gate? */
export function hasPlacementGate(pod: Pick<Pod, 'spec'>, domain: string): boolean {
  const gate = keys(domain).gate;
  return (pod.spec.schedulingGates ?? []).some((g) => g.name === gate);
}
