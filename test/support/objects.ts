/** Builders of realistic restore objects for tests: KubeBlocks and generic restore pods, Jobs, PVCs. */
import type { Job, KubeObject, Pod } from '../../functions/core/kube/objects.ts';

export interface PodOpts {
  name?: string;
  namespace?: string;
  uid?: string;
  profile?: 'kubeblocks' | 'generic';
  group?: string;
  job?: string;
  node?: string | null;
  phase?: string;
  /** restore container state: running, or terminated with an exit code. */
  restore?: 'waiting' | 'running' | { exit: number; reason?: string };
  helperRunning?: boolean;
  antiAffinity?: boolean;
  claims?: string[];
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  deletionTimestamp?: string;
  status?: Record<string, unknown>;
  /** Scheduling gates on the pod (e.g. restore-guard's placement gate). */
  gates?: string[];
  creationTimestamp?: string;
}

/** KubeBlocks names a restore's data volumes dp-claim-<pvc> / dp-claim-tpl-<pvc>; generic Jobs name them freely. */
const volumeName = (profile: string, claim: string) => (profile === 'kubeblocks' ? `dp-claim-tpl-${claim}` : claim);

const T0 = '2026-11-29T10:00:00Z';
const T1 = '2026-11-29T10:00:05Z';

export function restorePod(o: PodOpts = {}): Pod {
  const profile = o.profile ?? 'kubeblocks';
  const name = o.name ?? 'restore-0-abcde';
  const group = o.group ?? 'mysql-restore';
  const job = o.job ?? 'restore-0';
  const groupLabels: Record<string, string> =
    profile === 'kubeblocks'
      ? { 'dataprotection.kubeblocks.io/restore': group, 'app.kubernetes.io/managed-by': 'kubeblocks-dataprotection' }
      : { 'restoreguard.dev/group': group };
  const restore = o.restore ?? 'running';
  const state =
    restore === 'running'
      ? { running: { startedAt: T0 } }
      : restore === 'waiting'
        ? { waiting: { reason: 'ContainerCreating' } }
        : {
            terminated: {
              exitCode: restore.exit,
              reason: restore.reason ?? (restore.exit === 0 ? 'Completed' : 'Error'),
              startedAt: T0,
              finishedAt: T1,
            },
          };
  const containers = [{ name: profile === 'kubeblocks' ? 'restore' : 'main', image: 'restore:1' }];
  const statuses: Record<string, unknown>[] = [{ name: containers[0]!.name, state }];
  if (profile === 'kubeblocks') {
    containers.push({ name: 'restore-manager', image: 'kb-tools:1' });
    statuses.push({
      name: 'restore-manager',
      state:
        o.helperRunning === false
          ? { terminated: { exitCode: 0, startedAt: T0, finishedAt: T1 } }
          : { running: { startedAt: T0 } },
    });
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'db',
      uid: o.uid ?? `uid-${name}`,
      creationTimestamp: o.creationTimestamp ?? T0,
      labels: {
        'app.kubernetes.io/instance': 'mysql',
        'batch.kubernetes.io/job-name': job,
        'job-name': job,
        'batch.kubernetes.io/controller-uid': `uid-${job}`,
        'controller-uid': `uid-${job}`,
        ...groupLabels,
        ...o.labels,
      },
      annotations: o.annotations ?? {},
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          name: job,
          uid: `uid-${job}`,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      ...(o.deletionTimestamp ? { deletionTimestamp: o.deletionTimestamp } : {}),
    },
    spec: {
      ...(o.node === null ? {} : { nodeName: o.node ?? 'node-1' }),
      ...(o.gates ? { schedulingGates: o.gates.map((name) => ({ name })) } : {}),
      restartPolicy: 'Never',
      containers,
      volumes: (o.claims ?? ['data-mysql-0']).map((c) => ({
        name: volumeName(profile, c),
        persistentVolumeClaim: { claimName: c },
      })),
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }],
      priorityClassName: 'high',
      ...(o.antiAffinity === false
        ? {}
        : {
            affinity: {
              podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [
                  {
                    labelSelector: {
                      matchLabels: { 'app.kubernetes.io/instance': 'mysql' },
                      matchExpressions: [{ key: 'dataprotection.kubeblocks.io/restore', operator: 'Exists' }],
                    },
                    topologyKey: 'kubernetes.io/hostname',
                  },
                ],
              },
            },
          }),
    },
    // A pod whose restore still runs is built as its bind (Pending, on its node): the update that
    // carries news (see isNews); a finished restore's pod as Running (a sidecar may keep it so).
    status: {
      phase: o.phase ?? (restore === 'running' ? 'Pending' : 'Running'),
      startTime: T0,
      containerStatuses: statuses,
      ...o.status,
    },
  } as unknown as Pod;
}

export interface JobOpts {
  name?: string;
  namespace?: string;
  profile?: 'kubeblocks' | 'generic';
  group?: string;
  condition?: { type: string; reason?: string } | null;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  claims?: string[];
  /** Scheduling gates on the pod template. */
  gates?: string[];
}

export function restoreJob(o: JobOpts = {}): Job {
  const name = o.name ?? 'restore-0';
  const profile = o.profile ?? 'kubeblocks';
  const group = o.group ?? 'mysql-restore';
  const groupLabels: Record<string, string> =
    profile === 'kubeblocks' ? { 'dataprotection.kubeblocks.io/restore': group } : { 'restoreguard.dev/group': group };
  const pod = restorePod({ profile, group, job: name });
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: o.namespace ?? 'db',
      uid: `uid-${name}`,
      creationTimestamp: T0,
      labels: { ...(profile === 'kubeblocks' ? groupLabels : {}), ...o.labels },
      annotations: o.annotations ?? {},
    },
    spec: {
      backoffLimit: 0,
      selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': `uid-${name}` } },
      template: {
        metadata: {
          labels: {
            'app.kubernetes.io/instance': 'mysql',
            ...groupLabels,
            'batch.kubernetes.io/controller-uid': `uid-${name}`,
            'controller-uid': `uid-${name}`,
            'job-name': name,
          },
        },
        spec: {
          ...pod.spec,
          nodeName: undefined,
          ...(o.gates ? { schedulingGates: o.gates.map((name) => ({ name })) } : {}),
          volumes: (o.claims ?? ['data-mysql-0']).map((c) => ({
            name: volumeName(profile, c),
            persistentVolumeClaim: { claimName: c },
          })),
        },
      },
    },
    status: o.condition
      ? {
          startTime: T0,
          conditions: [
            { type: o.condition.type, status: 'True', reason: o.condition.reason ?? null, lastTransitionTime: T1 },
          ],
        }
      : { startTime: T0, active: 1 },
  } as unknown as Job;
}

export function pvc(name: string, namespace = 'db', annotations: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace, uid: `uid-${name}`, annotations },
    spec: {},
  };
}

export const TIMES = { T0, T1 };

/** KubeBlocks' Restore (the object its restore pods' group is named after), in a phase. */
export function restoreCr(phase = 'Running', name = 'mysql-restore'): KubeObject {
  return {
    apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
    kind: 'Restore',
    metadata: { name, namespace: 'db', uid: name === 'mysql-restore' ? 'uid-r' : `uid-${name}` },
    status: { phase },
  } as KubeObject;
}
