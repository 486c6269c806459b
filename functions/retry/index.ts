import type { Deps } from '../core/deps.ts';
import type { FunctionDef } from '../core/http/function.ts';
import { dataOf } from '../core/http/function.ts';
import { EventType, RestoreDataSchema, replyEvent } from '../core/restore/events.ts';
import { retryFailure } from './retry.ts';

export const NAME = 'retry';

/** retry: fast, bounded, somewhere else. */
export const retry: FunctionDef<Deps> = {
  name: NAME,
  types: [EventType.failed],
  async handle(event, deps) {
    const d = dataOf(RestoreDataSchema, event);
    if (d.scope === 'pod' && !d.retryable) return null; // nothing to do: no need for the cluster either
    const cluster = await deps.cluster();
    const r = await retryFailure(deps, cluster, d);
    if (!r.type || !r.data) return null;
    return replyEvent(NAME, r.type, `${d.namespace}/${d.job}`, [d.uid, r.type, d.attempt], r.data, deps.clock());
  },
};
