import type { Deps } from '../core/deps.ts';
import { InvalidEventError } from '../core/errors.ts';
import type { CloudEvent } from '../core/http/cloudevent.ts';
import type { FunctionDef } from '../core/http/function.ts';
import { dataOf } from '../core/http/function.ts';
import type { AnchorLostData, RestoreData } from '../core/restore/events.ts';
import { API_TYPES, EventType, ResourceDataSchema, podEnded, replyEvent, stateType } from '../core/restore/events.ts';
import { judgeAnchorLoss } from '../core/restore/anchor-loss.ts';
import { isNews, judgeObject } from '../core/restore/judge.ts';
import { keys } from '../core/restore/keys.ts';

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

/** An anchor's loss, once per anchor (its uid): a repeat is droppable. */
export function anchorLostEvent(fn: string, d: AnchorLostData, time: Date): CloudEvent {
  return replyEvent(fn, EventType.anchorLost, `${d.namespace}/${d.anchor}`, [d.anchorUid ?? d.anchor, 'lost'], d, time);
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
    const deleted = event.type === EventType.apiDelete;
    // Our own anchors (their own ApiServerSource entry): only a loss Kubernetes caused is news, judged
    // from the event alone, so an anchor's creation, start and release end here with no request.
    if (raw.kind === 'Pod' && raw.metadata?.labels?.[keys(deps.config.RG_DOMAIN).anchorFor] !== undefined) {
      const anchor = dataOf(ResourceDataSchema, event);
      const lost = anchor.kind === 'Pod' ? judgeAnchorLoss(anchor, deleted, deps.config.RG_DOMAIN) : null;
      return lost ? anchorLostEvent(NAME, lost, deps.clock()) : null;
    }
    // Fast path: most Pod updates in a cluster are not restores.
    const tmpl = (raw as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }).spec?.template
      ?.metadata?.labels;
    const labels = raw.kind === 'Job' && tmpl ? { ...tmpl, ...(raw.metadata?.labels ?? {}) } : raw.metadata?.labels;
    if (!deps.selector.selectLabels(raw.metadata?.namespace, labels)) return null;

    const obj = dataOf(ResourceDataSchema, event);
    const time = event.time ? new Date(event.time) : deps.clock();
    const decided = judgeObject(obj, deps, deleted, Number.isNaN(time.getTime()) ? deps.clock() : time);
    // Only news goes on: a repeat the object itself shows handled ends here, with no request.
    return decided && isNews(obj, decided, deleted) ? outcomeCloudEvent(NAME, decided, deps.clock()) : null;
  },
};
