import { z } from 'zod';

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
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});
export type OwnerReference = z.infer<typeof OwnerReferenceSchema>;

export const ObjectMetaSchema = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().nullish(),
  deletionTimestamp: z.string().nullish(),
  labels: StringMap.nullish(),
  annotations: StringMap.nullish(),
  ownerReferences: z.array(OwnerReferenceSchema).nullish(),
  finalizers: z.array(z.string()).nullish(),
});
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

const LabelSelectorSchema = z.looseObject({
  matchLabels: StringMap.nullish(),
  matchExpressions: z
    .array(z.looseObject({ key: z.string(), operator: z.string(), values: z.array(z.string()).nullish() }))
    .nullish(),
});
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

const PodAffinityTermSchema = z.looseObject({
  labelSelector: LabelSelectorSchema.nullish(),
  topologyKey: z.string().optional(),
  matchLabelKeys: z.array(z.string()).nullish(),
  mismatchLabelKeys: z.array(z.string()).nullish(),
  namespaces: z.array(z.string()).nullish(),
  namespaceSelector: LabelSelectorSchema.nullish(),
});
export type PodAffinityTerm = z.infer<typeof PodAffinityTermSchema>;
const WeightedTermSchema = z.looseObject({ weight: z.number().optional(), podAffinityTerm: PodAffinityTermSchema });
const PodAffinitySchema = z.looseObject({
  requiredDuringSchedulingIgnoredDuringExecution: z.array(PodAffinityTermSchema).nullish(),
  preferredDuringSchedulingIgnoredDuringExecution: z.array(WeightedTermSchema).nullish(),
});

const ContainerSchema = z.looseObject({
  name: z.string(),
  image: z.string().optional(),
  restartPolicy: z.string().optional(),
});
export type Container = z.infer<typeof ContainerSchema>;

const VolumeSchema = z.looseObject({
  name: z.string(),
  persistentVolumeClaim: z.looseObject({ claimName: z.string() }).nullish(),
});

export const PodSpecSchema = z.looseObject({
  nodeName: z.string().nullish(),
  containers: z.array(ContainerSchema).default([]),
  initContainers: z.array(ContainerSchema).nullish(),
  volumes: z.array(VolumeSchema).nullish(),
  affinity: z
    .looseObject({
      nodeAffinity: z.looseObject({}).nullish(),
      podAffinity: PodAffinitySchema.nullish(),
      podAntiAffinity: PodAffinitySchema.nullish(),
    })
    .nullish(),
  topologySpreadConstraints: z
    .array(
      z.looseObject({
        labelSelector: LabelSelectorSchema.nullish(),
        matchLabelKeys: z.array(z.string()).nullish(),
        topologyKey: z.string().optional(),
      }),
    )
    .nullish(),
  tolerations: z.array(z.looseObject({})).nullish(),
  priorityClassName: z.string().nullish(),
  restartPolicy: z.string().optional(),
  activeDeadlineSeconds: z.number().nullish(),
});
export type PodSpec = z.infer<typeof PodSpecSchema>;

const StateSchema = z.looseObject({
  running: z.looseObject({ startedAt: z.string().nullish() }).nullish(),
  waiting: z.looseObject({ reason: z.string().nullish(), message: z.string().nullish() }).nullish(),
  terminated: z
    .looseObject({
      exitCode: z.number(),
      reason: z.string().nullish(),
      message: z.string().nullish(),
      startedAt: z.string().nullish(),
      finishedAt: z.string().nullish(),
    })
    .nullish(),
});
export const ContainerStatusSchema = z.looseObject({
  name: z.string(),
  state: StateSchema.nullish(),
  lastState: StateSchema.nullish(),
  restartCount: z.number().optional(),
});
export type ContainerStatus = z.infer<typeof ContainerStatusSchema>;

const ConditionSchema = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().nullish(),
  message: z.string().nullish(),
  lastTransitionTime: z.string().nullish(),
});
export type Condition = z.infer<typeof ConditionSchema>;

export const PodSchema = z.looseObject({
  apiVersion: z.literal('v1').optional(),
  kind: z.literal('Pod'),
  metadata: ObjectMetaSchema,
  spec: PodSpecSchema.default({ containers: [] }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      reason: z.string().nullish(),
      message: z.string().nullish(),
      startTime: z.string().nullish(),
      conditions: z.array(ConditionSchema).nullish(),
      containerStatuses: z.array(ContainerStatusSchema).nullish(),
      initContainerStatuses: z.array(ContainerStatusSchema).nullish(),
    })
    .default({}),
});
export type Pod = z.infer<typeof PodSchema>;

export const JobSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.literal('Job'),
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    template: z.looseObject({
      metadata: z.looseObject({ labels: StringMap.nullish(), annotations: StringMap.nullish() }).nullish(),
      spec: PodSpecSchema,
    }),
    selector: LabelSelectorSchema.nullish(),
    backoffLimit: z.number().nullish(),
  }),
  status: z
    .looseObject({
      conditions: z.array(ConditionSchema).nullish(),
      active: z.number().nullish(),
      succeeded: z.number().nullish(),
      failed: z.number().nullish(),
      startTime: z.string().nullish(),
      completionTime: z.string().nullish(),
    })
    .default({}),
});
export type Job = z.infer<typeof JobSchema>;

/** Any object with metadata: what the cluster interface hands around. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

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
