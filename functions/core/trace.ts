import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/**
 * Trace context: W3C Trace Context (https://www.w3.org/TR/trace-context/) as CloudEvents carry it
 * (the distributed-tracing extension: `traceparent` and `tracestate` attributes, `ce-traceparent`
 * in binary mode), with the plain `traceparent` HTTP header as a fallback.
 *
 * Each event a function handles is one span: it keeps the incoming trace id (or starts a trace when
 * the event has none, so a whole chain of replies shares one id), gets a span id of its own, and
 * hands that span on as the parent in its reply event's `traceparent`. Only validated lower-case hex
 * ever reaches a log line; `tracestate` (vendor data) is passed on, bounded, never logged.
 */
export interface TraceContext {
  traceId: string;
  /** This span: the event's handling here. */
  spanId: string;
  /** The span that sent the event; null when this handling started the trace. */
  parentSpanId: string | null;
  flags: string;
  tracestate: string | null;
}

/** What every log line of one event carries (functions/core/log.ts reads it). */
export interface EventContext {
  trace: TraceContext;
  eventId: string;
  eventType: string;
  fn: string;
}

const store = new AsyncLocalStorage<EventContext>();

/** Runs `fn` with `ctx` as the current event: every log line inside carries it, across awaits and timers. */
export function withEvent<T>(ctx: EventContext, fn: () => T): T {
  return store.run(ctx, fn);
}

/** The event being handled, if any. */
export function currentEvent(): EventContext | undefined {
  return store.getStore();
}

/** The log fields of the current event (empty outside one). */
export function eventLogFields(): Record<string, string> | undefined {
  const c = store.getStore();
  if (!c) return undefined;
  return {
    fn: c.fn,
    eventId: c.eventId,
    eventType: c.eventType,
    traceId: c.trace.traceId,
    spanId: c.trace.spanId,
  };
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
// tracestate: at most 32 list members of at most 256 characters each (W3C 3.3.1.1); 512 is what a
// vendor may rely on being passed on, and what we pass on at most.
const MAX_TRACESTATE = 512;

/** Parses a traceparent header value; null when it is not one (W3C 3.2, version 00 and later versions). */
export function parseTraceparent(v: string | undefined): Pick<TraceContext, 'traceId' | 'spanId' | 'flags'> | null {
  if (typeof v !== 'string') return null;
  const s = v.trim();
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(s);
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  if (version === 'ff') return null;
  // Version 00 has exactly four fields; a later version may append fields after a dash.
  if (version === '00' && rest !== undefined) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, flags };
}

const hex = (bytes: number, random: (n: number) => Buffer): string => {
  for (;;) {
    const h = random(bytes).toString('hex');
    if (!/^0+$/.test(h)) return h;
  }
};

/**
 * The trace context of one event's handling: the event's own `traceparent` attribute first (it
 * travels with the event through brokers, retries and the dead-letter sink), else the HTTP
 * `traceparent` header (a tracing transport's), else a new trace.
 */
export function traceOf(
  event: Record<string, unknown>,
  headers: Record<string, string | undefined> = {},
  random: (n: number) => Buffer = randomBytes,
): TraceContext {
  const fromEvent = parseTraceparent(event.traceparent as string | undefined);
  const fromHeader = fromEvent ? null : parseTraceparent(headers.traceparent);
  const parent = fromEvent ?? fromHeader;
  const rawState = fromEvent ? event.tracestate : fromHeader ? headers.tracestate : undefined;
  const tracestate =
    parent && typeof rawState === 'string' && rawState.length > 0 && rawState.length <= MAX_TRACESTATE
      ? rawState
      : null;
  return {
    traceId: parent?.traceId ?? hex(16, random),
    spanId: hex(8, random),
    parentSpanId: parent?.spanId ?? null,
    flags: parent?.flags ?? '00',
    tracestate,
  };
}

/** The `traceparent` a reply carries: this span as the parent of whatever handles the reply. */
export function formatTraceparent(t: Pick<TraceContext, 'traceId' | 'spanId' | 'flags'>): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags}`;
}

/** The distributed-tracing extension attributes of a reply event. */
export function traceAttributes(t: TraceContext): { traceparent: string; tracestate?: string } {
  return { traceparent: formatTraceparent(t), ...(t.tracestate ? { tracestate: t.tracestate } : {}) };
}
