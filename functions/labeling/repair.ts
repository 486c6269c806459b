import type { Cluster } from '../core/kube/cluster.ts';
import type { Deps } from '../core/deps.ts';
import { readPod } from '../core/kube/objects.ts';
import type { AnchorResult } from '../core/restore/anchors.ts';
import { ensureAnchor } from '../core/restore/anchors.ts';
import type { AnchorLostData } from '../core/restore/events.ts';
import { judgeObject } from '../core/restore/judge.ts';

/** What a repair did: ensureAnchor's answer, or the restore pod the anchor stood for is gone. */
export type RepairResult = AnchorResult | 'pod-gone';

/**
 * An anchor was lost (preempted, evicted, drained, or it ended): recreate it while it is needed,
 * judged on the live objects, never on the event. The restore pod it stands for, if it is still
 * live (same uid), selected and not yet recorded, gets its anchor again through ensureAnchor, which
 * finds no anchor of that pod holding, creates the next generation on the pod's node and deletes the
 * ended one; a pod that failed, or whose outcome is recorded, is left as ensureAnchor leaves it.
 * A member whose pod is gone is not re-anchored here: nothing live stands for its footprint (its
 * lost anchor is known only from the event), so resync renews what still exists and its PVC keeps
 * its record (README, Profiles).
 */
export async function repairAnchor(deps: Deps, cluster: Cluster, d: AnchorLostData): Promise<RepairResult> {
  const pod = readPod(await cluster.get('Pod', d.namespace, d.pod));
  const about = { namespace: d.namespace, group: d.group, anchor: d.anchor, pod: d.pod, reason: d.reason };
  if (!pod || pod.metadata.uid !== d.uid) {
    deps.log.info('anchor lost; the restore pod it stood for is gone: not recreated', about);
    return 'pod-gone';
  }
  const sel = deps.selector.selectPod(pod);
  if (!sel) return 'skipped';
  const judged = judgeObject(pod, deps, false, deps.clock());
  const result = await ensureAnchor(deps, cluster, pod, sel, judged?.job ?? null);
  deps.log.info(result === 'created' ? 'lost anchor recreated' : 'lost anchor not recreated', { ...about, result });
  return result;
}
