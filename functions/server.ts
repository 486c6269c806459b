/**
 * The composition root: the one file that knows every function. It wires configuration, logs,
 * metrics, the cluster (connected lazily, wrapped in the write guard, dry-run and metrics), the
 * recorder, the local broker and the routes, and hands resync the chain's own steps.
 */
import type { Hono } from 'hono';
import type { Config } from './core/config.ts';
import type { Deps } from './core/deps.ts';
import { noCluster } from './core/deps.ts';
import { ConfigError, OverloadedError } from './core/errors.ts';
import { OVERLOADED_HEADERS, createApp, invoke, readRequest } from './core/http/app.ts';
import { authenticate, createAuthenticator } from './core/http/auth.ts';
import type { IssuerKeys } from './core/http/auth.ts';
import type { RequestTap } from './core/http/app.ts';
import type { CloudEvent } from './core/http/cloudevent.ts';
import { parseCloudEvent, toBinary } from './core/http/cloudevent.ts';
import type { FunctionDef } from './core/http/function.ts';
import { createInFlight } from './core/http/in-flight.ts';
import { deadLetter, knownOf } from './core/http/dead-letter.ts';
import { createBroker, loadTriggers } from './core/http/local-broker.ts';
import type { Broker, Hop } from './core/http/local-broker.ts';
import { createRecorder } from './core/http/recorder.ts';
import type { Cluster } from './core/kube/cluster.ts';
import { dryRun } from './core/kube/dry-run.ts';
import { instrumented } from './core/kube/instrumented.ts';
import type { Logger } from './core/log.ts';
import { createMetrics } from './core/metrics.ts';
import { RecentIds } from './core/recent-ids.ts';
import { createSelector } from './core/restore/selection.ts';
import { guarded } from './core/restore/write-guard.ts';
import { completion } from './completion/index.ts';
import { labeling } from './labeling/index.ts';
import { record } from './labeling/record.ts';
import { release } from './release/index.ts';
import { releaseGroup, releaseOutcome } from './release/release.ts';
import { createResync } from './resync/index.ts';
import { retry } from './retry/index.ts';
import { retryFailure } from './retry/retry.ts';

/**
 * resync runs the chain's own steps again (it declares them in resync/sweep.ts); retry's without
 * the in-request backoff wait, since the next ping finds a retry that is not yet due.
 */
const resync = createResync({
  record,
  retry: (deps, cluster, d) => retryFailure(deps, cluster, d, { wait: false }),
  releaseOutcome,
  releaseGroup,
});

export const FUNCTIONS: FunctionDef<Deps>[] = [completion, labeling, release, retry, resync];

export interface ServerOptions {
  config: Config;
  log: Logger;
  /** Connects the raw cluster; default: none (functions that need one answer 503). */
  connect?: () => Promise<Cluster>;
  clock?: () => Date;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onHop?: (h: Hop) => void;
  /** Local broker retry backoff scale (1 = as the Trigger says). */
  backoffScale?: number;
  /**
   * Reads the ServiceAccount issuer and its keys, for RG_AUTH=oidc (index.ts: from the API server).
   * Without it, RG_AUTH=oidc refuses every event with 503 (fail closed).
   */
  issuerKeys?: () => Promise<IssuerKeys>;
  /** Called with every write dry-run suppresses. */
  onDryWrite?: Parameters<typeof dryRun>[2];
}

export interface Server {
  app: Hono;
  deps: Deps;
  broker: Broker | null;
  /** Waits until recorded requests are on disk. */
  flush(): Promise<void>;
}

/** Runs a start-up step on a configured folder; its failure is a ConfigError naming the variable. */
function usable<T>(name: string, dir: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new ConfigError(`${name}=${JSON.stringify(dir)} cannot be used: ${(e as Error).message}`, {
      hint: `point ${name} at a folder this process can use (see README, Configuration) and start again`,
    });
  }
}

/** Builds the process's app, deps and broker from options (clock, randomness and the cluster injectable). */
export function createServer(opts: ServerOptions): Server {
  const { config, log } = opts;
  const metrics = createMetrics();
  const selector = createSelector(config);
  let connecting: Promise<Cluster> | null = null;
  const connect = opts.connect;
  const cluster = (): Promise<Cluster> => {
    if (!connect) return noCluster();
    connecting ??= connect()
      .then((raw) => {
        const inner = config.RG_DRY_RUN ? dryRun(raw, log, opts.onDryWrite) : raw;
        return guarded(instrumented(inner, metrics, log), selector, config.RG_DOMAIN, log, metrics);
      })
      .catch((e: unknown) => {
        connecting = null; // try again on the next event
        throw e;
      });
    return connecting;
  };
  const deps: Deps = {
    config,
    log,
    metrics,
    selector,
    clock: opts.clock ?? (() => new Date()),
    random: opts.random ?? Math.random,
    sleep: opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    cluster,
    memory: new RecentIds(config.RG_DEDUP_SIZE),
  };
  const recorder = config.RG_RECORD_DIR
    ? usable('RG_RECORD_DIR', config.RG_RECORD_DIR, () =>
        createRecorder(config.RG_RECORD_DIR, config.RG_RECORD_MAX_FILES, log),
      )
    : null;
  const tap: RequestTap | undefined = recorder ?? undefined;

  const inFlight = createInFlight(config.RG_MAX_IN_FLIGHT);
  let broker: Broker | null = null;
  if (config.RG_LOCAL_BROKER) {
    const byPath = new Map(FUNCTIONS.map((f) => [`/${f.name}`, f]));
    broker = createBroker({
      triggers: usable('RG_EVENTING_DIR', config.RG_EVENTING_DIR, () => loadTriggers(config.RG_EVENTING_DIR)),
      ttl: config.RG_BROKER_TTL,
      log,
      metrics,
      sleep: deps.sleep,
      ...(opts.onHop ? { onHop: opts.onHop } : {}),
      ...(opts.backoffScale !== undefined ? { backoffScale: opts.backoffScale } : {}),
      // The Triggers' dead-letter sink is this server's own POST /dead-letter (core/http/app.ts).
      deadLetter: (path, ev) => {
        if (path === '/dead-letter') deadLetter(deps, ev, knownOf(FUNCTIONS));
        else log.error('delivery failed for good', { id: ev.id, type: ev.type, deadLetterSink: path });
      },
      deliver: async (path, ev: CloudEvent) => {
        const fn = byPath.get(path);
        if (!fn) return { status: 404, headers: {}, body: `no function at ${path}` };
        const { headers, body } = toBinary(ev);
        // In-process deliveries count against RG_MAX_IN_FLIGHT like HTTP requests (waiting their turn).
        await inFlight.enter();
        try {
          const r = await invoke(fn, deps, { headers, body });
          return { ...r, reply: r.event ?? null };
        } finally {
          inFlight.leave();
        }
      },
    });
    log.info('local broker on', { triggers: broker.triggers.map((t) => `${t.name} -> ${t.path}`) });
  }

  const auth =
    config.RG_AUTH === 'oidc'
      ? authenticate(
          createAuthenticator({
            audience: config.RG_AUTH_AUDIENCE,
            issuer: config.RG_AUTH_ISSUER,
            subjects: config.RG_AUTH_SUBJECTS,
            fetchKeys:
              opts.issuerKeys ?? (() => Promise.reject(new Error('no API server to read the issuer keys from'))),
            log,
          }),
          log,
          (path, code) => {
            const fn = FUNCTIONS.find((f) => `/${f.name}` === path);
            metrics.events.inc({ function: fn ? fn.name : 'ingress', type: 'other', outcome: code });
          },
        )
      : undefined;
  const app = createApp({
    functions: FUNCTIONS,
    ...(auth ? { auth } : {}),
    deps,
    maxBodyBytes: config.RG_MAX_BODY_BYTES,
    maxBodyBuffer: config.RG_MAX_BODY_BUFFER_BYTES,
    inFlight,
    ...(tap ? { tap } : {}),
    extend: (a) => {
      if (!broker) return;
      const b = broker;
      // The ingress: what a Broker's URL takes (K_SINK of the ApiServerSource and PingSource).
      a.post('/', async (c) => {
        // A backlog of in-process deliveries ten times the cap refuses more events (the sender
        // redelivers), so a flood into the ingress cannot queue without bound; a burst (one event
        // fans out to several Triggers, replies go round again) still queues.
        if (inFlight.waiting >= 10 * inFlight.max) {
          metrics.events.inc({ function: 'ingress', type: 'other', outcome: 'overloaded' });
          const err = new OverloadedError(`${inFlight.waiting} deliveries waiting, the limit is ${10 * inFlight.max}`, {
            hint: 'transient: send the event again later; raise RG_MAX_IN_FLIGHT if this persists',
          });
          return c.json(err.toJSON(), 503, OVERLOADED_HEADERS);
        }
        b.publish(parseCloudEvent(await readRequest(c, deps, tap)));
        return c.body(null, 202);
      });
    },
  });
  return { app, deps, broker, flush: () => recorder?.flush() ?? Promise.resolve() };
}
