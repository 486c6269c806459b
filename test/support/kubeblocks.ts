/**
 * KubeBlocks-style restores made by KubeBlocks' own dataprotection controller on the rig: the test
 * creates what KubeBlocks' other controllers and an operator would have made (ActionSets, Backups with
 * their status, pre-bound PVCs) and a Restore; the controller makes the Jobs, the restore-manager
 * sidecars, the stop signal, the Serial deletions and the point-in-time backup sets.
 */
import type { Kube } from '../rig/http.ts';
import { saKubeconfig, startAdapter, type AdapterHandle } from '../rig/index.ts';
import { createBoundClaim, type Chain } from './chain.ts';

export const DP = '/apis/dataprotection.kubeblocks.io/v1alpha1';
export const FULL_BACKUP = 'full-1';
export const CONTINUOUS_BACKUP = 'wal-1';
const POLICY = 'pg-policy';

/** What a point-in-time restore asks for: after the full backup ended, within the continuous one. */
export const RESTORE_TIME = '2026-12-01T10:30:00Z';

/** The ActionSets (cluster-scoped) and the two Backups of a namespace: a full one and a continuous one. */
export async function ensureBackups(kube: Kube, ns: string): Promise<void> {
  const actionSet = (name: string, backupType: string) => ({
    apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
    kind: 'ActionSet',
    metadata: { name },
    spec: {
      backupType,
      backup: { backupData: { image: 'registry.invalid/busybox:1.36', command: ['sh', '-c', 'true'] } },
      restore: { prepareData: { image: 'registry.invalid/busybox:1.36', command: ['sh', '-c', 'true'] } },
    },
  });
  await kube.create(`${DP}/actionsets`, actionSet('rig-full', 'Full'));
  await kube.create(`${DP}/actionsets`, actionSet('rig-continuous', 'Continuous'));
  const backup = (name: string, type: string, method: string) => ({
    apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
    kind: 'Backup',
    // Made by hand, never by KubeBlocks' backup controller: it must leave them alone.
    metadata: {
      name,
      annotations: { 'dataprotection.kubeblocks.io/skip-reconciliation': 'true' },
      labels: {
        'dataprotection.kubeblocks.io/backup-type': type,
        'dataprotection.kubeblocks.io/backup-policy': POLICY,
      },
    },
    spec: { backupPolicyName: POLICY, backupMethod: method },
  });
  await kube.create(`${DP}/namespaces/${ns}/backups`, backup(FULL_BACKUP, 'Full', 'full'));
  await kube.create(`${DP}/namespaces/${ns}/backups`, backup(CONTINUOUS_BACKUP, 'Continuous', 'wal'));
  // status.target.podSelector is required in practice: without it the controller dereferences nil.
  await kube.must(
    'PATCH',
    `${DP}/namespaces/${ns}/backups/${FULL_BACKUP}/status`,
    {
      status: {
        phase: 'Completed',
        path: `/${ns}/${FULL_BACKUP}`,
        startTimestamp: '2026-12-01T10:00:00Z',
        completionTimestamp: '2026-12-01T10:05:00Z',
        backupMethod: { name: 'full', actionSetName: 'rig-full' },
        target: { podSelector: { strategy: 'Any' } },
      },
    },
    [],
    'application/merge-patch+json',
  );
  await kube.must(
    'PATCH',
    `${DP}/namespaces/${ns}/backups/${CONTINUOUS_BACKUP}/status`,
    {
      status: {
        phase: 'Running',
        path: `/${ns}/${CONTINUOUS_BACKUP}`,
        timeRange: { start: '2026-12-01T10:01:00Z', end: '2026-12-01T11:00:00Z' },
        backupMethod: { name: 'wal', actionSetName: 'rig-continuous' },
        target: { podSelector: { strategy: 'Any' } },
      },
    },
    [],
    'application/merge-patch+json',
  );
}

export interface KubeBlocksRestoreOptions {
  name: string;
  /** app.kubernetes.io/instance (the cluster) and apps.kubeblocks.io/component-name */
  instance: string;
  component: string;
  replicas: number;
  policy: 'Serial' | 'Parallel';
  /** point in time: the full backup, then the continuous one, onto the same PVCs */
  pointInTime?: boolean;
  /** first replica index (a second instance template of the same component starts later) */
  startingIndex?: number;
  /** the volume claim template's name (instance templates have their own) */
  template?: string;
  /** how long each restore container runs (ms) and how it exits (KWOK stages read them from the env) */
  runMs?: number;
  exitCode?: number;
  /** restrict the restore pods to these nodes (required node affinity) */
  nodes?: string[];
  backoffLimit?: number;
}

export interface KubeBlocksRestore {
  name: string;
  uid: string;
  claims: string[];
}

/** Pre-bound PVCs (the rig runs no PV binder), then the Restore itself. */
export async function createKubeBlocksRestore(
  kube: Kube,
  ns: string,
  o: KubeBlocksRestoreOptions,
): Promise<KubeBlocksRestore> {
  const template = o.template ?? `data-${o.instance}-${o.component}`;
  const start = o.startingIndex ?? 0;
  const labels = { 'app.kubernetes.io/instance': o.instance, 'apps.kubeblocks.io/component-name': o.component };
  const claims = Array.from({ length: o.replicas }, (_, i) => `${template}-${start + i}`);
  for (const claim of claims) await createBoundClaim(kube, ns, claim, labels);
  const affinity: Record<string, unknown> = {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: labels }, topologyKey: 'kubernetes.io/hostname' },
      ],
    },
  };
  if (o.nodes) {
    affinity.nodeAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: o.nodes }] }],
      },
    };
  }
  const env = [{ name: 'RIG_RUN_MS', value: String(o.runMs ?? 0) }];
  if (o.exitCode) env.push({ name: 'RIG_EXIT_CODE', value: String(o.exitCode) });
  const restore = await kube.post(`${DP}/namespaces/${ns}/restores`, {
    apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
    kind: 'Restore',
    metadata: { name: o.name },
    spec: {
      backup: { name: o.pointInTime ? CONTINUOUS_BACKUP : FULL_BACKUP, namespace: ns },
      ...(o.pointInTime ? { restoreTime: RESTORE_TIME } : {}),
      env,
      ...(o.backoffLimit !== undefined ? { backoffLimit: o.backoffLimit } : {}),
      prepareDataConfig: {
        volumeClaimRestorePolicy: o.policy,
        schedulingSpec: { affinity },
        volumeClaimsTemplate: {
          replicas: o.replicas,
          ...(start ? { startingIndex: start } : {}),
          templates: [
            {
              metadata: { name: template, labels },
              mountPath: '/data',
              volumeClaimSpec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
            },
          ],
        },
      },
    },
  });
  return { name: o.name, uid: restore.metadata.uid, claims };
}

export async function restorePhase(kube: Kube, ns: string, name: string): Promise<string | undefined> {
  return (await kube.find(`${DP}/namespaces/${ns}/restores/${name}`))?.status?.phase;
}

/**
 * The second ApiServerSource of a guard chain, over KubeBlocks' Restores of its namespace (as
 * eventing/ deploys it): restore-guard releases a KubeBlocks group on its Restore's own event.
 */
export async function watchRestores(chain: Chain): Promise<AdapterHandle> {
  if (!chain.ingress) throw new Error(`watchRestores: chain ${chain.ns} runs no restore-guard (mode plain)`);
  const handle = startAdapter({
    name: `restores-${chain.ns}`,
    sink: chain.ingress,
    namespaces: [chain.ns],
    resources: [{ group: 'dataprotection.kubeblocks.io', version: 'v1alpha1', resource: 'restores' }],
    kubeconfig: await saKubeconfig('restore-guard', 'restore-guard-source'),
  });
  await handle.ready;
  return handle;
}

/** Deletes a namespace's Restores (they carry KubeBlocks' finalizer: call it while the controller runs). */
export async function deleteRestores(kube: Kube, ns: string): Promise<void> {
  const list = await kube.find(`${DP}/namespaces/${ns}/restores`);
  for (const r of list?.items ?? []) await kube.del(`${DP}/namespaces/${ns}/restores/${r.metadata.name}`);
}
