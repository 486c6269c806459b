import type { Keys } from '../lib/config.ts';
import type { KubeObject } from '../lib/k8s.ts';
import { parseOutcome } from '../lib/records.ts';

/** What release knows of a group, read from the live cluster. */
export interface GroupView {
  profile: 'kubeblocks' | 'generic';
  /** KubeBlocks' Restore object, when the profile has one and it exists. */
  owner: KubeObject | null;
  jobs: KubeObject[];
  pods: KubeObject[];
  anchors: KubeObject[];
  retryJobs: boolean;
  maxAttempts: number;
}

const TERMINAL_JOB = ['Complete', 'SuccessCriteriaMet', 'Failed', 'FailureTarget'];
const FINAL_STATES = new Set(['succeeded', 'failed', 'retried', 'exhausted']);

function jobFinished(job: KubeObject): boolean {
  const conds = ((job.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []);
  return conds.some((c) => TERMINAL_JOB.includes(c.type) && c.status === 'True');
}
function podFinished(pod: KubeObject): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** A failed Job that retry will still act on: not every member is final yet. */
function retryPending(job: KubeObject, k: Keys, v: GroupView): boolean {
  const labels = job.metadata.labels ?? {};
  if (labels[k.state] !== 'failed') return false;
  const optedIn = v.retryJobs || labels[k.retry] === 'true';
  if (!optedIn) return false;
  const o = parseOutcome(job.metadata.annotations?.[k.outcome]);
  return o?.scope === 'job' && o.retryable === true && (o.attempt ?? 1) < v.maxAttempts;
}

/**
 * Is the group finished and recorded, so its anchors can go? Pure.
 * - KubeBlocks with its Restore present: the Restore says Completed or Failed (its Serial policy
 *   creates Jobs one after another, so the Jobs alone cannot tell).
 * - Otherwise: every member Job finished, recorded and with no retry still to come; every restore
 *   pod finished; and, when the group declares its size (`<domain>/group-size`), at least that many
 *   anchors of succeeded members exist.
 */
export function groupComplete(v: GroupView, k: Keys): { complete: boolean; why: string } {
  if (v.profile === 'kubeblocks' && v.owner) {
    const phase = (v.owner.status as { phase?: string } | undefined)?.phase;
    return phase === 'Completed' || phase === 'Failed'
      ? { complete: true, why: `Restore ${v.owner.metadata.name} is ${phase}` }
      : { complete: false, why: `Restore ${v.owner.metadata.name} is ${phase ?? 'not finished'}` };
  }
  const running = v.jobs.find((j) => !jobFinished(j));
  if (running) return { complete: false, why: `job ${running.metadata.name} is not finished` };
  const unrecorded = v.jobs.find((j) => !FINAL_STATES.has(j.metadata.labels?.[k.state] ?? ''));
  if (unrecorded) return { complete: false, why: `job ${unrecorded.metadata.name} is not recorded yet` };
  const pending = v.jobs.find((j) => retryPending(j, k, v));
  if (pending) return { complete: false, why: `job ${pending.metadata.name} has a retry to come` };
  const pod = v.pods.find((p) => !podFinished(p));
  if (pod) return { complete: false, why: `pod ${pod.metadata.name} is not finished` };
  const sizes = [...v.anchors, ...v.jobs]
    .map((o) => Number(o.metadata.annotations?.[k.groupSize]))
    .filter((n) => Number.isInteger(n) && n > 0);
  const size = sizes.length ? Math.max(...sizes) : 0;
  if (size && v.anchors.length < size) return { complete: false, why: `${v.anchors.length} of ${size} members anchored` };
  if (v.jobs.length === 0 && v.pods.length === 0 && v.anchors.length === 0) return { complete: false, why: 'no members' };
  return { complete: true, why: 'every member finished and recorded' };
}
