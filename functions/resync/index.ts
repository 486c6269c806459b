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
  return {
    name: NAME,
    types: [EventType.ping],
    async handle(_event, deps) {
      await sweep(deps, await deps.cluster(), steps);
      return null;
    },
  };
}
