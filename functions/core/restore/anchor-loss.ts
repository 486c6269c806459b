import type { Pod } from '../kube/objects.ts';
import { annotationsOf, labelsOf } from '../kube/objects.ts';
import type { AnchorLostData } from './events.ts';
import { AnchorLostDataSchema } from './events.ts';
import { disruptionTarget } from './judge.ts';
import { keys } from './keys.ts';
import type { Reason } from './reasons.ts';

/**
 * Why Kubernetes took a pod away, from its DisruptionTarget condition (set before the pod is deleted):
 * what an anchor's loss means for its footprint. Null: not disrupted by Kubernetes (deleted by
 * restore-guard itself, which never sets it, or by hand). 'node' : its node is gone or tainted
 * NoExecute (the pod garbage collector, the taint manager): the anchor is dropped, not recreated.
 */
export function disruption(pod: Pick<Pod, 'status'>): Reason | 'node' | null {
  const target = disruptionTarget(pod);
  if (!target) return null;
  if (target.reason === 'NodeLost') return 'node';
  return target.reason ?? 'Deleted';
}

/**
 * Has this anchor lost its hold on its node in a way restore-guard must repair? A pure function of
 * the event's object (completion's rule: no API call), so the common anchor events end here with
 * no request: an anchor created, turning Running, or deleted by restore-guard itself (its group
 * complete, a lease renewal, its pod's failure) is no news.
 * - deleted by Kubernetes (preempted, evicted, drained: the DisruptionTarget condition says so);
 * - ended while it still exists (its lease ran out, the kubelet evicted it): phase Failed or Succeeded.
 * Not a loss to repair: a deletion without DisruptionTarget (restore-guard's own, or a person's),
 * an anchor whose node is gone (the pod garbage collector, the taint manager), one being deleted,
 * one the kubelet refused to run (resync replaces ended anchors on its next ping).
 * The answer names what to repair; labeling judges the live objects before it writes anything.
 */
export function judgeAnchorLoss(anchor: Pod, deleted: boolean, domain: string): AnchorLostData | null {
  const k = keys(domain);
  const labels = labelsOf(anchor);
  const ann = annotationsOf(anchor);
  const group = labels[k.group];
  const pod = ann[k.anchorPod] ?? labels[k.anchorFor];
  const uid = ann[k.anchorUid];
  if (!group || !pod || !uid || !anchor.metadata.namespace) return null;
  const why = disruption(anchor);
  let reason: Reason;
  if (deleted) {
    if (why === null || why === 'node') return null;
    reason = why;
  } else {
    const phase = anchor.status.phase;
    if (anchor.metadata.deletionTimestamp || (phase !== 'Failed' && phase !== 'Succeeded')) return null;
    if (why === 'node') return null;
    const status = anchor.status.reason;
    // The kubelet refused it (OutOfcpu, OutOfpods, NodeAffinity...): the same node would refuse its
    // copy at once, and repairing each refusal would be a loop; resync tries again on its next ping.
    if (!why && status !== 'DeadlineExceeded' && status !== 'Evicted') return null;
    reason = why ?? (status as 'DeadlineExceeded' | 'Evicted');
  }
  const parsed = AnchorLostDataSchema.safeParse({
    namespace: anchor.metadata.namespace,
    group,
    profile: ann[k.profile] === 'kubeblocks' ? 'kubeblocks' : 'generic',
    anchor: anchor.metadata.name,
    anchorUid: anchor.metadata.uid ?? null,
    pod,
    uid,
    job: ann[k.anchorJob] ?? null,
    node: anchor.spec.nodeName ?? null,
    reason,
    deleted,
  });
  // An anchor whose names do not validate is not ours to repair (and never reaches a selector).
  return parsed.success ? parsed.data : null;
}
