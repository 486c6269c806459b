import type { Deps } from '../core/deps.ts';
import { InvalidEventError } from '../core/errors.ts';
import type { FunctionDef } from '../core/http/function.ts';
import { dataOf } from '../core/http/function.ts';
import type { GroupData } from '../core/restore/events.ts';
import { API_TYPES, EventType, RestoreDataSchema, replyEvent } from '../core/restore/events.ts';
import type { ProfileName } from '../core/restore/selection.ts';
import { isLabelValue, isNamespaceName, isObjectName } from '../core/kube/names.ts';
import { releaseGroup, releaseOutcome } from './release.ts';

export const NAME = 'release';

export function groupCompletedEvent(g: GroupData, now: Date) {
  return replyEvent(
    NAME,
    EventType.groupCompleted,
    `${g.namespace}/${g.group}`,
    [g.namespace, g.profile, g.group, 'completed'],
    g,
    now,
  );
}

/**
 * A group's check, at most one at a time per group in this process: the Job records of a group's
 * members arrive together (parallel restores end together), and each check reads the group afresh,
 * so callers during a check share one check queued behind it (RecentIds.latest), not one each.
 */
async function checkGroup(deps: Deps, namespace: string, profile: ProfileName, group: string) {
  const g = await deps.memory.latest(
    `${NAME}:group:${namespace}/${profile}/${group}`,
    async () => releaseGroup(deps, await deps.cluster(), namespace, profile, group),
    null,
  );
  return g ? groupCompletedEvent(g, deps.clock()) : null;
}

/** release: give back what finished work holds, gated on the record being on the live object. */
export const release: FunctionDef<Deps> = {
  name: NAME,
  types: [EventType.recorded, EventType.retrySkipped, EventType.retryExhausted, ...API_TYPES],
  async handle(event, deps) {
    if (event.type === EventType.retrySkipped || event.type === EventType.retryExhausted) {
      // Retry's final word on a failed Job: the group may have been waiting for it.
      const d = dataOf(RestoreDataSchema, event);
      return checkGroup(deps, d.namespace, d.profile, d.group);
    }
    if (event.type !== EventType.recorded) {
      // KubeBlocks' Restore changed: its phase may say the group is done.
      const r = event.data as { kind?: string; metadata?: { name?: string; namespace?: string } } | undefined;
      if (r?.kind !== 'Restore' || !r.metadata?.name || !r.metadata.namespace) {
        throw new InvalidEventError(`release takes Restore objects from the API server, not ${String(r?.kind)}`, {
          hint: 'route only Restore events (extension kind=Restore) to /release',
        });
      }
      const { name, namespace } = r.metadata;
      // The Restore's name is the group (a label value): checked as the API server checks names.
      if (!isObjectName(name) || !isLabelValue(name) || !isNamespaceName(namespace)) {
        throw new InvalidEventError(
          `a Restore named ${JSON.stringify(`${namespace}/${name}`.slice(0, 120))} is not valid`,
          {
            hint: 'a Restore name is a DNS-1123 name of at most 63 characters; check what sends events to /release',
          },
        );
      }
      if (!deps.config.RG_PROFILES.includes('kubeblocks')) return null;
      return checkGroup(deps, namespace, 'kubeblocks', name);
    }
    const d = dataOf(RestoreDataSchema, event);
    const cluster = await deps.cluster();
    await releaseOutcome(deps, cluster, d);
    // A pod's record leaves the group check to its Job's: a Job ends (Complete, or retry's final
    // word on a failure) after its pod, and its recorded event comes then (README, "What one restore
    // pod costs"). A pod without a Job is checked here.
    if (d.scope === 'pod' && d.job) return null;
    return checkGroup(deps, d.namespace, d.profile, d.group);
  },
};
