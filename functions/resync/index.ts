import type { Deps } from '../core/deps.ts';
import type { FunctionDef } from '../core/http/function.ts';
import { EventType } from '../core/restore/events.ts';
import type { SweepSteps } from './sweep.ts';
import { sweep } from './sweep.ts';

export const NAME = 'resync';

/**
 * resync: on every ping, repair whatever the events missed. The chain's steps are handed in by the
 * composition root (functions/server.ts): resync never imports its sibling functions.
 */
export function createResync(steps: SweepSteps): FunctionDef<Deps> {
  // One sweep at a time per process (per Deps): a ping that arrives while a sweep runs is answered
  // at once (that sweep is the repair it asks for) instead of starting another, and holds no turn
  // of RG_MAX_IN_FLIGHT. A sweep's cost grows with what the namespaces hold; sweeps started on
  // every ping while earlier ones still ran piled up (the chaos suite at 200 groups: dozens at once
  // in one replica, none finishing in 10 minutes, every placement gate that waited for resync stuck).
  const running = new WeakMap<Deps, Promise<unknown>>();
  return {
    name: NAME,
    types: [EventType.ping],
    async handle(_event, deps) {
      if (running.has(deps)) {
        deps.log.debug('resync: a sweep is running; this ping is answered by it');
        return null;
      }
      const p = deps.cluster().then((cluster) => sweep(deps, cluster, steps));
      running.set(deps, p);
      try {
        await p;
      } finally {
        running.delete(deps);
      }
      return null;
    },
  };
}
