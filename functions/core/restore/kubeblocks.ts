import type { Cluster } from '../kube/cluster.ts';
import type { Deps } from '../deps.ts';
import type { KubeObject, Pod } from '../kube/objects.ts';
import { annotationsOf } from '../kube/objects.ts';
import { KB } from './keys.ts';
import type { Selection } from './selection.ts';

/**
 * The annotations that stop a KubeBlocks pod's helper sidecar, or null when there is nothing to stop
 * (another profile, stopped already, the pod ended, no helper). Pure: labeling sends them in the
 * same patch as the pod's record.
 */
export function stopAnnotations(pod: Pod, sel: Selection): Record<string, string> | null {
  if (sel.profile !== 'kubeblocks') return null;
  if (annotationsOf(pod)[KB.stop] === 'true') return null;
  if (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') return null;
  if (!pod.spec.containers.some((c) => sel.helpers.includes(c.name))) return null;
  return { [KB.stop]: 'true' };
}

/**
 * Sets KubeBlocks' stop annotation on a pod whose restore container has terminated: at once on a
 * failure (so the Job's own retry can start), after the anchor exists on success.
 */
export async function earlyStop(deps: Deps, cluster: Cluster, pod: Pod, sel: Selection): Promise<boolean> {
  const stop = stopAnnotations(pod, sel);
  if (!stop) return false;
  await cluster.patch('Pod', sel.namespace, pod.metadata.name, { metadata: { annotations: stop } });
  deps.log.info('early stop signalled', { namespace: sel.namespace, pod: pod.metadata.name });
  return true;
}

/**
 * The PVCs a KubeBlocks Restore restores into, from its spec: its fixed volumeClaims, and for each
 * volumeClaimsTemplate `<template>-<startingIndex + i>` for every replica. When a restore's pod and Job
 * are both gone (KubeBlocks deletes its Jobs, and so their pods, as soon as the Restore is Completed),
 * the live Restore still says which PVCs its outcome belongs on.
 */
export function restoreClaimsOfRestore(restore: KubeObject | null): string[] {
  type Named = { metadata?: { name?: string } };
  const cfg = (
    restore?.spec as
      | {
          prepareDataConfig?: {
            volumeClaims?: Named[];
            volumeClaimsTemplate?: { replicas?: number; startingIndex?: number; templates?: Named[] };
          };
        }
      | undefined
  )?.prepareDataConfig;
  if (!cfg) return [];
  const fixed = (cfg.volumeClaims ?? []).flatMap((c) => (c.metadata?.name ? [c.metadata.name] : []));
  const tpl = cfg.volumeClaimsTemplate;
  const start = tpl?.startingIndex ?? 0;
  const replicas = Math.min(tpl?.replicas ?? 0, 10_000);
  const templated = (tpl?.templates ?? []).flatMap((t) =>
    t.metadata?.name ? Array.from({ length: replicas }, (_, i) => `${t.metadata!.name}-${start + i}`) : [],
  );
  return [...fixed, ...templated];
}
