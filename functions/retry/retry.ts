import type { Deps } from '../core/deps.ts';
import type { Cluster } from '../core/kube/cluster.ts';
import type { Job } from '../core/kube/objects.ts';
import { claimsOf, readJob, readPod } from '../core/kube/objects.ts';
import { deleteAnchorFor, failureRecorded } from '../core/restore/anchors.ts';
import type { RestoreData, RetryData } from '../core/restore/events.ts';
import { EventType } from '../core/restore/events.ts';
import { judgeObject } from '../core/restore/judge.ts';
import { liveFailures } from '../core/restore/job-pods.ts';
import { keys } from '../core/restore/keys.ts';
import { earlyStop } from '../core/restore/kubeblocks.ts';
import { tell } from '../core/restore/kube-events.ts';
import { buildRetryJob, decideRetry } from './plan.ts';

/** Are the pod template's volumes already bound to a node (local volumes)? Then no node avoidance. */
async function volumesBound(cluster: Cluster, namespace: string, claims: string[]): Promise<boolean> {
  for (const c of claims) {
    const pvc = await cluster.get('PersistentVolumeClaim', namespace, c);
    if (pvc?.metadata.annotations?.['volume.kubernetes.io/selected-node']) return true;
  }
  return false;
}

export interface RetryOutcome {
  type: typeof EventType.retryScheduled | typeof EventType.retryExhausted | typeof EventType.retrySkipped | null;
  data: RetryData | null;
}

/**
 * Acts on a failure. Pod scope: make sure nothing holds the failed pod (KubeBlocks' sidecar, its
 * own anchor) so the Job controller's retry starts at once. Job scope: a replacement Job with a
 * deterministic name, after the backoff, avoiding the nodes that failed.
 */
export async function retryFailure(
  deps: Deps,
  cluster: Cluster,
  d: RestoreData,
  opts: { wait: boolean } = { wait: true },
): Promise<RetryOutcome> {
  const k = keys(deps.config.RG_DOMAIN);
  if (d.scope === 'pod') {
    if (!d.pod || !d.retryable) return { type: null, data: null };
    const pod = readPod(await cluster.get('Pod', d.namespace, d.pod));
    if (pod && pod.metadata.uid === d.uid) {
      // The live pod decides (README, Security): only a pod that failed, retryably, is let go.
      const live = judgeObject(pod, deps, false, deps.clock());
      if (live?.state !== 'failed' || !live.retryable) {
        deps.log.warn('retry: the live pod has not failed retryably; the event is stale or forged', {
          namespace: d.namespace,
          pod: d.pod,
          live: live ? `${live.state}${live.reason ? ` (${live.reason})` : ''}` : 'nothing to judge',
        });
        return { type: null, data: null };
      }
      const sel = deps.selector.selectPod(pod);
      if (sel) await earlyStop(deps, cluster, pod, sel);
      await deleteAnchorFor(cluster, k, d.namespace, d.pod, d.uid);
    } else if (await failureRecorded(cluster, k, d.namespace, d.job, d.uid)) {
      // Gone: its anchor goes only with a recorded failure (else release does, once labeling recorded it).
      await deleteAnchorFor(cluster, k, d.namespace, d.pod, d.uid);
    }
    return { type: null, data: null };
  }
  const job = readJob(d.job ? await cluster.get('Job', d.namespace, d.job) : null);
  if (!job || job.metadata.uid !== d.uid) return { type: null, data: null };
  // The live Job decides, not the event's claim (README, Security): judged as completion judges it,
  // only a Job whose Failed (or FailureTarget) condition is true is retried, with its own reason,
  // attempt and failure time. A stale or forged failure of a running Job does nothing.
  const live = judgeObject(job, deps, false, deps.clock());
  if (live?.scope !== 'job' || live.state !== 'failed') {
    deps.log.warn('retry: the live Job has not failed; the event is stale or forged', {
      namespace: d.namespace,
      job: d.job,
      live: live?.state ?? 'running',
    });
    return { type: null, data: null };
  }
  return retryFailedJob(deps, cluster, job, live, opts);
}

/** A Job-scope failure, judged from the live Job: skip, exhausted, or a replacement Job after the backoff. */
async function retryFailedJob(
  deps: Deps,
  cluster: Cluster,
  job: Job,
  d: RestoreData,
  opts: { wait: boolean },
): Promise<RetryOutcome> {
  const k = keys(deps.config.RG_DOMAIN);
  const base: RetryData = { ...d, retryJob: null, delayMs: null, avoidNodes: [] };
  // The decision on an opted-in Job is made once and written on it: a later event (the Job judged
  // again once its last pod's record landed, a redelivery, resync) finds it and answers the same,
  // and release waits for it before a group with this Job counts as done.
  const skipped = job.metadata.annotations?.[k.retrySkipped];
  if (skipped) return { type: EventType.retrySkipped, data: { ...base, message: skipped } };
  const plan = decideRetry(deps.config, k, job, d, deps.random, await liveFailures(deps, cluster, job));
  if (plan.action === 'skip') {
    const optedIn = deps.config.RG_RETRY_JOBS || job.metadata.labels?.[k.retry] === 'true';
    if (optedIn)
      await cluster.patch('Job', d.namespace, job.metadata.name, {
        metadata: { annotations: { [k.retrySkipped]: plan.why } },
      });
    // Not opted in: nothing is written, so resync meets the Job on every ping; counted once, from the event.
    if (optedIn || opts.wait) {
      deps.metrics.retries.inc({ reason: d.reason ?? 'Unknown', decision: 'skipped' });
      deps.log.info('retry skipped', { namespace: d.namespace, job: d.job, why: plan.why });
    } else deps.log.debug('retry skipped', { namespace: d.namespace, job: d.job, why: plan.why });
    return { type: EventType.retrySkipped, data: { ...base, message: plan.why } };
  }
  if (plan.action === 'exhausted') {
    // Recorded once: a repeat (redelivery, resync) answers the same and counts nothing.
    if (job.metadata.labels?.[k.state] !== 'exhausted') {
      await cluster.patch('Job', d.namespace, job.metadata.name, { metadata: { labels: { [k.state]: 'exhausted' } } });
      deps.metrics.retries.inc({ reason: d.reason ?? 'Unknown', decision: 'exhausted' });
      deps.log.warn('retries exhausted', { namespace: d.namespace, job: d.job, why: plan.why });
      await tell(cluster, deps.log, {
        about: job,
        namespace: d.namespace,
        reason: 'RetryExhausted',
        type: 'Warning',
        message: `no retry of job ${job.metadata.name}: ${plan.why}`,
        fn: 'retry',
        key: [job.metadata.uid, 'exhausted'],
        now: deps.clock(),
      });
    }
    return { type: EventType.retryExhausted, data: { ...base, message: plan.why } };
  }
  if (!(await cluster.get('Job', d.namespace, plan.name))) {
    // The backoff runs from the failure, never from later than now (a skewed clock): the wait is
    // at most the backoff itself, which RG_RETRY_MAX_MS bounds (under Knative's request timeout).
    const now = deps.clock().getTime();
    const failedAt = Math.min(Date.parse(d.finishedAt ?? '') || now, now);
    const due = Math.min(failedAt + plan.delayMs - now, deps.config.RG_RETRY_MAX_MS);
    if (due > 0 && !opts.wait) return { type: null, data: null }; // resync: not due yet, next ping
    if (due > 0) await deps.sleep(due);
    const bound = await volumesBound(cluster, d.namespace, claimsOf(job.spec.template.spec));
    const replacement = buildRetryJob(job, plan, k, deps.config.RG_RETRY_AVOID === 'required', bound);
    const r = await cluster.create('Job', d.namespace, replacement);
    if (r.created) {
      deps.metrics.retries.inc({ reason: d.reason ?? 'Unknown', decision: 'scheduled' });
      deps.log.info('retry scheduled', {
        namespace: d.namespace,
        job: d.job,
        retry: plan.name,
        attempt: plan.attempt,
        avoid: bound ? [] : plan.avoidNodes,
        delayMs: plan.delayMs,
      });
      await tell(cluster, deps.log, {
        about: job,
        namespace: d.namespace,
        reason: 'RetryScheduled',
        type: 'Normal',
        message: `job ${job.metadata.name} failed (${d.reason ?? 'Unknown'}): retry ${plan.name}, attempt ${plan.attempt}${!bound && plan.avoidNodes.length ? `, avoiding ${plan.avoidNodes.join(', ')}` : ''}`,
        fn: 'retry',
        key: [job.metadata.uid, plan.name],
        now: deps.clock(),
      });
    }
  }
  if (job.metadata.labels?.[k.state] !== 'retried') {
    await cluster.patch('Job', d.namespace, job.metadata.name, { metadata: { labels: { [k.state]: 'retried' } } });
  }
  return {
    type: EventType.retryScheduled,
    data: { ...base, attempt: plan.attempt, retryJob: plan.name, delayMs: plan.delayMs, avoidNodes: plan.avoidNodes },
  };
}
