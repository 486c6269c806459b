import type { RestoreData } from './events.ts';
import type { KubeObject } from '../kube/objects.ts';
import type { Keys } from './keys.ts';

/**
 * Reading back what labeling writes: the outcome record (`<domain>/outcome`, on Pods, Jobs and
 * PVCs) and a Job's history (`<domain>/history`). One place, so every reader agrees on the format
 * and treats an unreadable annotation the same way (as absent).
 */

/** One line of a Job's history annotation. */
export interface HistoryEntry {
  pod: string | null;
  uid: string | null;
  scope: 'pod' | 'job';
  state: string;
  reason: string | null;
  exitCode?: number | null;
  retryable?: boolean;
  node: string | null;
  attempt: number;
  finishedAt: string | null;
}
export const HISTORY_MAX = 20;

/** Job states that retry writes as its verdict on a failed Job; a later failure record leaves them alone. */
export const RETRY_VERDICTS: ReadonlySet<string> = new Set(['retried', 'exhausted']);

/** The outcome record, read back; null when absent or unreadable. */
export function parseOutcome(text: string | undefined): (RestoreData & { recordedAt?: string }) | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as RestoreData;
    return v && typeof v === 'object' && typeof v.state === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** A Job's history, oldest first; empty when absent or unreadable. */
export function readHistory(text: string | undefined): HistoryEntry[] {
  try {
    const v = JSON.parse(text ?? '[]') as unknown;
    return Array.isArray(v) ? (v as HistoryEntry[]) : [];
  } catch {
    return [];
  }
}

export function historyHas(existing: string | undefined, podUid: string): boolean {
  return readHistory(existing).some((e) => e.uid === podUid);
}

/** The state a Job's history records for this pod (by uid), or null when it records none. */
export function historyState(existing: string | undefined, podUid: string): string | null {
  return (
    readHistory(existing).findLast((e) => e.scope !== 'job' && e.uid === podUid && typeof e.state === 'string')
      ?.state ?? null
  );
}

/**
 * The pods a Job's history records as succeeded: the last word on each uid, when it is success
 * (a finished member whose pod may be gone: its anchor can be made again from this). Pure.
 */
export function succeededMembers(job: KubeObject, k: Keys): HistoryEntry[] {
  const last = new Map<string, HistoryEntry>();
  for (const e of readHistory(job.metadata.annotations?.[k.history]))
    if (e.scope === 'pod' && e.uid) last.set(e.uid, e);
  return [...last.values()].filter((e) => e.state === 'succeeded');
}

/** Does the live object already carry this outcome? (Same state; for pod records, the same pod.) */
export function hasRecord(obj: KubeObject | null, k: Keys, d: Pick<RestoreData, 'state' | 'scope' | 'uid'>): boolean {
  if (!obj) return false;
  const r = parseOutcome(obj.metadata.annotations?.[k.outcome]);
  return !!r && r.state === d.state && r.scope === d.scope && (d.scope === 'job' || r.uid === d.uid);
}

/**
 * Does the object itself show this outcome recorded, so that nothing is left to write (README,
 * "What one restore pod costs")? A pod: its state label and its own outcome. A Job: its state label
 * and its own (Job-scope) outcome; a Job that succeeded also when its history holds its pod's
 * success (the pod's record is the fuller one: the Job's own verdict adds nothing to it). Pure.
 */
export function recordedOn(obj: KubeObject, k: Keys, d: Pick<RestoreData, 'state' | 'scope' | 'uid'>): boolean {
  if (d.state !== 'succeeded' && d.state !== 'failed') return false;
  if (obj.metadata.labels?.[k.state] !== d.state) return false;
  if (hasRecord(obj, k, d)) return true;
  return (
    d.scope === 'job' &&
    d.state === 'succeeded' &&
    readHistory(obj.metadata.annotations?.[k.history]).some((e) => e.scope === 'pod' && e.state === 'succeeded')
  );
}
