/**
 * The opt-in placement gate (generic profile; README, Profiles): restore pods created with
 * restore-guard's scheduling gate wait until every sibling that was let go before them is anchored,
 * then restore-guard lifts the gate of one pod at a time. Without it, a restore that ends before its
 * anchor exists (its whole run shorter than placement → anchor) leaves a window in which kube-scheduler
 * no longer sees it and may put a sibling on its node.
 */
import type { Deps } from '../deps.ts';
import { TransientClusterError, isConflict } from '../errors.ts';
import type { Cluster } from '../kube/cluster.ts';
import type { KubeObject, Pod } from '../kube/objects.ts';
import { readPod } from '../kube/objects.ts';
import { selectorKeys } from './anchors.ts';
import { hasPlacementGate } from './judge.ts';
import type { Keys } from './keys.ts';
import { keys } from './keys.ts';
import type { ProfileName } from './selection.ts';

export interface GateDecision {
  /** The gated pod whose gate may be lifted now, or null. */
  admit: Pod | null;
  /** Siblings let go but not yet anchored: the gate stays until they are. */
  waitingFor: string[];
  gated: number;
}

/**
 * Pure: which gated pod of a group may be scheduled now. Every sibling already let go must be
 * settled: anchored (an anchor stands for its uid), failed (its anchor goes for its retry), going,
 * or without (anti-)affinity or spread rules (nothing to anchor). Then the oldest gated pod goes,
 * one at a time, so two concurrent decisions pick the same pod.
 */
export function gateDecision(pods: Pod[], anchors: KubeObject[], domain: string): GateDecision {
  const k: Keys = keys(domain);
  const anchored = new Set(anchors.map((a) => a.metadata.annotations?.[k.anchorUid]).filter(Boolean));
  const gated: Pod[] = [];
  const waitingFor: string[] = [];
  for (const p of pods) {
    if (p.metadata.deletionTimestamp) continue;
    if (!p.spec.nodeName && hasPlacementGate(p, domain)) {
      gated.push(p);
      continue;
    }
    if (p.status.phase === 'Failed') continue;
    if (selectorKeys(p.spec).length === 0) continue;
    if (p.metadata.uid && anchored.has(p.metadata.uid)) continue;
    waitingFor.push(p.metadata.name);
  }
  gated.sort(
    (a, b) =>
      (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  return { admit: waitingFor.length ? null : (gated[0] ?? null), waitingFor, gated: gated.length };
}

/**
 * Lifts the placement gate of the group's next pod when the decision allows it. Level-triggered:
 * called after every anchor, record and gated pod of a gated group, and by resync. The patch carries
 * the pod's resourceVersion, so it never undoes a concurrent change to the pod's gates. Returns the
 * pod let go, or null.
 */
export async function admitNext(
  deps: Pick<Deps, 'config' | 'log' | 'selector'>,
  cluster: Cluster,
  namespace: string,
  profile: ProfileName,
  group: string,
): Promise<string | null> {
  const k = keys(deps.config.RG_DOMAIN);
  const sel = deps.selector.groupSelector({ profile, group });
  for (let attempt = 0; attempt < 3; attempt++) {
    const [members, anchors] = await Promise.all([
      cluster.list('Pod', namespace, `${sel},!${k.anchorFor}`),
      cluster.list('Pod', namespace, `${k.group}=${group},${k.anchorFor}`),
    ]);
    const pods = members.map((m) => readPod(m)!);
    const d = gateDecision(pods, anchors, deps.config.RG_DOMAIN);
    if (!d.admit) {
      if (d.gated)
        deps.log.debug('placement gate held', { namespace, group, gated: d.gated, waitingFor: d.waitingFor });
      return null;
    }
    const pod = d.admit;
    const rest = (pod.spec.schedulingGates ?? []).filter((g) => g.name !== k.gate);
    try {
      await cluster.patch('Pod', namespace, pod.metadata.name, {
        metadata: { resourceVersion: pod.metadata.resourceVersion },
        spec: { schedulingGates: rest.length ? rest : null },
      });
      deps.log.info('placement gate lifted', { namespace, group, pod: pod.metadata.name, stillGated: d.gated - 1 });
      return pod.metadata.name;
    } catch (e) {
      if (!isConflict(e)) throw e; // the pod changed meanwhile: decide again on what is there now
    }
  }
  throw new TransientClusterError(`placement gate of group ${namespace}/${group}: still conflicting after 3 attempts`, {
    hint: 'transient; the event will be redelivered',
  });
}

/** Does a Job's pod template carry our placement gate (its group is gated)? */
export function templateGated(job: KubeObject | null, domain: string): boolean {
  const spec = (job as { spec?: { template?: { spec?: { schedulingGates?: { name?: string }[] } } } } | null)?.spec
    ?.template?.spec;
  return (spec?.schedulingGates ?? []).some((g) => g.name === keys(domain).gate);
}
