import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { CloudEvent } from './cloudevent.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';

/** A Trigger's filter, as Knative has it: `filter.attributes` (exact), or `filters` (SQL-less dialect). */
export type Filter =
  | { exact: Record<string, string> }
  | { prefix: Record<string, string> }
  | { suffix: Record<string, string> }
  | { all: Filter[] }
  | { any: Filter[] }
  | { not: Filter };

export interface TriggerRoute {
  name: string;
  /** Exact-match attributes from `spec.filter.attributes`. */
  attributes: Record<string, string>;
  filters: Filter[];
  /** The subscriber's path (`spec.subscriber.uri`): the function route. */
  path: string;
  retry: number;
  backoffDelayMs: number;
  backoffPolicy: 'exponential' | 'linear';
  /** The dead-letter sink's path (`spec.delivery.deadLetterSink.uri`), if it has one. */
  deadLetterPath?: string;
}

function attr(ev: CloudEvent, name: string): string | undefined {
  const v = (ev as Record<string, unknown>)[name];
  return v === undefined || v === null ? undefined : String(v);
}

/** Knative's new-filters semantics (exact/prefix/suffix/all/any/not). */
export function matchFilter(f: Filter, ev: CloudEvent): boolean {
  if (Object.keys(f).length === 0) return true; // Knative: an empty filter matches everything
  if ('exact' in f) return Object.entries(f.exact).every(([k, v]) => attr(ev, k) === v);
  if ('prefix' in f) return Object.entries(f.prefix).every(([k, v]) => attr(ev, k)?.startsWith(v) ?? false);
  if ('suffix' in f) return Object.entries(f.suffix).every(([k, v]) => attr(ev, k)?.endsWith(v) ?? false);
  if ('all' in f) return f.all.every((x) => matchFilter(x, ev));
  if ('any' in f) return f.any.some((x) => matchFilter(x, ev));
  if ('not' in f) return !matchFilter(f.not, ev);
  throw new Error(
    `unsupported Trigger filter ${JSON.stringify(f)}: the local broker knows exact, prefix, suffix, all, any and not (no cesql)`,
  );
}

/**
 * Does a trigger take this event? With `filters` set, Knative ignores `filter.attributes`. In
 * `filter.attributes`, "" means any value, but the event must have the attribute, non-empty
 * (Knative's attributes filter; test/knative/routing.test.ts holds the two alike).
 */
export function matchTrigger(t: TriggerRoute, ev: CloudEvent): boolean {
  if (t.filters.length) return t.filters.every((f) => matchFilter(f, ev));
  return Object.entries(t.attributes).every(([k, v]) => {
    const a = attr(ev, k);
    return v === '' ? a !== undefined && a !== '' : a === v;
  });
}

function isoMs(d: string | undefined): number {
  const m = d?.match(/^PT(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$/);
  if (!m) return 100;
  return Math.round((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 1000);
}

/** Reads every Trigger in a folder of manifests (all *.yaml files, all documents). */
export function loadTriggers(dir: string): TriggerRoute[] {
  // The YAML parser is needed only with the local broker: loaded here, never on a plain start.
  const { parseAllDocuments } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const out: TriggerRoute[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const o = doc.toJS() as { kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown> } | null;
      if (o?.kind !== 'Trigger') continue;
      const spec = o.spec as {
        filter?: { attributes?: Record<string, string> };
        filters?: Filter[];
        subscriber?: { uri?: string };
        delivery?: {
          retry?: number;
          backoffDelay?: string;
          backoffPolicy?: 'exponential' | 'linear';
          deadLetterSink?: { uri?: string };
        };
      };
      const uri = spec.subscriber?.uri ?? '/';
      const dls = spec.delivery?.deadLetterSink?.uri;
      out.push({
        name: o.metadata?.name ?? file,
        attributes: spec.filter?.attributes ?? {},
        filters: spec.filters ?? [],
        path: uri.startsWith('/') ? uri : new URL(uri, 'http://x').pathname,
        retry: spec.delivery?.retry ?? 0,
        backoffDelayMs: isoMs(spec.delivery?.backoffDelay),
        backoffPolicy: spec.delivery?.backoffPolicy ?? 'exponential',
        ...(dls ? { deadLetterPath: dls.startsWith('/') ? dls : new URL(dls, 'http://x').pathname } : {}),
      });
    }
  }
  return out;
}

export interface Delivery {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One hop of the chain, for timelines: which trigger took which event, and what it answered. */
export interface Hop {
  trigger: string;
  path: string;
  event: CloudEvent;
  status: number;
  reply: CloudEvent | null;
  hops: number;
  attempt: number;
}

/** The delivery a piece of work belongs to. */
export interface DeliveryContext {
  trigger: string;
  path: string;
  eventId: string;
  attempt: number;
  hops: number;
}
/**
 * Set around every local delivery, so that whatever a function does (cluster calls, logs) can be
 * tied to the hop that caused it, even while several deliveries run at once (the replay's timeline).
 */
export const deliveryContext = new AsyncLocalStorage<DeliveryContext>();

export interface BrokerOptions {
  triggers: TriggerRoute[];
  /** Delivers an event to a function path in-process; answers like the HTTP route would. */
  deliver: (path: string, ev: CloudEvent) => Promise<Delivery & { reply?: CloudEvent | null }>;
  ttl: number;
  log: Logger;
  metrics?: Metrics;
  sleep: (ms: number) => Promise<void>;
  onHop?: (h: Hop) => void;
  /**
   * The dead-letter sink of a Trigger that has one: gets the event with the extensions Knative's
   * dispatcher adds (knativeerrordest, knativeerrorcode, knativeerrordata).
   */
  deadLetter?: (path: string, ev: CloudEvent) => void;
  /** Scale retries' backoff (tests and replay use 0 to skip waiting). */
  backoffScale?: number;
  /** Called for an event that failed its last retry: what a dead-letter sink would receive. */
  onDeadLetter?: (t: TriggerRoute, ev: CloudEvent, status: number) => void;
}

/**
 * The local broker: the Broker and Triggers of eventing/ in one process. An event in is matched
 * against every Trigger; each match is delivered to its function, retried like Knative's delivery
 * spec on 429/5xx, and a reply event goes round again, until the hop bound (Knative's TTL).
 */
export function createBroker(opts: BrokerOptions) {
  let inflight = 0;
  let idleWaiters: (() => void)[] = [];
  const settle = () => {
    if (inflight === 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };

  async function deliverOne(t: TriggerRoute, ev: CloudEvent, hops: number): Promise<CloudEvent | null> {
    for (let attempt = 0; ; attempt++) {
      const ctx: DeliveryContext = { trigger: t.name, path: t.path, eventId: ev.id, attempt, hops };
      const r = await deliveryContext.run(ctx, () => opts.deliver(t.path, ev));
      opts.metrics?.brokerDeliveries.inc({ trigger: t.name, status: String(r.status) });
      const reply = r.reply ?? null;
      opts.onHop?.({ trigger: t.name, path: t.path, event: ev, status: r.status, reply, hops, attempt });
      const transient = r.status === 408 || r.status === 429 || r.status >= 500 || r.status === 404 || r.status === 409;
      if (!transient) return r.status === 200 ? reply : null;
      if (attempt >= t.retry) {
        if (t.deadLetterPath && opts.deadLetter) {
          opts.deadLetter(t.deadLetterPath, {
            ...ev,
            knativeerrordest: t.path,
            knativeerrorcode: String(r.status),
            knativeerrordata: r.body.slice(0, 1024),
          });
          return null;
        }
        opts.log.error('delivery failed for good', {
          trigger: t.name,
          id: ev.id,
          type: ev.type,
          status: r.status,
          body: r.body.slice(0, 300),
          hint: 'the Trigger has no dead-letter sink: nothing else receives this event',
        });
        opts.onDeadLetter?.(t, ev, r.status);
        return null;
      }
      const delay = t.backoffPolicy === 'linear' ? t.backoffDelayMs * (attempt + 1) : t.backoffDelayMs * 2 ** attempt;
      await opts.sleep(delay * (opts.backoffScale ?? 1));
    }
  }

  async function route(ev: CloudEvent, hops: number): Promise<void> {
    if (hops >= opts.ttl) {
      opts.log.warn('event dropped: hop bound reached', { id: ev.id, type: ev.type, ttl: opts.ttl });
      return;
    }
    const matched = opts.triggers.filter((t) => matchTrigger(t, ev));
    await Promise.all(
      matched.map(async (t) => {
        const reply = await deliverOne(t, ev, hops);
        if (reply) await route(reply, hops + 1);
      }),
    );
  }

  return {
    triggers: opts.triggers,
    /** Takes an event in and returns at once; the chain runs in the background. */
    publish(ev: CloudEvent): void {
      inflight++;
      route(ev, 0)
        .catch((e) => opts.log.error('broker routing failed', { id: ev.id, error: (e as Error).message }))
        .finally(() => {
          inflight--;
          settle();
        });
    },
    /** Runs the whole chain of one event and waits for it. */
    async send(ev: CloudEvent): Promise<void> {
      await route(ev, 0);
    },
    /** Resolves when no event is in flight. */
    idle(): Promise<void> {
      return inflight === 0 ? Promise.resolve() : new Promise((r) => idleWaiters.push(r));
    },
  };
}
export type Broker = ReturnType<typeof createBroker>;
