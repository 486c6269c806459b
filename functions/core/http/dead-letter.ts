import type { CloudEvent } from './cloudevent.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { traceOf, withEvent } from '../trace.ts';

/**
 * The dead-letter sink (README, Operations): every Trigger's `deadLetterSink` is this server's
 * `POST /dead-letter`. Knative sends an event here once its delivery failed for good (retries spent,
 * or an answer it never retries), with the extensions its dispatcher adds: `knativeerrordest` (the
 * subscriber it failed to reach), `knativeerrorcode` (that subscriber's last HTTP status) and
 * `knativeerrordata` (the start of its answer). Each one is counted
 * (`restoreguard_dead_letters_total`), so an alert can fire, and logged with its id, type, subject
 * and trace; nothing else is done: resync repairs what the lost event would have done.
 */
export interface DeadLetterDeps {
  log: Logger;
  metrics: Metrics;
}

const MAX_ERROR_DATA = 300;

/** The function a failed destination names (its path's last segment), from a known set; else `other`. */
export function failedFunction(dest: unknown, functions: readonly string[]): string {
  if (typeof dest !== 'string') return 'other';
  let path: string;
  try {
    path = new URL(dest, 'http://x').pathname;
  } catch {
    return 'other';
  }
  const last = path.replace(/\/+$/, '').split('/').pop() ?? '';
  return functions.includes(last) ? last : 'other';
}

/** The label values the dead-letter metric may take: the functions and the event types they take. */
export function knownOf(functions: readonly { name: string; types: readonly string[] }[]): {
  functions: string[];
  types: string[];
} {
  return { functions: functions.map((f) => f.name), types: [...new Set(functions.flatMap((f) => f.types))] };
}

/** Counts and logs one dead letter. `functions` and `types` bound the metric's label values. */
export function deadLetter(
  deps: DeadLetterDeps,
  event: CloudEvent,
  known: { functions: readonly string[]; types: readonly string[] },
  headers: Record<string, string | undefined> = {},
): void {
  const ext = event as Record<string, unknown>;
  const fn = failedFunction(ext.knativeerrordest, known.functions);
  const rawCode = String(ext.knativeerrorcode ?? '');
  const code = /^[1-5][0-9]{2}$/.test(rawCode) ? rawCode : 'none';
  const type = known.types.includes(event.type) ? event.type : 'other';
  deps.metrics.deadLetters.inc({ function: fn, type, code });
  const data = ext.knativeerrordata;
  withEvent({ trace: traceOf(ext, headers), eventId: event.id, eventType: event.type, fn: 'dead-letter' }, () =>
    deps.log.error('event dead-lettered: delivery failed for good', {
      failedFunction: fn,
      destination: typeof ext.knativeerrordest === 'string' ? ext.knativeerrordest.slice(0, 200) : null,
      code: code === 'none' ? null : Number(code),
      errorData: typeof data === 'string' ? data.slice(0, MAX_ERROR_DATA) : null,
      source: event.source,
      subject: event.subject,
      time: event.time,
      hint: 'resync repairs what this event would have done on its next ping; the error says why delivery failed (with RG_RECORD_DIR set, the request is captured for replay)',
    }),
  );
}
