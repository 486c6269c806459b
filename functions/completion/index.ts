import type { CloudEvent } from '../core/http/cloudevent.ts';
import type { Deps } from '../core/deps.ts';
import { InvalidEventError } from '../core/errors.ts';
import type { RestoreData } from '../core/restore/events.ts';
import { API_TYPES, ResourceDataSchema, T, replyEvent, stateType } from '../core/restore/events.ts';
import type { FunctionDef } from '../core/http/function.ts';
import { dataOf } from '../core/http/function.ts';
import type { Job, Pod } from '../core/kube/objects.ts';
import type { JudgeContext } from '../core/restore/judge.ts';
import { judgeJob, judgePod } from '../core/restore/judge.ts';

export const NAME = 'completion';

/**
 * Whether the pod itself has ended. A KubeBlocks pod's restore container may finish while its
 * sidecar keeps the pod Running: the outcome is then told twice (running, then ended), and the
 * second telling is news (release deletes ended pods), so it gets its own id.
 */
export function podEnded(d: Pick<RestoreData, 'phase'>): 'ended' | 'running' {
  return d.phase === 'Succeeded' || d.phase === 'Failed' ? 'ended' : 'running';
}

/** Ids of completion replies: the object's uid, the outcome and whether the pod ended, so duplicates are droppable. */
export function outcomeEvent(fn: string, d: RestoreData, time: Date): CloudEvent {
  const subject = `${d.namespace}/${d.scope === 'job' ? d.job : d.pod}`;
  const idParts = d.state === 'placed' ? [d.uid, d.state, d.node] : [d.uid, d.scope, d.state, d.reason, ...(d.scope === 'pod' ? [podEnded(d)] : [])];
  return replyEvent(fn, stateType(d.state), subject, idParts, d, time);
}

/** The judgement's context from configuration and the event's time. */
export function judgeContext(deps: Deps, deleted: boolean, time: Date): JudgeContext {
  return {
    policy: deps.config,
    domain: deps.config.RG_DOMAIN,
    imagePullGraceSeconds: deps.config.RG_IMAGE_PULL_GRACE_SECONDS,
    deleted,
    now: time,
  };
}

/** Judges any Pod or Job; null when it is not a selected restore object or there is nothing to say. */
export function judge(obj: Pod | Job, deps: Deps, deleted: boolean, time: Date): RestoreData | null {
  const ctx = judgeContext(deps, deleted, time);
  if (obj.kind === 'Pod') {
    const sel = deps.selector.selectPod(obj);
    return sel ? judgePod(obj, sel, ctx) : null;
  }
  const sel = deps.selector.selectJob(obj);
  return sel ? judgeJob(obj, sel, ctx) : null;
}

/**
 * completion: what happened, as a function of the event alone (no API call).
 * Irrelevant objects leave on the fast path: their labels are read before anything is validated.
 */
export const completion: FunctionDef = {
  name: NAME,
  types: API_TYPES,
  async handle(event, deps) {
    const raw = event.data as { kind?: unknown; metadata?: { namespace?: string; labels?: Record<string, string> } } | undefined;
    if (!raw || typeof raw !== 'object') throw new InvalidEventError(`event ${event.id} carries no object`);
    if (raw.kind === 'Restore') return null; // KubeBlocks' Restore: release's business, nothing to judge here
    if (raw.kind !== 'Pod' && raw.kind !== 'Job') {
      throw new InvalidEventError(`event ${event.id} carries a ${String(raw.kind)}; completion takes Pods and Jobs`, {
        hint: 'select only Pods and Jobs in the ApiServerSource (eventing/apiserversource.yaml)',
      });
    }
    // Fast path: most Pod updates in a cluster are not restores.
    const tmpl = (raw as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }).spec?.template?.metadata?.labels;
    const labels = raw.kind === 'Job' && tmpl ? { ...tmpl, ...(raw.metadata?.labels ?? {}) } : raw.metadata?.labels;
    if (!deps.selector.selectLabels(raw.metadata?.namespace, labels)) return null;

    const obj = dataOf(ResourceDataSchema, event);
    const time = event.time ? new Date(event.time) : deps.clock();
    const decided = judge(obj, deps, event.type === T.apiDelete, Number.isNaN(time.getTime()) ? deps.clock() : time);
    return decided ? outcomeEvent(NAME, decided, deps.clock()) : null;
  },
};
