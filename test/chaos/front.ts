/**
 * The delivery front: Knative's Broker as eventing/ configures it, in front of N restore-guard
 * replica processes. The routing, filters, retry count and backoff are the local broker's
 * (functions/core/http/local-broker.ts reads the same Triggers); only the delivery differs: every
 * attempt goes over HTTP to a random replica, a connection error or a timeout counts as a 5xx
 * (Knative retries both), a reply event re-enters the front, and what fails its last retry is
 * counted as dead-lettered. At-least-once faults on top: a share of deliveries is sent twice, and
 * every delivery may wait up to maxDelayMs first (so events overtake each other).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCloudEvent, toBinary, type CloudEvent } from '../../functions/core/http/cloudevent.ts';
import {
  createBroker,
  deliveryContext,
  loadTriggers,
  type TriggerRoute,
} from '../../functions/core/http/local-broker.ts';
import type { Logger } from '../../functions/core/log.ts';

export interface FrontOptions {
  eventingDir: string;
  /** base URLs of the replicas (http://127.0.0.1:<port>), whether up or not */
  replicas: readonly string[];
  random: () => number;
  /** share of deliveries sent a second time (to another random replica) */
  duplicate: number;
  /** a share of deliveries (delayShare) first waits a random time up to this */
  maxDelayMs: number;
  delayShare?: number;
  /** a delivery with no answer after this is a timeout (retried) */
  timeoutMs: number;
  log: Logger;
  /** hop bound (Knative's broker TTL) */
  ttl?: number;
  /** a hook that may change or drop an event before delivery (fault injection of the suite's own breaks) */
  tamper?: (path: string, ev: CloudEvent) => CloudEvent | null;
}

export interface FrontStats {
  received: number;
  deliveries: number;
  byStatus: Record<string, number>;
  duplicated: number;
  delayed: number;
  deadLettered: { trigger: string; type: string; id: string; status: number }[];
  dropped: number;
}

/** A status for what never got an HTTP answer: Knative retries both. */
export const NETWORK_ERROR = 599;
export const TIMEOUT = 504;

export function createFront(opts: FrontOptions) {
  const triggers: TriggerRoute[] = loadTriggers(opts.eventingDir);
  const stats: FrontStats = {
    received: 0,
    deliveries: 0,
    byStatus: {},
    duplicated: 0,
    delayed: 0,
    deadLettered: [],
    dropped: 0,
  };
  let paused = false;
  const faults = { duplicate: opts.duplicate, maxDelayMs: opts.maxDelayMs };
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const pick = () => opts.replicas[Math.floor(opts.random() * opts.replicas.length)]!;

  async function post(
    base: string,
    path: string,
    ev: CloudEvent,
  ): Promise<{ status: number; headers: Record<string, string>; body: string; reply: CloudEvent | null }> {
    const { headers, body } = toBinary(ev);
    try {
      const r = await fetch(base + path, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      const text = await r.text();
      const h: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        h[k] = v;
      });
      let reply: CloudEvent | null = null;
      if (r.status === 200 && h['ce-type']) reply = parseCloudEvent({ headers: h, body: text });
      return { status: r.status, headers: h, body: text, reply };
    } catch (e) {
      const timeout = (e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError';
      return {
        status: timeout ? TIMEOUT : NETWORK_ERROR,
        headers: {},
        body: String((e as Error).message),
        reply: null,
      };
    }
  }

  const count = (status: number) => {
    stats.deliveries++;
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
  };

  const broker = createBroker({
    triggers,
    ttl: opts.ttl ?? 255,
    log: opts.log,
    sleep,
    onDeadLetter: (t, ev, status) => stats.deadLettered.push({ trigger: t.name, type: ev.type, id: ev.id, status }),
    deliver: async (path, original) => {
      const ev = opts.tamper ? opts.tamper(path, original) : original;
      if (!ev) {
        stats.dropped++;
        return { status: 202, headers: {}, body: 'dropped by the front', reply: null };
      }
      // delayed once, before the first attempt (retries keep the Trigger's own backoff)
      if (
        faults.maxDelayMs > 0 &&
        (deliveryContext.getStore()?.attempt ?? 0) === 0 &&
        opts.random() < (opts.delayShare ?? 1)
      ) {
        stats.delayed++;
        await sleep(Math.floor(opts.random() * faults.maxDelayMs));
      }
      // A replica that is down answers nothing: Knative would hold the request in the activator
      // while none is ready; wait (bounded) instead of burning the retries at once.
      for (let i = 0; paused && i < 600; i++) await sleep(100);
      if (opts.random() < faults.duplicate) {
        stats.duplicated++;
        // the redelivery's reply goes round like any reply
        void post(pick(), path, ev).then((r) => {
          count(r.status);
          if (r.reply) broker.publish(r.reply);
        });
      }
      const r = await post(pick(), path, ev);
      count(r.status);
      return r;
    },
  });

  let server: http.Server | null = null;
  return {
    stats,
    triggers,
    broker,
    /** Takes an event in (as the Broker's ingress does). */
    publish(ev: CloudEvent): void {
      stats.received++;
      broker.publish(ev);
    },
    /** Switches the at-least-once faults (duplicates, delays) on or off. */
    setFaults(duplicate: number, maxDelayMs: number): void {
      faults.duplicate = duplicate;
      faults.maxDelayMs = maxDelayMs;
    },
    /** Holds every delivery until resumed (bounded to 60 s each). */
    pause(p: boolean): void {
      paused = p;
    },
    idle: () => broker.idle(),
    /** The ingress on loopback; resolves with its URL (K_SINK). */
    async listen(): Promise<string> {
      server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          try {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
            const ev = parseCloudEvent({ headers, body: Buffer.concat(chunks).toString('utf8') });
            stats.received++;
            broker.publish(ev);
            res.writeHead(202).end();
          } catch (e) {
            res.writeHead(400).end(String((e as Error).message));
          }
        });
      });
      const port = await new Promise<number>((resolve) =>
        server!.listen(0, '127.0.0.1', () => resolve((server!.address() as AddressInfo).port)),
      );
      return `http://127.0.0.1:${port}/`;
    },
    async close(): Promise<void> {
      if (server) await new Promise<void>((r) => server!.close(() => r()));
    },
  };
}
export type Front = ReturnType<typeof createFront>;
