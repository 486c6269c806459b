import * as z from 'zod/mini';
import { ReasonSchema } from './reasons.ts';
import { JobSchema, PodSchema } from '../kube/objects.ts';
import type { CloudEvent } from '../http/cloudevent.ts';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_VALUE, stableHash } from '../kube/names.ts';

/** Event types (README, Routes and events). */
export const EventType = {
  apiAdd: 'dev.knative.apiserver.resource.add',
  apiUpdate: 'dev.knative.apiserver.resource.update',
  apiDelete: 'dev.knative.apiserver.resource.delete',
  ping: 'dev.knative.sources.ping',
  gated: 'dev.restoreguard.restore.gated',
  pending: 'dev.restoreguard.restore.pending',
  placed: 'dev.restoreguard.restore.placed',
  succeeded: 'dev.restoreguard.restore.succeeded',
  failed: 'dev.restoreguard.restore.failed',
  recorded: 'dev.restoreguard.restore.recorded',
  groupCompleted: 'dev.restoreguard.group.completed',
  retryScheduled: 'dev.restoreguard.retry.scheduled',
  retryExhausted: 'dev.restoreguard.retry.exhausted',
  retrySkipped: 'dev.restoreguard.retry.skipped',
  anchorLost: 'dev.restoreguard.anchor.lost',
} as const;

export const API_TYPES = [EventType.apiAdd, EventType.apiUpdate, EventType.apiDelete] as const;

/** ApiServerSource in Resource mode: the data is the whole object. */
export const ResourceDataSchema = z.discriminatedUnion('kind', [PodSchema, JobSchema]);
export type ResourceData = z.infer<typeof ResourceDataSchema>;

/**
 * Names in event data are validated as Kubernetes validates them: they end up in label selectors,
 * object paths and label values, so a free string could select, or name, something else (a group
 * `g,other/key` pasted into a selector matches every object with that key).
 */
const objectName = () => z.string().check(z.regex(DNS1123_SUBDOMAIN, 'expected a DNS-1123 name'));
const namespaceName = () => z.string().check(z.regex(DNS1123_LABEL, 'expected a DNS-1123 label (a namespace)'));
const groupName = () => z.string().check(z.regex(LABEL_VALUE, 'expected a label value (a group)'));
const uidValue = () => z.string().check(z.regex(/^[A-Za-z0-9][-A-Za-z0-9_.]{0,127}$/, 'expected an object uid'));

export const ContainerOutcomeSchema = z.object({
  name: z.string().check(z.regex(DNS1123_LABEL, 'expected a container name')),
  exitCode: z.nullable(z.int()),
  reason: z.nullable(z.string()),
  startedAt: z.nullable(z.string()),
  finishedAt: z.nullable(z.string()),
});
export type ContainerOutcome = z.infer<typeof ContainerOutcomeSchema>;

/** The data of every dev.restoreguard.* event (README, Routes and events). */
export const RestoreDataSchema = z.object({
  namespace: namespaceName(),
  group: groupName(),
  profile: z.enum(['kubeblocks', 'generic']),
  job: z.nullable(objectName()),
  pod: z.nullable(objectName()),
  uid: z.nullable(uidValue()),
  node: z.nullable(objectName()),
  scope: z.enum(['pod', 'job']),
  state: z.enum(['gated', 'pending', 'placed', 'succeeded', 'failed']),
  reason: z.nullable(ReasonSchema),
  retryable: z.boolean(),
  exitCode: z.nullable(z.int()),
  containers: z.array(ContainerOutcomeSchema),
  message: z.nullable(z.string()),
  attempt: z.int().check(z.minimum(1)),
  startedAt: z.nullable(z.string()),
  finishedAt: z.nullable(z.string()),
  /** PVCs the pod (or the Job's template) mounts: where the record must go, even once they are gone. */
  claims: z.optional(z.array(objectName())),
  /** The pod's phase when judged (pod scope): a sidecar may keep a finished restore's pod Running. */
  phase: z.optional(z.nullable(z.string())),
  /**
   * The judged object already carried this outcome's record (a state mark: labeling has nothing to
   * write, only to answer). A hint that saves requests, never a licence: release still reads the
   * live object before it deletes anything.
   */
  recorded: z.optional(z.boolean()),
});
export type RestoreData = z.infer<typeof RestoreDataSchema>;

export const GroupDataSchema = z.object({
  namespace: namespaceName(),
  group: groupName(),
  profile: z.enum(['kubeblocks', 'generic']),
  anchorsDeleted: z.array(objectName()),
  members: z.int(),
});
export type GroupData = z.infer<typeof GroupDataSchema>;

/**
 * dev.restoreguard.anchor.lost (completion, from an anchor's own event): Kubernetes took an anchor
 * away (preempted, evicted, drained) or it ended (its lease, the kubelet) while it may still be
 * needed. `pod`/`uid` name the restore pod it stands for; labeling judges the live objects.
 */
export const AnchorLostDataSchema = z.object({
  namespace: namespaceName(),
  group: groupName(),
  profile: z.enum(['kubeblocks', 'generic']),
  anchor: objectName(),
  anchorUid: z.nullable(uidValue()),
  pod: objectName(),
  uid: uidValue(),
  /** the restore pod's Job (the anchor's annotation), whose record re-anchors a member whose pod is gone */
  job: z.optional(z.nullable(objectName())),
  node: z.nullable(objectName()),
  reason: ReasonSchema,
  /** the anchor is gone (a delete event), else it still exists, ended */
  deleted: z.boolean(),
});
export type AnchorLostData = z.infer<typeof AnchorLostDataSchema>;

export const RetryDataSchema = z.extend(RestoreDataSchema, {
  retryJob: z.nullable(objectName()),
  delayMs: z.nullable(z.int()),
  avoidNodes: z.array(objectName()),
});
export type RetryData = z.infer<typeof RetryDataSchema>;

export const SOURCE_PREFIX = 'restore-guard';

/** A reply event with a deterministic id, so consumers can drop duplicates. */
export function replyEvent(
  fn: string,
  type: string,
  subject: string,
  idParts: (string | number | null | undefined)[],
  data: unknown,
  time: Date,
): CloudEvent {
  return {
    specversion: '1.0',
    id: stableHash(type, ...idParts.map((p) => (p === null ? undefined : p))),
    source: `${SOURCE_PREFIX}/${fn}`,
    type,
    subject,
    time: time.toISOString(),
    datacontenttype: 'application/json',
    data,
  };
}

export function stateType(state: RestoreData['state']): string {
  if (state === 'gated') return EventType.gated;
  if (state === 'pending') return EventType.pending;
  return state === 'placed' ? EventType.placed : state === 'succeeded' ? EventType.succeeded : EventType.failed;
}

/**
 * Whether the pod itself has ended. A KubeBlocks pod's restore container may finish while its
 * sidecar keeps the pod Running: the outcome is then told twice (running, then ended), and the
 * second telling is news (release deletes ended pods), so it gets its own id.
 */
export function podEnded(d: Pick<RestoreData, 'phase'>): 'ended' | 'running' {
  return d.phase === 'Succeeded' || d.phase === 'Failed' ? 'ended' : 'running';
}
