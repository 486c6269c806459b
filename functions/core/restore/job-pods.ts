import type { Deps } from '../deps.ts';
import type { Cluster } from '../kube/cluster.ts';
import type { KubeObject } from '../kube/objects.ts';
import { readPod } from '../kube/objects.ts';
import { judgeObject } from './judge.ts';

/** A failure of one of a Job's pods still in the cluster, judged as completion judges it. */
export interface LiveFailure {
  pod: string;
  node: string | null;
  reason: string | null;
  exitCode: number | null;
  finishedAt: string | null;
  retryable: boolean;
}

/**
 * The failures of a Job's pods still in the cluster, oldest first: one list by the Job's controller
 * uid. Their records may lag: the Job controller marks a Job Failed as its pod fails, so the Job's
 * event can reach a function before the pod's own record is on the Job.
 */
export async function liveFailures(deps: Deps, cluster: Cluster, job: KubeObject): Promise<LiveFailure[]> {
  const uid = job.metadata.uid;
  if (!uid) return [];
  const pods = await cluster.list('Pod', job.metadata.namespace ?? '', `batch.kubernetes.io/controller-uid=${uid}`);
  const out: LiveFailure[] = [];
  for (const p of pods) {
    const pod = readPod(p);
    const d = pod ? judgeObject(pod, deps, false, deps.clock()) : null;
    if (d?.state === 'failed')
      out.push({
        pod: p.metadata.name,
        node: d.node,
        reason: d.reason,
        exitCode: d.exitCode,
        finishedAt: d.finishedAt,
        retryable: d.retryable,
      });
  }
  return out.sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''));
}
