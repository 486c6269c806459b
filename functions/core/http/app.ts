import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Context, MiddlewareHandler } from 'hono';
import type { CloudEvent } from './cloudevent.ts';
import { lowerHeaders, parseCloudEvent, toBinary } from './cloudevent.ts';
import type { TraceContext } from '../trace.ts';
import { traceAttributes, traceOf, withEvent } from '../trace.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import {
  InvalidEventError,
  OverloadedError,
  PayloadTooLargeError,
  RestoreGuardError,
  isRestoreGuardError,
} from '../errors.ts';
import { deadLetter, knownOf } from './dead-letter.ts';
import type { FunctionDef } from './function.ts';
import { createInFlight } from './in-flight.ts';
import type { InFlight } from './in-flight.ts';

/** Called with every request before it is parsed (the recorder). Must not throw. */
export type RequestTap = (req: {
  path: string;
  headers: Record<string, string>;
  body: string;
  receivedAt: Date;
}) => void;

/** What the HTTP layer needs of the process: it knows nothing of what the functions do. */
export interface AppDeps {
  log: Logger;
  metrics: Metrics;
  clock: () => Date;
}

export interface AppOptions<D extends AppDeps> {
  functions: FunctionDef<D>[];
  deps: D;
  /** Requests with a larger body are refused with 413. */
  maxBodyBytes: number;
  /** Events handled at once, over every function route; more are answered 503 at once. Default: no cap. */
  maxInFlight?: number;
  /** The count to share with in-process deliveries (the local broker); default: one of maxInFlight. */
  inFlight?: InFlight;
  /**
   * Request body bytes held at once over every function route (its content-length, or maxBodyBytes
   * for a body of unknown length, reserved before it is read): past it, 503. Default: no budget.
   */
  maxBodyBuffer?: number;
  tap?: RequestTap;
  /** Extra routes mounted by the server (the local broker's ingress). */
  extend?: (app: Hono) => void;
  /** Sender authentication (core/http/auth.ts): runs on every POST route before its body is read. */
  auth?: MiddlewareHandler;
  /** Readiness: false until the server is ready to take events. */
  ready?: () => boolean;
}

/**
 * An event refused for load is answered before its body is read, and the connection is closed after
 * the answer: else the server would still read the unread body to reuse the connection (a flood of
 * large refused bodies then streams through memory all the same: +80 MiB peak for 399 refused 1 MiB
 * bodies, test/bench/memory.ts). The sender reconnects to redeliver.
 */
export const OVERLOADED_HEADERS = { connection: 'close' } as const;

/** Runs one function on one HTTP request and answers per the contract (README, Routes and events). */
export async function invoke<D extends AppDeps>(
  fn: FunctionDef<D>,
  deps: D,
  msg: { headers: Record<string, string>; body: string },
): Promise<{ status: number; headers: Record<string, string>; body: string; event?: CloudEvent }> {
  const started = performance.now();
  let event: CloudEvent;
  try {
    event = parseCloudEvent(msg);
  } catch (e) {
    // Not an event (no id, no trace): answered outside any event's context.
    const res = refusal(fn, deps, e, 'unknown');
    deps.metrics.events.inc({ function: fn.name, type: 'unknown', outcome: res.outcome, code: String(res.status) });
    deps.metrics.decisionSeconds.observe({ function: fn.name }, (performance.now() - started) / 1000);
    return res;
  }
  // Every log line written while this event is handled, wherever in the code, carries its id, type
  // and trace (core/log.ts); its reply carries the trace on.
  const trace = traceOf(event, lowerHeaders(msg.headers));
  const res = await withEvent({ trace, eventId: event.id, eventType: event.type, fn: fn.name }, () =>
    answer(fn, deps, event, trace),
  );
  // A metric label takes values from a known set only: a sender must not grow the series at will.
  const type = fn.types.includes(event.type) ? event.type : 'other';
  deps.metrics.events.inc({ function: fn.name, type, outcome: res.outcome, code: String(res.status) });
  deps.metrics.decisionSeconds.observe({ function: fn.name }, (performance.now() - started) / 1000);
  return res;
}

type Answer = { status: number; headers: Record<string, string>; body: string; event?: CloudEvent; outcome: string };

async function answer<D extends AppDeps>(
  fn: FunctionDef<D>,
  deps: D,
  event: CloudEvent,
  trace: TraceContext,
): Promise<Answer> {
  try {
    if (!fn.types.includes(event.type)) {
      throw new InvalidEventError(`${fn.name} does not take events of type ${event.type}`, {
        hint: `send one of: ${fn.types.join(', ')} (check the Trigger filter in eventing/)`,
      });
    }
    const handled = await fn.handle(event, deps);
    if (!handled) {
      if (deps.log.enabled('debug')) deps.log.debug('nothing to say', { subject: event.subject });
      return { status: 202, headers: {}, body: '', outcome: 'none' };
    }
    // The reply goes on in the same trace, with this handling as its parent span.
    const reply: CloudEvent = { ...handled, ...traceAttributes(trace) };
    // Placements repeat with every status update of a running pod: those only at debug level.
    deps.log[reply.type.endsWith('.placed') ? 'debug' : 'info']('answered', {
      in: event.type,
      out: reply.type,
      subject: reply.subject,
      replyId: reply.id,
    });
    const { headers, body } = toBinary(reply);
    return { status: 200, headers, body, event: reply, outcome: reply.type };
  } catch (e) {
    return refusal(fn, deps, e, event.type);
  }
}

function refusal<D extends AppDeps>(fn: FunctionDef<D>, deps: D, e: unknown, type: string): Answer {
  const err = isRestoreGuardError(e) ? e : new UnexpectedError(e);
  const lvl = err.status >= 500 ? 'error' : 'warn';
  deps.log[lvl]('event not handled', { fn: fn.name, type, status: err.status, error: err.message, hint: err.hint });
  return {
    status: err.status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(err.toJSON()),
    outcome: err.code,
  };
}

class UnexpectedError extends RestoreGuardError {
  readonly status = 500;
  readonly code = 'internal';
  constructor(e: unknown) {
    super(`unexpected error: ${e instanceof Error ? e.message : String(e)}`, {
      hint: 'this is a bug in restore-guard; the event will be redelivered. Please report it with this log line',
      cause: e,
    });
  }
}

export function headersOf(c: Context): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [k, v] of c.req.raw.headers) h[k] = v;
  return h;
}

/**
 * Reads a request's body (the body limit already held it under the limit: see createApp) and hands
 * it to the recorder tap. Errors are thrown: the app's one error handler answers them.
 */
export async function readRequest(
  c: Context,
  deps: AppDeps,
  tap?: RequestTap,
): Promise<{ headers: Record<string, string>; body: string }> {
  let body: string;
  try {
    body = await c.req.text();
  } catch (e) {
    throw new InvalidEventError(`request body could not be read: ${(e as Error).message}`, {
      hint: 'the client closed the connection or sent a malformed body; it may send it again',
    });
  }
  const headers = headersOf(c);
  tap?.({ path: c.req.path, headers, body, receivedAt: deps.clock() });
  return { headers, body };
}

/** The app: one route per function, health and metrics. Dependencies come in; nothing is global. */
export function createApp<D extends AppDeps>(opts: AppOptions<D>): Hono {
  const { deps } = opts;
  const app = new Hono();
  if (opts.auth) app.post('*', opts.auth);
  // Bodies are counted as they stream in (chunked ones too) and refused at the limit, never read
  // whole first: one oversized request must not take the process past its memory limit.
  app.post(
    '*',
    bodyLimit({
      maxSize: opts.maxBodyBytes,
      onError: () => {
        throw new PayloadTooLargeError(`request body is over the limit of ${opts.maxBodyBytes} bytes`, {
          hint: 'raise RG_MAX_BODY_BYTES if such events are expected',
        });
      },
    }),
  );
  // The one place where an error becomes an answer outside a function's own pipeline (invoke):
  // the contract's JSON body and status, never Hono's plain-text 500.
  app.onError((e, c) => {
    const err = isRestoreGuardError(e) ? e : new UnexpectedError(e);
    deps.log[err.status >= 500 ? 'error' : 'warn']('request refused', {
      path: c.req.path,
      status: err.status,
      error: err.message,
      hint: err.hint,
    });
    return c.json(err.toJSON(), err.status as 400);
  });
  // The concurrency cap: an event beyond it is answered 503 before its body is read (Knative
  // redelivers it with backoff), so a flood never holds more than maxInFlight bodies and handlers.
  const inFlight = opts.inFlight ?? createInFlight(opts.maxInFlight);
  // The memory bound: the cap counts requests, this counts their bodies (a body is held whole while
  // its event is handled). One request is always let through, so a lone body at the limit passes.
  const bodyBudget = opts.maxBodyBuffer ?? Number.POSITIVE_INFINITY;
  let bodyBytes = 0;
  for (const fn of opts.functions) {
    app.post(`/${fn.name}`, async (c) => {
      // What this body may take: its declared length, or the most a body may be (chunked).
      const declared = Number(c.req.header('content-length'));
      const need = Math.min(
        Number.isFinite(declared) && declared >= 0 ? declared : opts.maxBodyBytes,
        opts.maxBodyBytes,
      );
      if (bodyBytes + need > bodyBudget && bodyBytes > 0) {
        deps.metrics.events.inc({ function: fn.name, type: 'other', outcome: 'overloaded', code: '503' });
        const err = new OverloadedError(
          `${bodyBytes} bytes of request bodies held, ${need} more would pass the budget of ${bodyBudget}`,
          {
            hint: 'transient: the event is redelivered; raise RG_MAX_BODY_BUFFER_BYTES (and the memory limit) if this persists',
          },
        );
        return c.json(err.toJSON(), 503, OVERLOADED_HEADERS);
      }
      if (!inFlight.tryEnter()) {
        deps.metrics.events.inc({ function: fn.name, type: 'other', outcome: 'overloaded', code: '503' });
        const err = new OverloadedError(
          `${inFlight.running} events in flight (${inFlight.waiting} more waiting), the limit is ${inFlight.max}`,
          {
            hint: 'transient: the event is redelivered; raise RG_MAX_IN_FLIGHT (and containerConcurrency) if this persists',
          },
        );
        return c.json(err.toJSON(), 503, OVERLOADED_HEADERS);
      }
      bodyBytes += need;
      try {
        const res = await invoke(fn, deps, await readRequest(c, deps, opts.tap));
        return res.status === 202 ? c.body(null, 202) : c.body(res.body, res.status as 200, res.headers);
      } finally {
        bodyBytes -= need;
        inFlight.leave();
      }
    });
  }
  // The dead-letter sink of every Trigger (eventing/triggers.yaml): counted and logged, answered 202.
  const known = knownOf(opts.functions);
  app.post('/dead-letter', async (c) => {
    const msg = await readRequest(c, deps, opts.tap);
    deadLetter(deps, parseCloudEvent(msg), known, lowerHeaders(msg.headers));
    return c.body(null, 202);
  });
  app.get('/health/liveness', (c) => c.json({ status: 'ok' }));
  app.get('/health/readiness', (c) =>
    (opts.ready ?? (() => true))() ? c.json({ status: 'ready' }) : c.json({ status: 'starting' }, 503),
  );
  app.get('/metrics', (c) => c.text(deps.metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
  opts.extend?.(app);
  app.notFound((c) =>
    c.json(
      {
        error: 'not_found',
        message: `no route ${c.req.method} ${c.req.path}`,
        hint: `functions: ${opts.functions.map((f) => `/${f.name}`).join(', ')}`,
      },
      404,
    ),
  );
  return app;
}

/**
 * The node server's timeouts, chosen for Knative's request timeout (300 s by default): a request
 * must arrive whole soon (the queue-proxy forwards it at once; only a stalled or hostile client is
 * slow), while an answer may take as long as Knative waits (retry's backoff waits inside the
 * request, at most 240 s), so the socket is never cut before Knative gives up on it.
 */
export const SERVER_TIMEOUTS = {
  /** All request headers within this (Node's headersTimeout). */
  headersMs: 10_000,
  /** The whole request, headers and body (at most RG_MAX_BODY_BYTES), within this (requestTimeout). */
  requestMs: 30_000,
  /** An idle socket (no byte either way) is closed after this (server.timeout): past Knative's 300 s. */
  socketMs: 310_000,
} as const;
