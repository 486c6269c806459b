import { z } from 'zod';
import { ReasonSchema } from './config.ts';
import { JobSchema, PodSchema } from './k8s.ts';
import type { CloudEvent } from './cloudevent.ts';
import { stableHash } from './names.ts';

/** Event types (design §2, §4). */
export const T = {
  apiAdd: 'dev.knative.apiserver.resource.add',
  apiUpdate: 'dev.knative.apiserver.resource.update',
  apiDelete: 'dev.knative.apiserver.resource.delete',
  ping: 'dev.knative.sources.ping',
  placed: 'dev.restoreguard.restore.placed',
  succeeded: 'dev.restoreguard.restore.succeeded',
  failed: 'dev.restoreguard.restore.failed',
  recorded: 'dev.restoreguard.restore.recorded',
  groupCompleted: 'dev.restoreguard.group.completed',
  retryScheduled: 'dev.restoreguard.retry.scheduled',
  retryExhausted: 'dev.restoreguard.retry.exhausted',
  retrySkipped: 'dev.restoreguard.retry.skipped',
} as const;

export const API_TYPES = [T.apiAdd, T.apiUpdate, T.apiDelete] as const;

/** ApiServerSource in Resource mode: the data is the whole object. */
export const ResourceDataSchema = z.discriminatedUnion('kind', [PodSchema, JobSchema]);
export type ResourceData = z.infer<typeof ResourceDataSchema>;

export const ContainerOutcomeSchema = z.object({
  name: z.string(),
  exitCode: z.number().int().nullable(),
  reason: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type ContainerOutcome = z.infer<typeof ContainerOutcomeSchema>;

/** The data of every dev.restoreguard.* event (design §4). */
export const RestoreDataSchema = z.object({
  namespace: z.string().min(1),
  group: z.string().min(1),
  profile: z.enum(['kubeblocks', 'generic']),
  job: z.string().nullable(),
  pod: z.string().nullable(),
  uid: z.string().nullable(),
  node: z.string().nullable(),
  scope: z.enum(['pod', 'job']),
  state: z.enum(['placed', 'succeeded', 'failed']),
  reason: ReasonSchema.nullable(),
  retryable: z.boolean(),
  exitCode: z.number().int().nullable(),
  containers: z.array(ContainerOutcomeSchema),
  message: z.string().nullable(),
  attempt: z.number().int().min(1),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type RestoreData = z.infer<typeof RestoreDataSchema>;

export const GroupDataSchema = z.object({
  namespace: z.string(),
  group: z.string(),
  profile: z.enum(['kubeblocks', 'generic']),
  anchorsDeleted: z.array(z.string()),
  members: z.number().int(),
});
export type GroupData = z.infer<typeof GroupDataSchema>;

export const RetryDataSchema = RestoreDataSchema.extend({
  retryJob: z.string().nullable(),
  delayMs: z.number().int().nullable(),
  avoidNodes: z.array(z.string()),
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
  return state === 'placed' ? T.placed : state === 'succeeded' ? T.succeeded : T.failed;
}
