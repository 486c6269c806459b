/**
 * Figure 10: restore-guard at scale. Many KWOK nodes, hundreds of restore groups of three with a
 * steady number in flight, instant and 2 s restores; restore-guard as the shipped bundle in 1 and
 * in 3 replica processes behind one Broker-like delivery front (test/chaos/front.ts, with no faults:
 * each delivery to a random replica, replies re-enter the front), fed by Knative's ApiServerSource
 * adapter. Per cell:
 *
 * - p50/p99 of pod bound → its anchor exists, and restore end → the pod's record, from the bench's
 *   own watch (arrival times, ms);
 * - Kubernetes API requests and invocations per restore pod (every replica's /metrics);
 * - per replica: events/s, CPU ms (utime + stime, /proc) and RSS at the start and end, so the
 *   spread over replicas shows;
 * - what bounds it: CPU seconds each process of the machine spent in the cell (kube-apiserver, etcd,
 *   scheduler, controller manager, KWOK, the adapter, the replicas, this bench), and restore-guard's
 *   CPU per event, which is what a dedicated pod would pay.
 *
 * `npm run bench -- --only=10` (quick: 100 groups per cell) or `-- --only=10 --full` (the issue's
 * size: 50 nodes, 500 groups, 50 in flight). Figure 10 runs only when asked for by --only.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../functions/core/log.ts';
import { createFront } from '../chaos/front.ts';
import { createReplicas } from '../chaos/replicas.ts';
import { addKwokNodes, replicaEnv, resyncPing } from '../chaos/topology.ts';
import { readState, saKubeconfig, sleep, startAdapter } from '../rig/index.ts';
import {
  EVENTING_DIR,
  FUNCTIONS_SA,
  L,
  RG_NAMESPACE,
  SOURCE_SA,
  applyRbac,
  containerTerminatedAt,
  isGone,
  placement,
  sourceAdapterOptions,
  startChain,
  warmWithResync,
  type Chain,
  type RestoreGroup,
} from '../support/chain.ts';
import { cpuMsOf } from './cost.ts';
import { anchorsOf, index, podsOfJob } from './groups.ts';
import { diffCounters, fmtMs, fmtNum, markdownTable, parseCounters, percentile, type Row } from './table.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const COUNTERS = ['restoreguard_kube_requests_total', 'restoreguard_events_total'] as const;
const REPLICAS_PER_GROUP = 3;
/** the deployed resync period (eventing/pingsource.yaml) */
const PING_MS = 5 * 60_000;

export interface ScaleCell {
  /** restore-guard replica processes */
  replicas: number;
  runMs: number;
  groups: number;
  inFlight: number;
  /** KWOK nodes in all (the rig's five and extra ones made for the cell) */
  nodes: number;
}

export interface ReplicaFigures {
  events: number;
  cpuMs: number;
  rssStartMb: number | null;
  rssEndMb: number | null;
}

export interface ScaleResult {
  cell: ScaleCell;
  label: string;
  pods: number;
  completed: number;
  wallMs: number;
  /** per restore pod: bound → anchor first seen, restore end → record first seen (ms) */
  boundToAnchor: number[];
  endToRecord: number[];
  /** pods that ended with no record seen, and pods bound with no anchor seen */
  unrecorded: number;
  unanchored: number;
  requests: number;
  invocations: number;
  replicas: ReplicaFigures[];
  /** CPU ms by process over the cell */
  cpuByProcess: Record<string, number>;
  loadavg: number[];
}

export function scaleLabel(c: ScaleCell): string {
  return `${c.nodes} nodes, ${c.groups} groups (${c.inFlight} in flight), ${c.runMs >= 1000 ? `${c.runMs / 1000} s` : `${c.runMs} ms`}, ${c.replicas} replica${c.replicas > 1 ? 's' : ''}`;
}

/** The cells: 1 and 3 replicas, instant and 2 s restores. */
export function scaleCells(full: boolean): ScaleCell[] {
  const size = full ? { groups: 500, inFlight: 50, nodes: 50 } : { groups: 100, inFlight: 25, nodes: 50 };
  const cells: ScaleCell[] = [];
  for (const runMs of [0, 2000]) for (const replicas of [1, 3]) cells.push({ replicas, runMs, ...size });
  return cells;
}

/** CPU ms of the rig's processes and of this bench, for the "what bounds it" table. */
function cpuSnapshot(extra: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  const pids: Record<string, number | undefined> = { ...(readState()?.pids ?? {}), ...extra, bench: process.pid };
  for (const [name, pid] of Object.entries(pids)) {
    if (!pid) continue;
    try {
      out[name] = cpuMsOf(pid);
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * Done: every Job terminal, no restore pod and no anchor left (release deletes both), from the
 * watch alone (polling the API for hundreds of groups would load the API server the figure measures).
 */
function groupDone(chain: Chain, g: RestoreGroup): boolean {
  if (g.created.size < g.replicas) return false;
  const ix = index(chain.observer);
  for (const j of g.jobNames) {
    const h = ix.byName.get(`Job/${j}`)?.[0];
    const o = h?.[h.length - 1]?.obj;
    const done = (o?.status?.conditions ?? []).some(
      (c: { type: string; status: string }) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
    );
    if (!done) return false;
    if (podsOfJob(chain.observer, j).some((p) => !isGone(p))) return false;
  }
  return anchorsOf(chain.observer, g.name).every(isGone);
}

async function metricsOf(url: string): Promise<Map<string, number>> {
  const r = await fetch(`${url}/metrics`);
  return parseCounters(await r.text(), COUNTERS);
}

/** Runs one cell of figure 10 in a fresh namespace, with its own replicas, front and adapter. */
export async function runScaleCell(
  cell: ScaleCell,
  opts: { capMs: number; progress: (s: string) => void },
): Promise<ScaleResult> {
  const label = scaleLabel(cell);
  const say = (s: string) => opts.progress(`fig 10 ${label}: ${s}`);
  const chain = await startChain({ mode: 'plain', namespace: `scale-${Date.now().toString(36)}` });
  const { kube, ns, rig } = chain;
  const extraNodes: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  try {
    extraNodes.push(...(await addKwokNodes(kube, ns, rig.nodes.length, cell.nodes)));
    await applyRbac(kube);
    const saConfig = await saKubeconfig(RG_NAMESPACE, FUNCTIONS_SA);
    const sourceConfig = await saKubeconfig(RG_NAMESPACE, SOURCE_SA);
    const replicas = await createReplicas({
      count: cell.replicas,
      entry: path.join(ROOT, 'dist', 'server.js'),
      logDir: rig.logDir,
      tag: ns,
      env: replicaEnv(saConfig, ns, { LOG_LEVEL: 'warn' }),
    });
    cleanups.push(() => replicas.stopAll());
    for (let i = 0; i < cell.replicas; i++) await replicas.start(i);
    for (const url of replicas.urls) await warmWithResync(url).catch(() => undefined);
    replicas.sampleRss();
    const log = createLogger({
      level: 'warn',
      sink: (line) => fs.appendFileSync(path.join(rig.logDir, `scale-${ns}-front.log`), `${line}\n`),
    });
    const front = createFront({
      eventingDir: EVENTING_DIR,
      replicas: replicas.urls,
      random: Math.random,
      duplicate: 0,
      maxDelayMs: 0,
      timeoutMs: 300_000,
      log,
    });
    const ingress = await front.listen();
    cleanups.push(() => front.close());
    const adapter = startAdapter(sourceAdapterOptions(ingress, ns, sourceConfig));
    cleanups.push(() => adapter.stop());
    await adapter.ready;

    const pidOf = (i: number) => replicas.replicas[i]?.child?.pid;
    const replicaPids = Object.fromEntries(replicas.urls.map((_, i) => [`restore-guard ${i}`, pidOf(i)]));
    const before = await Promise.all(replicas.urls.map(metricsOf));
    const cpu0 = cpuSnapshot({ ...replicaPids, adapter: adapter.pid });
    const t0 = Date.now();
    say(`set up (${extraNodes.length} extra nodes, ${cell.replicas} replicas, front ${ingress}); creating groups`);

    // -- the workload: `inFlight` groups at a time, each to its end (bounded)
    const groups: RestoreGroup[] = [];
    let next = 0;
    let completed = 0;
    let nextPing = t0 + PING_MS;
    const one = async (i: number) => {
      const g = await chain.createRestoreGroup({
        name: `s${cell.replicas}-${cell.runMs}-${i}`,
        profile: 'generic',
        replicas: REPLICAS_PER_GROUP,
        runMs: cell.runMs,
        claims: true,
        declareSize: true,
        backoffLimit: 0,
      });
      groups.push(g);
      const started = Date.now();
      try {
        while (!groupDone(chain, g)) {
          if (Date.now() - started > opts.capMs) throw new Error(`group ${g.name} not done in ${opts.capMs} ms`);
          if (Date.now() >= nextPing) {
            nextPing += PING_MS;
            front.publish(resyncPing());
          }
          await chain.observer.next(500);
        }
        completed++;
      } catch (e) {
        say((e as Error).message);
      } finally {
        g.stop();
      }
      if ((completed + 1) % 50 === 0 || i === cell.groups - 1) replicas.sampleRss();
      if (completed % 50 === 0) say(`${completed}/${cell.groups} groups done in ${fmtMs(Date.now() - t0)}`);
    };
    await Promise.all(
      Array.from({ length: Math.min(cell.inFlight, cell.groups) }, async () => {
        for (;;) {
          const i = next++;
          if (i >= cell.groups) return;
          await one(i);
        }
      }),
    );
    const wallMs = Date.now() - t0;
    await Promise.race([front.idle(), sleep(30_000)]);
    replicas.sampleRss();
    const cpu1 = cpuSnapshot({ ...replicaPids, adapter: adapter.pid });
    const after = await Promise.all(replicas.urls.map(metricsOf));

    // -- per pod, from the watch
    const boundToAnchor: number[] = [];
    const endToRecord: number[] = [];
    let unrecorded = 0;
    let unanchored = 0;
    for (const g of groups) {
      const anchors = anchorsOf(chain.observer, g.name);
      for (const j of g.jobNames) {
        for (const h of podsOfJob(chain.observer, j)) {
          const pod = h[0]!.obj;
          const bound = placement(h);
          if (bound) {
            const a = anchors.find((x) => x[0]!.obj.metadata.labels?.[L.anchorFor] === pod.metadata.name);
            if (a) boundToAnchor.push(Math.max(0, a[0]!.at - bound.at));
            else unanchored++;
          }
          const end = containerTerminatedAt(h, 'restore');
          if (end === undefined) continue;
          const rec = h.find((c) => ['succeeded', 'failed'].includes(c.obj.metadata.labels?.[L.state]));
          if (rec) endToRecord.push(Math.max(0, rec.at - end));
          else unrecorded++;
        }
      }
    }
    let requests = 0;
    let invocations = 0;
    const perReplica: ReplicaFigures[] = replicas.urls.map((_, i) => {
      let events = 0;
      for (const [k, v] of diffCounters(before[i]!, after[i]!)) {
        if (k.startsWith('restoreguard_kube_requests_total')) requests += v;
        else {
          events += v;
          invocations += v;
        }
      }
      const r = replicas.replicas[i]!;
      const name = `restore-guard ${i}`;
      return {
        events,
        cpuMs: (cpu1[name] ?? 0) - (cpu0[name] ?? 0),
        rssStartMb: r.rssStartKb === null ? null : r.rssStartKb / 1024,
        rssEndMb: r.rssLastKb === null ? null : r.rssLastKb / 1024,
      };
    });
    const cpuByProcess: Record<string, number> = {};
    for (const [k, v] of Object.entries(cpu1)) if (cpu0[k] !== undefined) cpuByProcess[k] = v - cpu0[k]!;
    const pods = groups.length * REPLICAS_PER_GROUP;
    say(
      `${completed}/${cell.groups} done in ${fmtMs(wallMs)}; bound → anchor p99 ${fmtMs(percentile(boundToAnchor, 99))}, end → record p99 ${fmtMs(percentile(endToRecord, 99))}, ${fmtNum(requests / pods, 1)} requests per pod`,
    );
    return {
      cell,
      label,
      pods,
      completed,
      wallMs,
      boundToAnchor,
      endToRecord,
      unrecorded,
      unanchored,
      requests,
      invocations,
      replicas: perReplica,
      cpuByProcess,
      loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await chain.teardown().catch((e: unknown) => opts.progress(`teardown: ${(e as Error).message}`));
    for (const n of extraNodes) await kube.del(`/api/v1/nodes/${n}`).catch(() => undefined);
  }
}

/** The headline rows and the detail tables of figure 10 (pure). */
export function figure10(results: ScaleResult[]): { rows: Row[]; detail: string } {
  const rows: Row[] = [];
  for (const r of results) {
    const perPod = (x: number) => (r.pods ? x / r.pods : Number.NaN);
    const rgCpu = r.replicas.reduce((a, x) => a + x.cpuMs, 0);
    const unfinished = r.cell.groups - r.completed;
    const missed = unfinished > 0 || r.unrecorded > 0 || r.unanchored > 0;
    rows.push({
      figure: '10',
      title: 'scale: bound → anchor and restore end → record',
      cell: `${r.label}${unfinished ? `, ${unfinished} groups unfinished` : ''}`,
      value:
        `p50 ${fmtMs(percentile(r.boundToAnchor, 50))} / p99 ${fmtMs(percentile(r.boundToAnchor, 99))}; ` +
        `p50 ${fmtMs(percentile(r.endToRecord, 50))} / p99 ${fmtMs(percentile(r.endToRecord, 99))}`,
      baseline: `${fmtNum(perPod(r.requests), 1)} requests, ${fmtNum(perPod(r.invocations), 1)} invocations, ${fmtNum(perPod(rgCpu), 1)} CPU ms per pod`,
      ratio: `${fmtNum(r.invocations / (r.wallMs / 1000), 0)} events/s: ${r.replicas.map((x) => fmtNum(x.events / (r.wallMs / 1000), 0)).join(' / ')} per replica`,
      target: 'every group done, every pod anchored and recorded',
      verdict: missed ? 'MISSED' : 'met',
      ...(missed
        ? {
            note: `${unfinished} groups unfinished, ${r.unanchored} bound pods never anchored, ${r.unrecorded} ended pods never recorded`,
          }
        : {}),
    });
  }
  const procs = [...new Set(results.flatMap((r) => Object.keys(r.cpuByProcess)))].sort();
  const detail = [
    'Per cell: wall time, restore-guard per replica (events, events/s, CPU ms, CPU per event, RSS start → end), and the CPU seconds every process of the machine spent in the cell (what bounds it: all share the same cores).',
    '',
    markdownTable(
      ['cell', 'pods', 'wall', 'replica', 'events', 'events/s', 'CPU ms', 'CPU ms/event', 'RSS MB'],
      results.flatMap((r) =>
        r.replicas.map((x, i) => [
          i === 0 ? r.label : '',
          i === 0 ? String(r.pods) : '',
          i === 0 ? fmtMs(r.wallMs) : '',
          String(i),
          String(x.events),
          fmtNum(x.events / (r.wallMs / 1000), 1),
          String(x.cpuMs),
          fmtNum(x.events ? x.cpuMs / x.events : Number.NaN, 2),
          `${x.rssStartMb === null ? '?' : fmtNum(x.rssStartMb, 0)} → ${x.rssEndMb === null ? '?' : fmtNum(x.rssEndMb, 0)}`,
        ]),
      ),
    ),
    '',
    markdownTable(
      ['cell', 'load avg (end)', ...procs.map((p) => `${p} CPU s`)],
      results.map((r) => [
        r.label,
        r.loadavg.join(' '),
        ...procs.map((p) => (r.cpuByProcess[p] === undefined ? '—' : fmtNum(r.cpuByProcess[p]! / 1000, 1))),
      ]),
    ),
  ].join('\n');
  return { rows, detail };
}
