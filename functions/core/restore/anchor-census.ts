import type { KubeObject } from '../kube/objects.ts';
import { holding, leaseLeft } from './anchors.ts';

/**
 * What a resync sweep tells the metrics about anchors (README, Operations): the anchors it listed
 * (every replica's, so the count is true across replicas and restarts), less those it deleted or
 * replaced, plus those it created. Pure: the sweep passes what it listed and did.
 */
export interface AnchorCensus {
  holding: number;
  ended: number;
  /** Older than their lease (activeDeadlineSeconds), and still there. */
  pastLease: number;
  /** Age of the oldest one in seconds; 0 when there is none. */
  oldestSeconds: number;
}

export function anchorCensus(
  listed: readonly KubeObject[],
  gone: ReadonlySet<string>,
  created: number,
  now: Date,
): AnchorCensus {
  const c: AnchorCensus = { holding: created, ended: 0, pastLease: 0, oldestSeconds: 0 };
  for (const a of listed) {
    if (gone.has(anchorKey(a))) continue;
    if (holding(a)) c.holding++;
    else c.ended++;
    const left = leaseLeft(a, now);
    if (left !== null && left <= 0) c.pastLease++;
    const born = Date.parse(a.metadata.creationTimestamp ?? '');
    if (Number.isFinite(born)) c.oldestSeconds = Math.max(c.oldestSeconds, (now.getTime() - born) / 1000);
  }
  return c;
}

export const anchorKey = (a: Pick<KubeObject, 'metadata'>): string =>
  `${a.metadata.namespace ?? ''}/${a.metadata.name}`;
