import type { Deps } from '../core/deps.ts';
import { InvalidEventError } from '../core/errors.ts';
import type { CloudEvent } from '../core/http/cloudevent.ts';
import type { FunctionDef } from '../core/http/function.ts';
import { dataOf } from '../core/http/function.ts';
import type { RestoreData } from '../core/restore/events.ts';
import { API_TYPES, EventType, ResourceDataSchema, podEnded, replyEvent, stateType } from '../core/restore/events.ts';
import { isNews, judgeObject } from '../core/restore/judge.ts';

export const NAME = 'completion';

/** Ids of completion replies: the object's uid, the outcome and whether the pod ended, so duplicates are droppable. */
export function outcomeCloudEvent(fn: string, d: RestoreData, time: Date): CloudEvent {
  const subject = `${d.namespace}/${d.scope === 'job' ? d.job : d.pod}`;
  const idParts =
    d.state === 'placed'
      ? [d.uid, d.state, d.node]
      : [
          d.uid,
          d.scope,
          d.state,
          d.reason,
          ...(d.scope === 'pod' ? [podEnded(d)] : []),
          ...(d.recorded ? ['recorded'] : []),
        ];
  return replyEvent(fn, stateType(d.state), subject, idParts, d, time);
}

/**
 * completion: what happened, as a function of the event alone (no API call).
 * Irrelevant objects leave on the fast path: their labels are read before anything is validated.
 */
export const completion: FunctionDef<Deps> = {
  name: NAME,
  types: API_TYPES,
  async handle(event, deps) {
    const raw = event.data as
      | { kind?: unknown; metadata?: { namespace?: string; labels?: Record<string, string> } }
      | undefined;
    if (!raw || typeof raw !== 'object') throw new InvalidEventError(`event ${event.id} carries no object`);
    if (raw.kind === 'Restore') return null; // KubeBlocks' Restore: release's business, nothing to judge here
    if (raw.kind !== 'Pod' && raw.kind !== 'Job') {
      throw new InvalidEventError(`event ${event.id} carries a ${String(raw.kind)}; completion takes Pods and Jobs`, {
        hint: 'select only Pods and Jobs in the ApiServerSource (eventing/apiserversource.yaml)',
      });
    }
    // Fast path: most Pod updates in a cluster are not restores.
    const tmpl = (raw as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }).spec?.template
      ?.metadata?.labels;
    const labels = raw.kind === 'Job' && tmpl ? { ...tmpl, ...(raw.metadata?.labels ?? {}) } : raw.metadata?.labels;
    if (!deps.selector.selectLabels(raw.metadata?.namespace, labels)) return null;

    const obj = dataOf(ResourceDataSchema, event);
    const time = event.time ? new Date(event.time) : deps.clock();
    const deleted = event.type === EventType.apiDelete;
    const decided = judgeObject(obj, deps, deleted, Number.isNaN(time.getTime()) ? deps.clock() : time);
    // Only news goes on: a repeat the object itself shows handled ends here, with no request.
    return decided && isNews(obj, decided, deleted) ? outcomeCloudEvent(NAME, decided, deps.clock()) : null;
  },
};
