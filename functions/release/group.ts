import type { KubeObject } from '../core/kube/objects.ts';
import { RETRY_VERDICTS, parseOutcome } from '../core/restore/records.ts';
import type { Keys } from '../core/restore/keys.ts';

/** What release knows of a group, read from the live cluster. */
export interface GroupView {
  profile: 'kubeblocks' | 'generic';
  /** KubeBlocks' Restore object, when the profile has one and it exists. */
  owner: KubeObject | null;
  jobs: KubeObject[];
  pods: KubeObject[];
  anchors: KubeObject[];
  retryJobs: boolean;
}

function jobCondition(job: KubeObject, types: readonly string[]): boolean {
  const conds = (job.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  return conds.some((c) => types.includes(c.type) && c.status === 'True');
}
const jobFailed = (job: KubeObject) => jobCondition(job, ['Failed', 'FailureTarget']);
const jobFinished = (job: KubeObject) => jobFailed(job) || jobCondition(job, ['Complete', 'SuccessCriteriaMet']);

/**
 * Is the Job's end recorded? A Job that failed needs its own (Job-scope) outcome or retry's verdict:
 * a pod's failure record on it says nothing yet about whether a retry Job is to come.
 */
function jobRecorded(job: KubeObject, k: Keys): boolean {
  const state = job.metadata.labels?.[k.state] ?? '';
  if (RETRY_VERDICTS.has(state)) return true;
  if (jobFailed(job)) return state === 'failed' && parseOutcome(job.metadata.annotations?.[k.outcome])?.scope === 'job';
  return state === 'succeeded' || state === 'failed';
}

function podFinished(pod: KubeObject): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/**
 * A failed, opted-in Job on which retry has not decided yet. Retry writes its decision on the Job
 * (`retried`, `exhausted`, or the `retry-skipped` annotation) and answers it to release, so the
 * group waits for retry's own word instead of guessing it from records that may still change.
 */
export function retryPending(job: KubeObject, k: Keys, v: Pick<GroupView, 'retryJobs'>): boolean {
  const labels = job.metadata.labels ?? {};
  if (labels[k.state] !== 'failed' || !jobFailed(job)) return false;
  const optedIn = v.retryJobs || labels[k.retry] === 'true';
  return optedIn && !job.metadata.annotations?.[k.retrySkipped];
}

/** A group's members: its root Jobs (a retry Job is the same member) or its anchors, whichever are more. */
function memberCount(v: GroupView, k: Keys): number {
  const roots = new Set(v.jobs.map((j) => j.metadata.annotations?.[k.rootJob] ?? j.metadata.name));
  return Math.max(roots.size, v.anchors.length);
}

/**
 * Why the group is surely still in flight, from what is read first (KubeBlocks' Restore; then the
 * group's Jobs, `null` while not read yet), or null when the rest must be read to tell. Pure; it
 * agrees with groupComplete: whatever it says in flight, groupComplete says not complete.
 */
export function groupInFlight(owner: KubeObject | null, jobs: KubeObject[] | null): string | null {
  const phase = (owner?.status as { phase?: string } | undefined)?.phase;
  if (owner && (!phase || phase === 'Running')) return `Restore ${owner.metadata.name} is ${phase ?? 'not started'}`;
  if (owner && (phase === 'Completed' || phase === 'Failed')) return null; // the Restore decides: read the rest
  const running = jobs?.find((j) => !jobFinished(j));
  return running ? `job ${running.metadata.name} is not finished` : null;
}

/**
 * Is the group finished and recorded, so its anchors can go? Pure.
 * - KubeBlocks with its Restore present: the Restore says Completed or Failed (its Serial policy
 *   creates Jobs one after another, so the Jobs alone cannot tell); in a phase that never ends
 *   (AsDataSource), as without it.
 * - Otherwise: every member Job finished, recorded and with no retry still to come; every restore
 *   pod finished; and, when the group declares its size (`<domain>/group-size`), at least that many
 *   members seen (root Jobs, or anchors where finished Jobs are gone; a failed member's anchor
 *   is deleted, its Job still counts).
 */
export function groupComplete(v: GroupView, k: Keys): { complete: boolean; why: string } {
  if (v.profile === 'kubeblocks' && v.owner) {
    const phase = (v.owner.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Completed' || phase === 'Failed')
      return { complete: true, why: `Restore ${v.owner.metadata.name} is ${phase}` };
    if (!phase || phase === 'Running')
      return { complete: false, why: `Restore ${v.owner.metadata.name} is ${phase ?? 'not started'}` };
    // Any other phase (AsDataSource: the Restore serves a PVC's dataSourceRef and stays so) never
    // ends: the Jobs decide, as without a Restore.
  }
  const running = v.jobs.find((j) => !jobFinished(j));
  if (running) return { complete: false, why: `job ${running.metadata.name} is not finished` };
  const unrecorded = v.jobs.find((j) => !jobRecorded(j, k));
  if (unrecorded) return { complete: false, why: `job ${unrecorded.metadata.name} is not recorded yet` };
  const pending = v.jobs.find((j) => retryPending(j, k, v));
  if (pending) return { complete: false, why: `job ${pending.metadata.name} has a retry to come` };
  const pod = v.pods.find((p) => !podFinished(p));
  if (pod) return { complete: false, why: `pod ${pod.metadata.name} is not finished` };
  const sizes = [...v.anchors, ...v.jobs]
    .map((o) => Number(o.metadata.annotations?.[k.groupSize]))
    .filter((n) => Number.isInteger(n) && n > 0);
  const size = sizes.length ? Math.max(...sizes) : 0;
  const members = memberCount(v, k);
  if (size && members < size) return { complete: false, why: `${members} of ${size} members seen` };
  if (v.jobs.length === 0 && v.pods.length === 0 && v.anchors.length === 0)
    return { complete: false, why: 'no members' };
  return { complete: true, why: 'every member finished and recorded' };
}
