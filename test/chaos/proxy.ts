/**
 * The fault proxy: a TLS server on loopback between the restore-guard replicas and kube-apiserver
 * (their kubeconfig names it; it serves the rig's own serving certificate, so the rig's CA verifies
 * it). Each request passes through unchanged (the ServiceAccount token included: the API server
 * still decides who may do what) unless a fault is drawn for it, at the configured rates:
 *
 *   conflict      409 Conflict (writes only: what a concurrent writer causes), not forwarded
 *   throttle      429 with Retry-After: 1 (API Priority and Fairness), not forwarded
 *   error500/503  500 InternalError / 503 ServiceUnavailable, not forwarded
 *   resetBefore   the connection is reset before the request reaches the server
 *   resetAfter    the request reaches the server and takes effect; the connection is reset before
 *                 the answer gets back (the client cannot know whether it happened)
 *   timeout       no answer at all (held until the client gives up), not forwarded
 *   latency       forwarded after a 1-3 s pause
 */
import type * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';

export const FAULT_KINDS = [
  'conflict',
  'throttle',
  'error500',
  'error503',
  'resetBefore',
  'resetAfter',
  'timeout',
  'latency',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultRates = Record<FaultKind, number>;

export interface ProxyOptions {
  /** kube-apiserver's URL (https://127.0.0.1:<port>) */
  target: string;
  ca: Buffer;
  /** the certificate and key the proxy serves (valid for 127.0.0.1) */
  cert: Buffer;
  key: Buffer;
  rates: FaultRates;
  random: () => number;
  /** how long a "timeout" holds the request (longer than the client's own timeout) */
  holdMs?: number;
}

export interface ProxyStats {
  requests: number;
  forwarded: number;
  faults: Record<FaultKind, number>;
  /** answered or dropped by the proxy without reaching the server */
  refused: number;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Which fault (if any) a request gets: one draw, the kinds' rates stacked. Pure. */
export function drawFault(method: string, rates: FaultRates, r: number): FaultKind | null {
  let acc = 0;
  for (const k of FAULT_KINDS) {
    const rate = k === 'conflict' && !(method === 'PUT' || method === 'PATCH' || method === 'DELETE') ? 0 : rates[k];
    acc += rate;
    if (r < acc) return k;
  }
  return null;
}

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

export function createFaultProxy(opts: ProxyOptions) {
  const stats: ProxyStats = {
    requests: 0,
    forwarded: 0,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    refused: 0,
  };
  let enabled = true;
  const target = new URL(opts.target);
  const holdMs = opts.holdMs ?? 15_000;
  const agent = new https.Agent({ keepAlive: true, ca: opts.ca, maxSockets: 64 });

  const forward = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, resetAfter: boolean) => {
    stats.forwarded++;
    const headers = { ...req.headers, host: target.host };
    const up = https.request(
      { hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers, agent },
      (ur) => {
        if (resetAfter) {
          // the server did it; the client never hears
          ur.resume();
          ur.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', (e) => {
      if (res.destroyed) return;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(status(502, 'InternalError', `fault proxy: upstream error ${e.message}`));
    });
    // The client went away before its answer was through (a replica killed, its request timed
    // out): drop the upstream request too. Left alone, its response stays unread once the pipe to
    // the closed client stops, and it holds one of the agent's sockets for good; after 64 of them
    // the proxy answered nothing at all (the full mode's stall: 63 idle sockets to kube-apiserver).
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.end(body);
  };

  const server = https.createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      stats.requests++;
      const body = Buffer.concat(chunks);
      const watch = /[?&]watch=(1|true)/.test(req.url ?? '');
      const kind = enabled && !watch ? drawFault(req.method ?? 'GET', opts.rates, opts.random()) : null;
      if (kind) stats.faults[kind]++;
      const json = (code: number, reason: string, message: string, extra: Record<string, string> = {}) => {
        stats.refused++;
        res.writeHead(code, { 'content-type': 'application/json', ...extra });
        res.end(status(code, reason, message));
      };
      switch (kind) {
        case 'conflict':
          return json(
            409,
            'Conflict',
            'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again',
          );
        case 'throttle':
          return json(429, 'TooManyRequests', 'Too many requests, please try again later.', { 'retry-after': '1' });
        case 'error500':
          return json(500, 'InternalError', 'Internal error occurred: fault proxy');
        case 'error503':
          return json(503, 'ServiceUnavailable', 'The server is currently unable to handle the request');
        case 'resetBefore':
          stats.refused++;
          req.socket.destroy();
          return;
        case 'timeout': {
          stats.refused++;
          const t = setTimeout(() => req.socket.destroy(), holdMs);
          req.socket.on('close', () => clearTimeout(t));
          return;
        }
        case 'latency':
          setTimeout(() => forward(req, body, res, false), 1000 + Math.floor(opts.random() * 2000));
          return;
        default:
          forward(req, body, res, kind === 'resetAfter');
      }
    });
  });

  // kube-apiserver keeps idle connections for long (Go's server); a Node server's 5 s default would
  // reset connections the replicas are about to reuse: a fault of the proxy's own, not one drawn.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 130_000;
  server.requestTimeout = 0;

  return {
    stats,
    isWrite: (m: string) => WRITES.has(m),
    /** Faults on (default) or off (plain pass-through). */
    setEnabled(on: boolean): void {
      enabled = on;
    },
    async listen(): Promise<string> {
      const port = await new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
      );
      return `https://127.0.0.1:${port}`;
    },
    async close(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
    },
  };
}
export type FaultProxy = ReturnType<typeof createFaultProxy>;
