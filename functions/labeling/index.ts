import type { Deps } from '../core/deps.ts';
import type { FunctionDef } from '../core/http/function.ts';
import { dataOf } from '../core/http/function.ts';
import { readPod } from '../core/kube/objects.ts';
import { anchorReads, ensureAnchor, getJob, handOver } from '../core/restore/anchors.ts';
import { keys } from '../core/restore/keys.ts';
import { admitNext, templateGated } from '../core/restore/gate.ts';
import type { RestoreData } from '../core/restore/events.ts';
import { AnchorLostDataSchema, EventType, RestoreDataSchema, podEnded, replyEvent } from '../core/restore/events.ts';
import { record } from './record.ts';
import { repairAnchor } from './repair.ts';

export const NAME = 'labeling';
export function recordedEvent(d: RestoreData, now: Date): ReturnType<typeof replyEvent> {
  const subject = `${d.namespace}/${d.scope === 'job' ? d.job : d.pod}`;
  return replyEvent(
    NAME,
    EventType.recorded,
    subject,
    [d.uid, 'recorded', d.scope, d.state, d.reason, ...(d.scope === 'pod' ? [podEnded(d)] : [])],
    d,
    now,
  );
}

/** labeling: make the state durable and visible to the scheduler. */
export const labeling: FunctionDef<Deps> = {
  name: NAME,
  types: [
    EventType.gated,
    EventType.pending,
    EventType.placed,
    EventType.succeeded,
    EventType.failed,
    EventType.anchorLost,
  ],
  async handle(event, deps) {
    if (event.type === EventType.anchorLost) {
      // An anchor Kubernetes took away (or that ended) while its group may need it: repaired within
      // seconds instead of on the next ping.
      const lost = dataOf(AnchorLostDataSchema, event);
      await deps.memory.once(`${NAME}:${event.id}`, async () => repairAnchor(deps, await deps.cluster(), lost), null);
      return null;
    }
    const d = dataOf(RestoreDataSchema, event);
    // A running pod repeats its outcome with every status update. An exact repeat (same outcome,
    // same pod phase) was recorded and answered already: say nothing, so release is not run again.
    // A new phase (the sidecar let the pod finish) is news for release: record (idempotent) and answer.
    return deps.memory.once(
      `${NAME}:${event.id}:${d.phase ?? ''}`,
      async () => {
        const cluster = await deps.cluster();
        if (d.state === 'pending') {
          // A pod waiting for a node: its member's earlier anchors hand their node over to it.
          if (!d.pod) return null;
          const pod = readPod(await cluster.get('Pod', d.namespace, d.pod));
          const sel = pod && pod.metadata.uid === d.uid && !pod.spec.nodeName ? deps.selector.selectPod(pod) : null;
          if (pod && sel) await handOver(deps, cluster, pod, sel.namespace);
          return null;
        }
        if (d.state === 'gated') {
          // A gated pod (opt-in placement gate): let the group's next pod go once its siblings are anchored.
          await admitNext(deps, cluster, d.namespace, d.profile, d.group);
          return null;
        }
        if (d.state === 'placed') {
          if (!d.pod) return null;
          // The pod and what its anchor needs are read at once (one round trip, not two).
          const reads = anchorReads(
            cluster,
            keys(deps.config.RG_DOMAIN),
            d.namespace,
            d.profile,
            d.group,
            d.pod,
            getJob(cluster, d.namespace, d.job),
            false, // at placement the anchor is created first: none exists yet, as a rule
          );
          reads.catch(() => {}); // awaited below when needed; never an unhandled rejection
          const pod = readPod(await cluster.get('Pod', d.namespace, d.pod));
          const sel = pod && pod.metadata.uid === d.uid ? deps.selector.selectPod(pod) : null;
          const same = !!sel && sel.group === d.group && sel.profile === d.profile;
          if (pod && sel) await ensureAnchor(deps, cluster, pod, sel, d.job, same ? reads : undefined);
          // A gated group's next pod may go once this one is anchored.
          if (same && templateGated((await reads).job, deps.config.RG_DOMAIN)) {
            await admitNext(deps, cluster, d.namespace, d.profile, d.group);
          }
          return null;
        }
        // Each recorded answer once per process (release reads the live objects before it acts on it).
        const answer = (data: RestoreData) => {
          const reply = recordedEvent(data, deps.clock());
          return deps.memory.once(`${NAME}:answered:${reply.id}`, async () => reply, null);
        };
        // The object already carried this record (a state mark): nothing to write, only to answer.
        if (d.recorded) return answer(d);
        // The answer is what was recorded: the live object's outcome, which may differ from the event's.
        const r = await record(deps, cluster, d);
        // A gated group moves on when a member is recorded (a success anchored, a failure let go).
        if (r.gated) await admitNext(deps, cluster, d.namespace, d.profile, d.group);
        return r.data ? answer(r.data) : null;
      },
      null,
    );
  },
};
