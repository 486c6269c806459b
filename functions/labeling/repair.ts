import type { Cluster } from '../core/kube/cluster.ts';
import type { Deps } from '../core/deps.ts';
import { readJob, readPod } from '../core/kube/objects.ts';
import type { AnchorResult } from '../core/restore/anchors.ts';
import { anchorsOf, ensureAnchor, reanchorFromRecord } from '../core/restore/anchors.ts';
import { succeededMembers } from '../core/restore/records.ts';
import type { AnchorLostData } from '../core/restore/events.ts';
import { judgeObject } from '../core/restore/judge.ts';
import { keys } from '../core/restore/keys.ts';

/** What a repair did: ensureAnchor's answer, or nothing live or recorded stands for the member. */
export type RepairResult = AnchorResult | 'pod-gone';

/**
 * An anchor was lost (preempted, evicted, drained, or it ended): recreate it while it is needed,
 * judged on the live objects, never on the event.
 * - The restore pod it stands for is live (same uid), selected and not yet recorded: ensureAnchor
 *   finds no anchor of that pod holding, creates one on the pod's node and deletes the ended one.
 * - The member finished (its pod recorded, or gone: release deletes it): its Job's history, written
 *   from the live pod, records it as succeeded on a node; the anchor is rebuilt from the Job's pod
 *   template on that node (reanchorFromRecord), unless its KubeBlocks Restore has ended (the group is
 *   done: its anchors went with it). The event only says which member lost its anchor.
 * A failed member's anchor, or one whose Job is gone (KubeBlocks' Serial policy deletes each finished
 * Job), is not recreated.
 */
export async function repairAnchor(deps: Deps, cluster: Cluster, d: AnchorLostData): Promise<RepairResult> {
  const k = keys(deps.config.RG_DOMAIN);
  const about = { namespace: d.namespace, group: d.group, anchor: d.anchor, pod: d.pod, reason: d.reason };
  const pod = readPod(await cluster.get('Pod', d.namespace, d.pod));
  const live = pod && pod.metadata.uid === d.uid ? pod : null;
  const sel = live ? deps.selector.selectPod(live) : null;
  if (live && sel && live.metadata.labels?.[k.state] === undefined) {
    const judged = judgeObject(live, deps, false, deps.clock());
    const result = await ensureAnchor(deps, cluster, live, sel, judged?.job ?? null);
    deps.log.info(result === 'created' ? 'lost anchor recreated' : 'lost anchor not recreated', { ...about, result });
    return result;
  }
  // The member finished: what outlives its pod is its Job's record.
  const job = d.job ? readJob(await cluster.get('Job', d.namespace, d.job)) : null;
  const jsel = job ? deps.selector.selectJob(job) : null;
  const entry = job && succeededMembers(job, k).find((e) => e.uid === d.uid && e.pod === d.pod);
  if (!job || !jsel || jsel.group !== d.group || jsel.profile !== d.profile || !entry) {
    deps.log.info('anchor lost; nothing live or recorded stands for its member: not recreated', {
      ...about,
      job: d.job ?? null,
    });
    return 'pod-gone';
  }
  const restore = jsel.profile === 'kubeblocks' ? await cluster.get('Restore', d.namespace, d.group) : null;
  const phase = (restore?.status as { phase?: string } | undefined)?.phase;
  if (phase === 'Completed' || phase === 'Failed') return 'skipped'; // the group is done
  const result = await reanchorFromRecord(
    deps,
    cluster,
    job,
    entry,
    jsel,
    await anchorsOf(cluster, k, d.namespace, d.pod),
    restore,
  );
  deps.log.info(result === 'created' ? 'lost anchor recreated' : 'lost anchor not recreated', {
    ...about,
    result,
    from: 'record',
  });
  return result;
}
