import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Hop } from '../../functions/core/http/local-broker.ts';
import { deliveryContext } from '../../functions/core/http/local-broker.ts';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { toBinary } from '../../functions/core/http/cloudevent.ts';
import type { Cluster, Kind } from '../../functions/core/kube/cluster.ts';
import type { Config } from '../../functions/core/config.ts';
import { loadConfig } from '../../functions/core/config.ts';
import { SOURCE_PREFIX, EventType } from '../../functions/core/restore/events.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { createLogger } from '../../functions/core/log.ts';
import type { Server } from '../../functions/server.ts';
import { FUNCTIONS, createServer } from '../../functions/server.ts';
import type { Item } from './inputs.ts';
import { readInputs } from './inputs.ts';
import type { Delivery, Timed } from './order.ts';
import { deliveries, orderByTime, seededRandom } from './order.ts';
import type { WriteRecord } from './view.ts';
import { OfflineView, WriteLog, hopKey, tracked } from './view.ts';
import { endState } from './state.ts';
import type { HopRecord, ReplayOptions, Report, Step } from './report.ts';
import { UsageError } from './report.ts';

/** The project's eventing/ folder (so the CLI works from any working directory). */
export function defaultEventingDir(env: Record<string, string | undefined>, cwd: string): string {
  if (env.RG_EVENTING_DIR) return resolve(cwd, env.RG_EVENTING_DIR);
  return resolve(import.meta.dirname, '..', '..', 'eventing');
}

const RG_SOURCE = `${SOURCE_PREFIX}/`;
const objectOf = (ev: CloudEvent): KubeObject | null => {
  const d = ev.data as KubeObject | undefined;
  return d && typeof d === 'object' && typeof d.kind === 'string' && d.metadata && typeof d.metadata.name === 'string'
    ? d
    : null;
};

/** A state of the world the recording shows: an object as an event carried it, or an observation. */
interface WorldState {
  at: number;
  object: KubeObject;
  deleted: boolean;
  item: Item;
}

function worldOf(timed: Timed[]): WorldState[] {
  return timed.flatMap((t): WorldState[] => {
    if (t.item.kind === 'observation') return [{ at: t.at, object: t.item.object, deleted: false, item: t.item }];
    const o = objectOf(t.item.event);
    return o ? [{ at: t.at, object: o, deleted: t.item.event.type === EventType.apiDelete, item: t.item }] : [];
  });
}

function summarizeError(body: string): string {
  try {
    const j = JSON.parse(body) as { message?: string; error?: string };
    return j.message ?? j.error ?? body.slice(0, 300);
  } catch {
    return body.slice(0, 300);
  }
}

/**
 * Replays recorded events. Offline (default): the whole chain in this process, the local broker
 * routing by the Triggers in eventing/, reads answered by the offline view, a virtual clock that
 * follows the recorded times (backoff waits advance it instead of waiting). --target: each event
 * is POSTed in binary mode to a running server or broker. --cluster: the chain in this process
 * against the kubeconfig's cluster, dry-run unless `apply`.
 */
export async function replay(opts: ReplayOptions): Promise<Report> {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const read = readInputs(opts.paths, { failFast: opts.failFast ?? false, cwd });
  const timed = orderByTime(read.items);
  const plan: Delivery[] = deliveries(timed, opts);
  const world = worldOf(timed);
  const report: Report = {
    mode: opts.mode,
    dryRun: opts.mode === 'cluster' && !opts.apply,
    target: opts.target ?? null,
    eventingDir: null,
    triggers: [],
    files: read.files,
    problems: read.problems,
    events: plan.length,
    observations: timed.filter((t) => t.item.kind === 'observation').length,
    steps: [],
    strayWrites: [],
    writes: [],
    errors: 0,
    state: null,
    start: timed.length ? timed[0]!.at : Date.now(),
    end: 0,
    inferred: [],
    world: [],
  };
  if (opts.failFast && read.problems.length) return report;

  // The clock: offline it follows the recorded times and moves on by backoff waits; else the wall clock.
  const virtual = opts.mode === 'offline';
  let now = report.start;
  const clock = virtual ? () => new Date(now) : () => new Date();
  const nowMs = () => clock().getTime();
  const sleep = virtual
    ? async (ms: number) => {
        now = Math.max(now, nowMs() + Math.max(0, ms));
        await new Promise((r) => setImmediate(r));
      }
    : (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  const writes = new WriteLog(nowMs);
  const errorsByHop = new Map<string, string>();
  const logSink = (line: string) => {
    opts.onLog?.(line);
    const ctx = deliveryContext.getStore();
    if (!ctx) return;
    try {
      const o = JSON.parse(line) as { level?: string; msg?: string; error?: string; why?: string };
      if ((o.level === 'warn' || o.level === 'error') && (o.error || o.why)) {
        const k = hopKey(ctx);
        errorsByHop.set(k, [errorsByHop.get(k), `${o.msg}: ${o.error ?? o.why}`].filter(Boolean).join('; '));
      }
    } catch {
      /* not JSON: ignore */
    }
  };
  const log = createLogger({ level: opts.onLog ? 'debug' : 'info', sink: logSink, now: clock });

  let current: Step | null = null;
  const onHop = (h: Hop) => {
    const key = hopKey({ path: h.path, eventId: h.event.id, attempt: h.attempt, hops: h.hops });
    const error = h.status >= 400 ? (errorsByHop.get(key) ?? `status ${h.status}`) : null;
    errorsByHop.delete(key);
    if (h.status >= 400) report.errors++;
    current?.hops.push({
      function: h.path.replace(/^\//, ''),
      trigger: h.trigger,
      depth: h.hops,
      attempt: h.attempt,
      event: { id: h.event.id, type: h.event.type },
      status: h.status,
      reply: h.reply ? { id: h.reply.id, type: h.reply.type, data: h.reply.data } : null,
      error,
      writes: writes.take(key),
    });
  };

  let server: Server | null = null;
  let view: OfflineView | null = null;
  let cluster: Cluster | null = null;
  let config: Config | null = null;
  if (opts.mode !== 'target') {
    const eventingDir = opts.eventingDir ? resolve(cwd, opts.eventingDir) : defaultEventingDir(env, cwd);
    if (!existsSync(eventingDir)) {
      throw new UsageError(
        `no eventing folder at ${eventingDir}: the local broker routes by the Triggers there; set RG_EVENTING_DIR or pass --eventing DIR`,
      );
    }
    report.eventingDir = eventingDir;
    try {
      config = loadConfig({
        ...env,
        RG_LOCAL_BROKER: 'true',
        RG_EVENTING_DIR: eventingDir,
        RG_RECORD_DIR: '',
        // Captures are replayed in-process; their Authorization headers were redacted when recorded.
        RG_AUTH: 'none',
        RG_DRY_RUN: opts.mode === 'cluster' && !opts.apply ? 'true' : 'false',
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    let connect: () => Promise<Cluster>;
    if (opts.mode === 'offline') {
      view = new OfflineView(clock);
      cluster = tracked(view.cluster, writes, view.cluster);
      const c = cluster;
      connect = async () => c;
    } else {
      const { connectCluster } = await import('../../functions/core/kube/rest-cluster.ts');
      const raw = await (opts.connect ?? (() => connectCluster(config!.KUBECONFIG)))();
      cluster = opts.apply ? tracked(raw, writes) : raw;
      const c = cluster;
      connect = async () => c;
    }
    server = createServer({
      config,
      log,
      connect,
      clock,
      random: seededRandom(`random:${opts.shuffleSeed ?? 'replay'}`),
      sleep,
      onHop,
      backoffScale: virtual ? 0 : 1,
      onDryWrite: (w) =>
        writes.add({
          verb: w.verb as WriteRecord['verb'],
          kind: w.kind,
          namespace: w.namespace,
          name: w.name,
          body: w.body,
          changed: null,
          dryRun: true,
        }),
    });
    const broker = server.broker!;
    report.triggers = broker.triggers.map((t) => `${t.name} -> ${t.path}`);
    if (broker.triggers.length === 0) throw new UsageError(`no Triggers in ${eventingDir}: nothing would be routed`);
    if (opts.only?.length) {
      const names = FUNCTIONS.map((f) => f.name);
      const unknown = opts.only.filter((n) => !names.includes(n));
      if (unknown.length)
        throw new UsageError(`--only: no function named ${unknown.join(', ')} (functions: ${names.join(', ')})`);
      const keep = broker.triggers.filter((t) => opts.only!.includes(t.path.replace(/^\//, '')));
      broker.triggers.splice(0, broker.triggers.length, ...keep); // the broker routes by this very list
    }
  }

  const send = opts.fetch ?? fetch;
  const newStep = (index: number, at: number, recordedAt: number, item: Item, copy: number): Step => ({
    index,
    at,
    recordedAt,
    origin: { file: item.origin.file, line: item.origin.line },
    copy,
    kind: item.kind,
    event:
      item.kind === 'event'
        ? { id: item.event.id, type: item.event.type, source: item.event.source, subject: item.event.subject ?? null }
        : null,
    object: item.kind === 'event' ? objectOf(item.event) : item.object,
    deleted: item.kind === 'event' && item.event.type === EventType.apiDelete,
    before: null,
    view: null,
    skipped: null,
    hops: [],
  });

  // Offline, the view is the world as the recording shows it at the replay's clock, which only moves
  // forward: before each delivery, every state recorded up to that time is applied (in recorded
  // order), whether or not its own event has been delivered yet, as a live API server would answer.
  let applied = 0;
  const advanceWorld = async (until: number) => {
    while (view && applied < world.length && world[applied]!.at <= until) {
      const w = world[applied++]!;
      const o = w.object;
      const ns = o.metadata.namespace ?? 'default';
      const before =
        w.deleted && (o.kind === 'Pod' || o.kind === 'Job')
          ? await view.cluster.get(o.kind, ns, o.metadata.name)
          : null;
      const result = view.observe(o, w.deleted, w.at);
      report.world.push({ at: w.at, object: o, deleted: w.deleted, before, result });
      if (w.item.kind === 'observation') {
        const step = newStep(report.steps.length, nowMs(), w.at, w.item, 0);
        step.view = result;
        report.steps.push(step);
      }
    }
  };

  if (opts.mode !== 'offline' && report.observations) {
    const step = newStep(0, report.start, report.start, timed.find((t) => t.item.kind === 'observation')!.item, 0);
    step.skipped = `${report.observations} observation(s) only feed the offline view; not used with --${opts.mode}`;
    report.steps.push(step);
  }
  let lastAt: number | null = null;
  for (const [n, d] of plan.entries()) {
    if (opts.pace && lastAt !== null && d.deliverAt > lastAt)
      await realSleep((d.deliverAt - lastAt) / (opts.speed ?? 1));
    lastAt = d.deliverAt;
    if (virtual) now = Math.max(now, d.deliverAt);
    await advanceWorld(d.deliverAt);
    const it = d.item;
    const step = newStep(report.steps.length, nowMs(), d.at, it, d.copy);
    report.steps.push(step);
    current = step;
    if (!opts.withReplies && it.event.source.startsWith(RG_SOURCE)) {
      step.skipped = 'produced by restore-guard: the chain makes it again (--with-replies to deliver it)';
    } else if (opts.mode === 'target') {
      await deliverHttp(send, opts.target!, it.event, step, report);
    } else {
      if (view && step.object) step.view = view.freshness(step.object, step.deleted);
      await server!.broker!.send(it.event);
    }
    current = null;
    opts.onProgress?.(n + 1, plan.length);
  }
  if (virtual) now = Math.max(now, world.length ? world[world.length - 1]!.at : now);
  await advanceWorld(Infinity);
  report.strayWrites = writes.orphans();
  report.writes = writes.all;
  report.end = Math.max(nowMs(), lastAt ?? report.start);
  report.world.sort((a, b) => a.at - b.at);
  if (server) await server.flush();
  if (cluster && config && server) report.state = await endState(cluster, server.deps, report);
  if (view) report.inferred = [...view.inferred];
  return report;
}

async function deliverHttp(send: typeof fetch, url: string, ev: CloudEvent, step: Step, report: Report): Promise<void> {
  const { headers, body } = toBinary(ev);
  const hop: HopRecord = {
    function: new URL(url).pathname,
    trigger: url,
    depth: 0,
    attempt: 0,
    event: { id: ev.id, type: ev.type },
    status: 0,
    reply: null,
    error: null,
    writes: [],
  };
  try {
    const r = await send(url, { method: 'POST', headers, body });
    hop.status = r.status;
    const text = await r.text();
    const type = r.headers.get('ce-type');
    if (r.status === 200 && type) {
      let data: unknown = text;
      try {
        data = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      hop.reply = { id: r.headers.get('ce-id') ?? '', type: decodeURIComponent(type), data };
    }
    if (r.status >= 400) hop.error = summarizeError(text);
  } catch (e) {
    hop.error = `could not send: ${(e as Error).message}`;
  }
  if (hop.status === 0 || hop.status >= 400) report.errors++;
  step.hops.push(hop);
}

export type { Kind };
