import type { RestoreData } from './events.ts';

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
