import type { Cluster } from '../kube/cluster.ts';
import type { Deps } from '../deps.ts';
import type { Pod } from '../kube/objects.ts';
import { annotationsOf } from '../kube/objects.ts';
import { KB } from './keys.ts';
import type { Selection } from './selection.ts';

/**
 * Sets KubeBlocks' stop annotation on a pod whose restore container has terminated: at once on a
 * failure (so the Job's own retry can start), after the anchor exists on success.
 */
export async function earlyStop(deps: Deps, cluster: Cluster, pod: Pod, sel: Selection): Promise<boolean> {
  if (sel.profile !== 'kubeblocks') return false;
  if (annotationsOf(pod)[KB.stop] === 'true') return false;
  if (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') return false;
  if (!pod.spec.containers.some((c) => sel.helpers.includes(c.name))) return false;
  await cluster.patch('Pod', sel.namespace, pod.metadata.name, { metadata: { annotations: { [KB.stop]: 'true' } } });
  deps.log.info('early stop signalled', { namespace: sel.namespace, pod: pod.metadata.name });
  return true;
}
