import type { RestoreData } from '../core/restore/events.ts';
import type { KubeObject } from '../core/kube/objects.ts';
import type { KubeEventSpec } from '../core/restore/kube-events.ts';
import { HISTORY_MAX, hasRecord, parseOutcome, readHistory } from '../core/restore/records.ts';
import type { HistoryEntry } from '../core/restore/records.ts';
import type { Keys } from '../core/restore/keys.ts';

/** The outcome record as written: the event's data, plus when it was recorded and a redacted log tail. */
export function outcomeRecord(d: RestoreData, recordedAt: Date, logTail: string | null): string {
  const { profile: _p, ...rest } = d;
  const duration =
    d.startedAt && d.finishedAt ? Math.max(0, (Date.parse(d.finishedAt) - Date.parse(d.startedAt)) / 1000) : null;
  return JSON.stringify({
    ...rest,
    durationSeconds: duration,
    recordedAt: recordedAt.toISOString(),
    ...(logTail ? { logTail } : {}),
  });
}

/** The Job's history with this outcome in it (once), newest last, bounded. */
export function withHistory(existing: string | undefined, d: RestoreData): string {
  const list = readHistory(existing);
  const entry: HistoryEntry = {
    pod: d.pod,
    uid: d.scope === 'pod' ? d.uid : null,
    scope: d.scope,
    state: d.state,
    reason: d.reason,
    exitCode: d.exitCode,
    retryable: d.retryable,
    node: d.node,
    attempt: d.attempt,
    finishedAt: d.finishedAt,
  };
  const same = (e: HistoryEntry) =>
    e.scope === entry.scope && e.uid === entry.uid && e.pod === entry.pod && e.state === entry.state;
  if (!list.some(same)) list.push(entry);
  return JSON.stringify(list.slice(-HISTORY_MAX));
}

/**
 * The metadata patch that records `d` on its Job, or null when the Job already says it. Pure.
 * A pod's outcome never overwrites the Job's own final outcome, nor retry's verdict on it
 * (`verdicts`: the states retry sets).
 */
export function jobRecordPatch(
  job: KubeObject,
  d: RestoreData,
  k: Keys,
  text: string,
  verdicts: ReadonlySet<string>,
): { labels?: Record<string, string>; annotations: Record<string, string> } | null {
  const ann = job.metadata.annotations ?? {};
  const state = job.metadata.labels?.[k.state] ?? '';
  const history = withHistory(ann[k.history], d);
  const jobFinal = parseOutcome(ann[k.outcome])?.scope === 'job' && d.scope === 'pod';
  const patch: { labels?: Record<string, string>; annotations: Record<string, string> } = { annotations: {} };
  if (!jobFinal && !hasRecord(job, k, d)) patch.annotations[k.outcome] = text;
  if (!jobFinal && !verdicts.has(state) && state !== d.state) patch.labels = { [k.state]: d.state };
  // A generic group's Jobs are listed by its label (never every Job of a namespace): a Job that
  // carries it only on its pod template gets it with its first record.
  if (d.profile === 'generic' && job.metadata.labels?.[k.group] === undefined)
    patch.labels = { ...patch.labels, [k.group]: d.group };
  if (ann[k.history] !== history) patch.annotations[k.history] = history;
  return patch.labels || Object.keys(patch.annotations).length ? patch : null;
}

/**
 * Would this record replace a newer one of another pod or Job (a late event about an older
 * attempt)? A pod's record may always replace its own Job's verdict: it is the fuller one.
 */
export function olderThanRecord(obj: KubeObject, k: Keys, d: RestoreData): boolean {
  const r = parseOutcome(obj.metadata.annotations?.[k.outcome]);
  if (!r || r.uid === d.uid) return false;
  if (d.scope === 'pod' && r.scope === 'job' && r.job === d.job) return false;
  return !!r.finishedAt && !!d.finishedAt && r.finishedAt > d.finishedAt;
}

/** Was the record on this object written within `ms` of now? (Its Event may still be wanted.) */
export function recentRecord(obj: KubeObject, k: Keys, now: Date, ms: number): boolean {
  const at = Date.parse(parseOutcome(obj.metadata.annotations?.[k.outcome])?.recordedAt ?? '');
  return Number.isFinite(at) && now.getTime() - at < ms;
}

const SECRETS: [RegExp, string][] = [
  [
    /((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi,
    '$1[REDACTED]',
  ],
  [/(authorization:\s*(?:bearer|basic)\s+)\S+/gi, '$1[REDACTED]'],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, '[REDACTED]'],
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]+:)[^\s@/]+@/gi, '$1[REDACTED]@'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[REDACTED PRIVATE KEY]'],
];

/** Redacts credentials from a log tail and bounds it to maxBytes (the newest part is kept). */
export function redactTail(text: string, maxBytes: number): string {
  const out = SECRETS.reduce((acc, [re, rep]) => acc.replace(re, rep), text);
  const buf = Buffer.from(out, 'utf8');
  return buf.byteLength <= maxBytes
    ? out
    : buf
        .subarray(buf.byteLength - maxBytes)
        .toString('utf8')
        .replace(/^\uFFFD+/, '');
}

/** The Kubernetes Event about a restore outcome (deterministic: repeats collide on the name). */
export function outcomeEventSpec(target: KubeObject, d: RestoreData, now: Date): KubeEventSpec {
  const ok = d.state === 'succeeded';
  const what = d.scope === 'job' ? `job ${d.job}` : `pod ${d.pod}${d.node ? ` on ${d.node}` : ''}`;
  const message = ok
    ? `restore ${what} succeeded`
    : `restore ${what} failed: ${d.reason}${d.exitCode !== null ? ` (exit ${d.exitCode})` : ''}${d.retryable ? ', retryable' : ''}${d.message ? `: ${d.message}` : ''}`;
  return {
    about: target,
    namespace: d.namespace,
    reason: ok ? 'RestoreSucceeded' : 'RestoreFailed',
    type: ok ? 'Normal' : 'Warning',
    message,
    fn: 'labeling',
    key: [d.uid, d.scope, d.state, d.reason],
    now,
  };
}
