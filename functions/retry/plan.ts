import type { Config } from '../core/config.ts';
import type { RestoreData } from '../core/restore/events.ts';
import type { Job, KubeObject } from '../core/kube/objects.ts';
import { annotationsOf, isControllerLabel, labelsOf } from '../core/kube/objects.ts';
import { childName } from '../core/kube/names.ts';
import { INFRASTRUCTURE } from '../core/restore/reasons.ts';
import { parseOutcome, readHistory } from '../core/restore/records.ts';
import type { Keys } from '../core/restore/keys.ts';

export type RetryConfig = Pick<
  Config,
  | 'RG_RETRY_JOBS'
  | 'RG_RETRY_MAX_ATTEMPTS'
  | 'RG_RETRY_BASE_MS'
  | 'RG_RETRY_MAX_MS'
  | 'RG_RETRY_JITTER'
  | 'RG_RETRY_AVOID'
>;

export type RetryDecision =
  | { action: 'skip'; why: string }
  | { action: 'exhausted'; why: string; attempt: number }
  | { action: 'retry'; name: string; attempt: number; delayMs: number; avoidNodes: string[] };

/** A failed attempt of the Job's pods, as the history, the last record or the live pods tell it. */
export interface PodFailure {
  node: string | null;
  reason: string | null;
  finishedAt?: string | null;
  /** As completion judged the live pod; absent for failures known only from records. */
  retryable?: boolean;
}

/** The pod failures known for a Job: its last record and its history (newest last). */
export function recordedFailures(job: Job, k: Keys): PodFailure[] {
  const ann = annotationsOf(job);
  const out: PodFailure[] = readHistory(ann[k.history])
    .filter((e) => e.scope !== 'job' && e.state === 'failed')
    .map((e) => ({ node: e.node ?? null, reason: e.reason ?? null }));
  const last = parseOutcome(ann[k.outcome]);
  if (last?.scope === 'pod' && last.state === 'failed') out.push({ node: last.node, reason: last.reason });
  return out;
}

/** Nodes earlier attempts failed on: those the failed Job already avoided, and every known pod failure's. */
export function failedNodes(job: Job, k: Keys, failures: PodFailure[]): string[] {
  const nodes = new Set((annotationsOf(job)[k.failedNodes] ?? '').split(',').filter(Boolean));
  for (const f of failures) if (f.node) nodes.add(f.node);
  return [...nodes].sort();
}

/**
 * Backoff: at once for infrastructure failures (the restore never failed on its own), else base
 * doubling per attempt up to the cap, with ± jitter. `random` is passed in.
 */
export function backoffMs(cfg: RetryConfig, attempt: number, infrastructure: boolean, random: () => number): number {
  if (infrastructure) return 0;
  const raw = Math.min(cfg.RG_RETRY_MAX_MS, cfg.RG_RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
  const jitter = 1 + cfg.RG_RETRY_JITTER * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(cfg.RG_RETRY_MAX_MS, raw * jitter)));
}

/**
 * Pure: what to do about a Job that failed for good. `livePods` are failures judged from the Job's
 * pods still in the cluster, which may not be recorded yet when the Job's own failure arrives first.
 */
export function decideRetry(
  cfg: RetryConfig,
  k: Keys,
  job: Job,
  d: RestoreData,
  random: () => number,
  livePods: PodFailure[] = [],
): RetryDecision {
  if (d.scope !== 'job' || d.state !== 'failed') return { action: 'skip', why: 'not a failed job' };
  const optedIn = cfg.RG_RETRY_JOBS || labelsOf(job)[k.retry] === 'true';
  if (!optedIn)
    return { action: 'skip', why: `job-level retry not enabled (label ${k.retry}="true" or RG_RETRY_JOBS=true)` };
  if (!d.retryable) return { action: 'skip', why: `${d.reason} is not retryable` };
  // The Job's failure may be judged before its last pod's record reached it: the live pod decides then.
  const lastLive = livePods[livePods.length - 1];
  if (lastLive?.retryable === false)
    return { action: 'skip', why: `its last pod failed with ${lastLive.reason}, which is not retryable` };
  const attempt = d.attempt;
  if (attempt >= cfg.RG_RETRY_MAX_ATTEMPTS)
    return { action: 'exhausted', why: `attempt ${attempt} of ${cfg.RG_RETRY_MAX_ATTEMPTS}`, attempt };
  const root = annotationsOf(job)[k.rootJob] ?? job.metadata.name;
  const failures = [...recordedFailures(job, k), ...livePods];
  const lastReason = failures[failures.length - 1]?.reason;
  const infra = !!lastReason && (INFRASTRUCTURE as readonly string[]).includes(lastReason);
  return {
    action: 'retry',
    name: childName(root, `retry-${attempt}`),
    attempt: attempt + 1,
    delayMs: backoffMs(cfg, attempt, infra, random),
    avoidNodes: cfg.RG_RETRY_AVOID === 'off' ? [] : failedNodes(job, k, failures),
  };
}

type Json = Record<string, unknown>;
/** Copies labels or annotations without the Job controller's keys and without our per-attempt bookkeeping. */
function strip(m: Record<string, string> | null | undefined, k: Keys): Record<string, string> {
  const bookkeeping = new Set<string>([
    k.state,
    k.outcome,
    k.history,
    k.attempt,
    k.retryOf,
    k.rootJob,
    k.failedNodes,
    k.retrySkipped,
  ]);
  return Object.fromEntries(
    Object.entries(m ?? {}).filter(
      ([key]) =>
        !isControllerLabel(key) && !bookkeeping.has(key) && key !== 'kubectl.kubernetes.io/last-applied-configuration',
    ),
  );
}

/**
 * The replacement Job: the same pod template minus controller-owned labels and selector, with the
 * attempt and what it retries in annotations, and a node affinity that avoids earlier failures
 * (preferred, or required when configured; none when the volumes are bound to a node).
 */
export function buildRetryJob(
  job: Job,
  plan: Extract<RetryDecision, { action: 'retry' }>,
  k: Keys,
  required: boolean,
  volumesBound: boolean,
): KubeObject {
  const tmpl = job.spec.template;
  const spec = structuredClone(tmpl.spec) as Json;
  const avoid = volumesBound ? [] : plan.avoidNodes;
  if (avoid.length) {
    const affinity = ((spec.affinity as Json | undefined) ?? {}) as Json;
    const nodeAffinity = ((affinity.nodeAffinity as Json | undefined) ?? {}) as Json;
    const expr = { key: 'kubernetes.io/hostname', operator: 'NotIn', values: avoid };
    if (required) {
      const req =
        (nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution as { nodeSelectorTerms?: Json[] } | undefined) ??
        {};
      const terms = req.nodeSelectorTerms?.length ? req.nodeSelectorTerms : [{ matchExpressions: [] }];
      nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = {
        nodeSelectorTerms: terms.map((t) => ({
          ...t,
          matchExpressions: [...((t.matchExpressions as Json[] | undefined) ?? []), expr],
        })),
      };
    } else {
      nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution = [
        ...((nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution as Json[] | undefined) ?? []),
        { weight: 100, preference: { matchExpressions: [expr] } },
      ];
    }
    spec.affinity = { ...affinity, nodeAffinity };
  }
  const root = annotationsOf(job)[k.rootJob] ?? job.metadata.name;
  const ours = {
    [k.attempt]: String(plan.attempt),
    [k.retryOf]: job.metadata.name,
    [k.rootJob]: root,
    [k.failedNodes]: plan.avoidNodes.join(','),
  };
  const jobSpec = { ...(job.spec as Json) };
  for (const f of ['selector', 'manualSelector', 'template']) delete jobSpec[f];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: plan.name,
      namespace: job.metadata.namespace,
      labels: strip(job.metadata.labels, k),
      annotations: { ...strip(job.metadata.annotations, k), ...ours },
      ...(job.metadata.ownerReferences?.length
        ? {
            ownerReferences: job.metadata.ownerReferences.map((r) => ({
              ...r,
              controller: false,
              blockOwnerDeletion: false,
            })),
          }
        : {}),
    },
    spec: {
      ...jobSpec,
      template: {
        metadata: {
          labels: strip(tmpl.metadata?.labels, k),
          annotations: {
            ...strip(tmpl.metadata?.annotations, k),
            [k.attempt]: String(plan.attempt),
            [k.retryOf]: job.metadata.name,
          },
        },
        spec,
      },
    },
  };
}
