import * as z from 'zod/mini';
import { InvalidObjectError } from '../errors.ts';

/**
 * Schemas for the parts of Kubernetes objects restore-guard reads. Everything else passes through
 * untouched (looseObject), so a newer API server's fields never make an event invalid.
 */
const StringMap = z.record(z.string(), z.string());

export const OwnerReferenceSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  name: z.string(),
  uid: z.string(),
  controller: z.optional(z.boolean()),
  blockOwnerDeletion: z.optional(z.boolean()),
});
export type OwnerReference = z.infer<typeof OwnerReferenceSchema>;

export const ObjectMetaSchema = z.looseObject({
  name: z.string().check(z.minLength(1)),
  namespace: z.optional(z.string().check(z.minLength(1))),
  uid: z.optional(z.string()),
  resourceVersion: z.optional(z.string()),
  generation: z.optional(z.number()),
  creationTimestamp: z.nullish(z.string()),
  deletionTimestamp: z.nullish(z.string()),
  labels: z.nullish(StringMap),
  annotations: z.nullish(StringMap),
  ownerReferences: z.nullish(z.array(OwnerReferenceSchema)),
  finalizers: z.nullish(z.array(z.string())),
});
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

const LabelSelectorSchema = z.looseObject({
  matchLabels: z.nullish(StringMap),
  matchExpressions: z.nullish(
    z.array(z.looseObject({ key: z.string(), operator: z.string(), values: z.nullish(z.array(z.string())) })),
  ),
});
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

const PodAffinityTermSchema = z.looseObject({
  labelSelector: z.nullish(LabelSelectorSchema),
  topologyKey: z.optional(z.string()),
  matchLabelKeys: z.nullish(z.array(z.string())),
  mismatchLabelKeys: z.nullish(z.array(z.string())),
  namespaces: z.nullish(z.array(z.string())),
  namespaceSelector: z.nullish(LabelSelectorSchema),
});
export type PodAffinityTerm = z.infer<typeof PodAffinityTermSchema>;
const WeightedTermSchema = z.looseObject({ weight: z.optional(z.number()), podAffinityTerm: PodAffinityTermSchema });
const PodAffinitySchema = z.looseObject({
  requiredDuringSchedulingIgnoredDuringExecution: z.nullish(z.array(PodAffinityTermSchema)),
  preferredDuringSchedulingIgnoredDuringExecution: z.nullish(z.array(WeightedTermSchema)),
});

const ContainerSchema = z.looseObject({
  name: z.string(),
  image: z.optional(z.string()),
  restartPolicy: z.optional(z.string()),
});
export type Container = z.infer<typeof ContainerSchema>;

const VolumeSchema = z.looseObject({
  name: z.string(),
  persistentVolumeClaim: z.nullish(z.looseObject({ claimName: z.string() })),
});

export const PodSpecSchema = z.looseObject({
  nodeName: z.nullish(z.string()),
  containers: z._default(z.array(ContainerSchema), []),
  initContainers: z.nullish(z.array(ContainerSchema)),
  volumes: z.nullish(z.array(VolumeSchema)),
  affinity: z.nullish(
    z.looseObject({
      nodeAffinity: z.nullish(z.looseObject({})),
      podAffinity: z.nullish(PodAffinitySchema),
      podAntiAffinity: z.nullish(PodAffinitySchema),
    }),
  ),
  topologySpreadConstraints: z.nullish(
    z.array(
      z.looseObject({
        labelSelector: z.nullish(LabelSelectorSchema),
        matchLabelKeys: z.nullish(z.array(z.string())),
        topologyKey: z.optional(z.string()),
      }),
    ),
  ),
  tolerations: z.nullish(z.array(z.looseObject({}))),
  priorityClassName: z.nullish(z.string()),
  restartPolicy: z.optional(z.string()),
  activeDeadlineSeconds: z.nullish(z.number()),
  schedulingGates: z.nullish(z.array(z.looseObject({ name: z.string() }))),
});
export type PodSpec = z.infer<typeof PodSpecSchema>;

const StateSchema = z.looseObject({
  running: z.nullish(z.looseObject({ startedAt: z.nullish(z.string()) })),
  waiting: z.nullish(z.looseObject({ reason: z.nullish(z.string()), message: z.nullish(z.string()) })),
  terminated: z.nullish(
    z.looseObject({
      exitCode: z.number(),
      reason: z.nullish(z.string()),
      message: z.nullish(z.string()),
      startedAt: z.nullish(z.string()),
      finishedAt: z.nullish(z.string()),
    }),
  ),
});
export const ContainerStatusSchema = z.looseObject({
  name: z.string(),
  state: z.nullish(StateSchema),
  lastState: z.nullish(StateSchema),
  restartCount: z.optional(z.number()),
});
export type ContainerStatus = z.infer<typeof ContainerStatusSchema>;

const ConditionSchema = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.nullish(z.string()),
  message: z.nullish(z.string()),
  lastTransitionTime: z.nullish(z.string()),
});
export type Condition = z.infer<typeof ConditionSchema>;

export const PodSchema = z.looseObject({
  apiVersion: z.optional(z.literal('v1')),
  kind: z.literal('Pod'),
  metadata: ObjectMetaSchema,
  spec: z._default(PodSpecSchema, { containers: [] }),
  status: z._default(
    z.looseObject({
      phase: z.optional(z.string()),
      reason: z.nullish(z.string()),
      message: z.nullish(z.string()),
      startTime: z.nullish(z.string()),
      conditions: z.nullish(z.array(ConditionSchema)),
      containerStatuses: z.nullish(z.array(ContainerStatusSchema)),
      initContainerStatuses: z.nullish(z.array(ContainerStatusSchema)),
    }),
    {},
  ),
});
export type Pod = z.infer<typeof PodSchema>;

export const JobSchema = z.looseObject({
  apiVersion: z.optional(z.string()),
  kind: z.literal('Job'),
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    template: z.looseObject({
      metadata: z.nullish(z.looseObject({ labels: z.nullish(StringMap), annotations: z.nullish(StringMap) })),
      spec: PodSpecSchema,
    }),
    selector: z.nullish(LabelSelectorSchema),
    backoffLimit: z.nullish(z.number()),
  }),
  status: z._default(
    z.looseObject({
      conditions: z.nullish(z.array(ConditionSchema)),
      active: z.nullish(z.number()),
      succeeded: z.nullish(z.number()),
      failed: z.nullish(z.number()),
      startTime: z.nullish(z.string()),
      completionTime: z.nullish(z.string()),
    }),
    {},
  ),
});
export type Job = z.infer<typeof JobSchema>;

/** Any object with metadata: what the cluster interface hands around. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

/**
 * Reads a live object as a Pod or Job once, at the boundary: null when there is none, an
 * InvalidObjectError (500, logged, redelivered) when it does not parse, never "absent".
 */
function reader<S extends z.ZodMiniType>(kind: string, schema: S) {
  return (o: KubeObject | null | undefined): z.infer<S> | null => {
    if (!o) return null;
    const r = schema.safeParse(o);
    if (r.success) return r.data;
    const problems = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(object)'}: ${i.message}`);
    throw new InvalidObjectError(
      `${kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? '?'} from the API server does not parse: ${problems.join('; ')}`,
      {
        hint: "restore-guard expects the API server's own Pod/Job shape; report this object (kubectl get -o yaml) as a bug",
        details: { problems },
      },
    );
  };
}
export const readPod = reader('Pod', PodSchema);
export const readJob = reader('Job', JobSchema);

export const labelsOf = (o: { metadata: ObjectMeta }): Record<string, string> => o.metadata.labels ?? {};
export const annotationsOf = (o: { metadata: ObjectMeta }): Record<string, string> => o.metadata.annotations ?? {};

/** The Job that controls a pod, from its labels or its controller reference. */
export function jobNameOf(pod: Pod): string | undefined {
  const l = labelsOf(pod);
  const fromLabel = l['batch.kubernetes.io/job-name'] ?? l['job-name'];
  if (fromLabel) return fromLabel;
  return pod.metadata.ownerReferences?.find((r) => r.kind === 'Job' && r.controller)?.name;
}

/** Names of the PVCs a pod spec mounts. */
export function claimsOf(spec: PodSpec): string[] {
  return (spec.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : []));
}

/** Labels the Job controller puts on pods and templates; never copied to what we create. */
export const CONTROLLER_LABELS = [
  'controller-uid',
  'job-name',
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-name',
  'batch.kubernetes.io/job-completion-index',
] as const;
export function isControllerLabel(key: string): boolean {
  return (CONTROLLER_LABELS as readonly string[]).includes(key);
}
