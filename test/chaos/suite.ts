/**
 * The chaos suite: restore-guard as N replica processes behind a Knative-like delivery front, a
 * fault proxy between them and kube-apiserver, a fault schedule (kill -9, adapter restarts, a
 * kube-apiserver restart, duplicated and delayed deliveries), a workload of restore groups of both
 * profiles, and the invariants (invariants.ts) checked from the watch and the audit log.
 *
 *   runChaos(SHORT)  the short mode `npm test` runs (test/integration/chaos.test.ts)
 *   runChaos(FULL)   `npm run chaos -- --full`
 *
 * Traffic stays on loopback; every loop is bounded in count and time.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import {
  AUDIT_LOG,
  Kube,
  readState,
  restartApiServer,
  saKubeconfig,
  sleep,
  startAdapter,
  type AdapterHandle,
} from '../rig/index.ts';
import { ensurePki } from '../rig/pki.ts';
import { KUBECONFIG_DIR } from '../rig/paths.ts';
import {
  EVENTING_DIR,
  FUNCTIONS_SA,
  L,
  RG_NAMESPACE,
  SOURCE_SA,
  applyRbac,
  sourceAdapterOptions,
  startChain,
  warmWithResync,
  type Change,
  type Chain,
  type RestoreGroup,
  type RestoreGroupOptions,
} from '../support/chain.ts';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { createLogger } from '../../functions/core/log.ts';
import { seededRandom } from '../../cli/replay/order.ts';
import { createFront, type Front } from './front.ts';
import { createFaultProxy, FAULT_KINDS, type FaultRates } from './proxy.ts';
import type { HeapAfterGc } from './inspector.ts';
import { createReplicas } from './replicas.ts';
import { addKwokNodes, podMemoryLimitKb, replicaEnv, resyncPing } from './topology.ts';
import { checkInvariants, jobTerminal, parseAudit, type CheckReport } from './invariants.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
/**
 * Each run's replicas act as a ServiceAccount of their own (named after the run's namespace), bound
 * to restore-guard's ClusterRole from eventing/rbac.yaml: the audit log tells its writes from those
 * of any other restore-guard on the rig (other tests, another run at the same time).
 */
export function identity(ns: string): string {
  return `system:serviceaccount:${RG_NAMESPACE}:${ns}`;
}

/** The ways to break a property on purpose (CHAOS_BREAK=a,b): each must make its invariant fail. */
export const BREAKS = [
  'colocate',
  'lose-record',
  'write-other',
  'leak-anchor',
  'double-retry',
  'stall',
  'leak-memory',
] as const;
export type Break = (typeof BREAKS)[number];

export interface ChaosParams {
  mode: 'short' | 'full';
  groups: number;
  /** groups in flight at once */
  concurrency: number;
  replicas: number;
  /** KWOK nodes in all (the rig's five plus extra ones made for the run) */
  nodes: number;
  /** faults last at least this long (and until every group has been created) */
  minFaultMs: number;
  rates: FaultRates;
  duplicate: number;
  maxDelayMs: number;
  /** share of deliveries delayed (0 to maxDelayMs) */
  delayShare: number;
  /** mean time between two kill -9 of a replica */
  killEveryMs: number;
  adapterRestarts: number;
  apiServerRestarts: number;
  /** SIGSTOP of the rig's etcd for 3-5 s (SIGCONT after; bounded), this many times */
  etcdPauses: number;
  /** the resync ping's period */
  pingMs: number;
  /** after the last fault: every group must settle within this */
  convergeMs: number;
  seed: number;
  breaks: Break[];
  /** the never-killed replica's live heap after a full GC may grow this much, end vs a third into the faults (MB) */
  heapGrowthMb: number;
  /** its RSS in the last third of the faults phase may top the earlier highest by this much (MB) */
  rssLateRiseMb: number;
}

/** Per API request; about one request in 16 gets a fault. */
const RATES: FaultRates = {
  conflict: 0.01,
  throttle: 0.01,
  error500: 0.005,
  error503: 0.005,
  resetBefore: 0.01,
  resetAfter: 0.01,
  timeout: 0.002,
  latency: 0.01,
};

export const SHORT: ChaosParams = {
  mode: 'short',
  groups: 8,
  concurrency: 8,
  replicas: 3,
  nodes: 8,
  minFaultMs: 40_000,
  rates: RATES,
  duplicate: 0.1,
  maxDelayMs: 5000,
  delayShare: 0.3,
  killEveryMs: 15_000,
  adapterRestarts: 1,
  apiServerRestarts: 0,
  etcdPauses: 0,
  pingMs: 10_000,
  convergeMs: 120_000,
  seed: 1,
  breaks: [],
  // the live heap is ~20 MB: 1 KB kept per delivery is 9 MB over a full run's ~9,000 per replica
  heapGrowthMb: 8,
  rssLateRiseMb: 24,
};

export const FULL: ChaosParams = {
  ...SHORT,
  mode: 'full',
  groups: 200,
  // 16 in flight kept a 2-CPU machine shared with other rigs at the proxy's and API server's limit
  // (a LIST through the proxy took seconds; labeling timed out, dead letters piled up)
  concurrency: 8,
  nodes: 12,
  minFaultMs: 120_000,
  killEveryMs: 30_000,
  adapterRestarts: 2,
  apiServerRestarts: 1,
  etcdPauses: 1,
  pingMs: 15_000,
  convergeMs: 300_000,
};

export interface ChaosResult {
  params: ChaosParams;
  namespace: string;
  report: CheckReport;
  faults: Record<string, number>;
  proxy: { requests: number; forwarded: number; refused: number };
  front: {
    received: number;
    deliveries: number;
    byStatus: Record<string, number>;
    deadLettered: number;
    deadLetteredByType: Record<string, number>;
  };
  /** the never-killed replica: RSS (start, highest, end) and live heap after a full GC, MB */
  memory: {
    limitMb: number;
    rss: { startMb: number; peakMb: number; endMb: number } | null;
    heap: { startMb: number | null; endMb: number | null };
  };
  timings: { setupMs: number; faultMs: number; convergeMs: number; totalMs: number };
  breaks: Break[];
}

/** The i-th group of the workload: both profiles, parallel and sequential, instant and slow, some failing, some retried. */
export function groupSpec(i: number, random: () => number): RestoreGroupOptions & { label: string } {
  const kubeblocks = i % 2 === 1;
  const sequential = i % 3 === 0;
  const replicas = i % 5 === 4 ? 2 : 3;
  const slow = i % 4 >= 2;
  const runMs = Array.from({ length: replicas }, () => (slow ? 1500 + Math.floor(random() * 3500) : 0));
  const fail = i % 5; // 0: exit 1 (retryable), 1: exit 127 (not), 2: evicted, else none
  const victim = Math.floor(random() * replicas);
  const exitCode = Array.from({ length: replicas }, (_, m) =>
    m !== victim ? 0 : fail === 0 && i % 10 === 0 ? 1 : fail === 1 && i % 10 === 1 ? 127 : 0,
  );
  const evict = Array.from({ length: replicas }, (_, m) => m === victim && fail === 2 && i % 10 === 2);
  const retry = i % 10 < 3 || i % 7 === 0;
  return {
    label: `${kubeblocks ? 'kubeblocks' : 'generic'} ${sequential ? 'sequential' : 'parallel'} ${slow ? 'slow' : 'instant'}${exitCode.some((x) => x) ? ` exit ${exitCode.find((x) => x)}` : ''}${evict.some((x) => x) ? ' evicted' : ''}${retry ? ' retry' : ''}`,
    name: `c${i.toString().padStart(3, '0')}-${randomUUID().slice(0, 4)}`,
    profile: kubeblocks ? 'kubeblocks' : 'generic',
    // generic: the opt-in placement gate (without it an instant restore's node can go to a sibling
    // before its anchor exists: README); KubeBlocks: the restore-manager hand-off
    ...(kubeblocks ? { sidecar: true } : { gate: true }),
    declareSize: true,
    replicas,
    runMs,
    exitCode,
    evict,
    sequential,
    claims: true,
    retry,
    backoffLimit: 0,
  };
}

function progressLog(t0: number) {
  return (s: string) => process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);
}

/**
 * The watch's Job histories by group, indexed as they first appear (histories are live arrays the
 * observer appends to): the workload loop asks about every group in flight on every change, and a
 * scan of the whole watch each time made the suite's own process one of the busiest on the machine
 * at 200 groups.
 */
class JobsByGroup {
  private seen = 0;
  private readonly byGroup = new Map<string, Change[][]>();
  private readonly chain: Chain;
  constructor(chain: Chain) {
    this.chain = chain;
  }
  of(group: string): Change[][] {
    const changes = this.chain.observer.changes;
    if (changes.size !== this.seen) {
      let i = 0;
      for (const [key, h] of changes) {
        if (i++ < this.seen) continue;
        if (!key.startsWith('Job/')) continue;
        const o = h[0]!.obj;
        const g = o.metadata.labels?.[L.group] ?? o.metadata.labels?.[L.kbRestore];
        if (!g) continue;
        const l = this.byGroup.get(g);
        if (l) l.push(h);
        else this.byGroup.set(g, [h]);
      }
      this.seen = changes.size;
    }
    return this.byGroup.get(group) ?? [];
  }
}

/** Is every Job of the group done (terminal; an opted-in failed one with retry's word)? From the watch. */
function groupSettled(jobs: JobsByGroup, name: string): boolean {
  let any = false;
  for (const h of jobs.of(name)) {
    const lastC = h[h.length - 1]!;
    const o = lastC.obj;
    any = true;
    if (lastC.type === 'DELETED') continue;
    if (!jobTerminal(o)) return false;
    const failed = (o.status?.conditions ?? []).some((c: any) => c.type === 'Failed' && c.status === 'True');
    if (failed && o.metadata.labels?.[L.retry] === 'true') {
      const st = o.metadata.labels?.[L.state];
      if (!(st === 'retried' || st === 'exhausted' || o.metadata.annotations?.['restoreguard.dev/retry-skipped']))
        return false;
    }
  }
  return any;
}

function anchorsLeft(chain: Chain): number {
  let n = 0;
  for (const [key, h] of chain.observer.changes) {
    if (!key.startsWith('Pod/')) continue;
    const c = h[h.length - 1]!;
    // an anchor that ended (its lease ran out) holds nothing: the leak check counts it as gone
    const ended = c.obj.status?.phase === 'Succeeded' || c.obj.status?.phase === 'Failed';
    if (c.type !== 'DELETED' && !ended && c.obj.metadata.labels?.[L.anchorFor]) n++;
  }
  return n;
}

export async function runChaos(p: ChaosParams, progress = progressLog(Date.now())): Promise<ChaosResult> {
  const t0 = Date.now();
  const random = seededRandom(p.seed);
  const state0 = readState();
  const chain = await startChain({
    mode: 'plain',
    namespace: `chaos-${p.mode}-${Date.now().toString(36)}`,
  });
  const { kube, ns, rig } = chain;
  const state = readState() ?? state0;
  if (!state?.args?.['kube-apiserver']?.some((a) => a.startsWith('--audit-log-path='))) {
    await chain.teardown();
    throw new Error(
      'chaos: the rig was started without the audit log (started by an older checkout); run `npm run rig:down` and start again',
    );
  }
  const extraNodes: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const faults: Record<string, number> = {
    'replica kill -9': 0,
    'adapter restart': 0,
    'kube-apiserver restart': 0,
    'etcd paused (SIGSTOP 3-5 s)': 0,
  };
  let adapter: AdapterHandle | null = null;
  let front: Front | null = null;
  const stopFlags = { stop: false };
  try {
    // -- nodes: the rig's five and more, as KWOK plays them
    extraNodes.push(...(await addKwokNodes(kube, ns, rig.nodes.length, p.nodes)));
    // -- identities and the proxy
    await applyRbac(kube);
    const saConfig = await saKubeconfig(RG_NAMESPACE, ns);
    const binding = `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ns}`;
    await kube.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: FUNCTIONS_SA },
      subjects: [{ kind: 'ServiceAccount', name: ns, namespace: RG_NAMESPACE }],
    });
    cleanups.push(async () => {
      await kube.del(binding);
      await kube.del(`/api/v1/namespaces/${RG_NAMESPACE}/serviceaccounts/${ns}`);
    });
    const sourceConfig = await saKubeconfig(RG_NAMESPACE, SOURCE_SA);
    const saToken = /token: (\S+)/.exec(fs.readFileSync(saConfig, 'utf8'))?.[1] ?? '';
    const asRestoreGuard = new Kube(rig.server, { ca: fs.readFileSync(rig.caFile), token: saToken });
    const pki = ensurePki();
    const proxy = createFaultProxy({
      target: rig.server,
      ca: fs.readFileSync(pki.caCert),
      cert: fs.readFileSync(pki.servingCert),
      key: fs.readFileSync(pki.servingKey),
      rates: p.rates,
      random,
    });
    const proxyUrl = await proxy.listen();
    cleanups.push(() => proxy.close());
    proxy.setEnabled(false);
    const replicaConfig = path.join(KUBECONFIG_DIR, `chaos-${ns}.yaml`);
    fs.writeFileSync(replicaConfig, fs.readFileSync(saConfig, 'utf8').replace(/server: \S+/, `server: ${proxyUrl}`), {
      mode: 0o600,
    });

    // -- replicas: the shipped bundle, built from this checkout (a stale one would test old code)
    const built = spawnSync(process.execPath, ['esbuild.config.ts'], { cwd: ROOT, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`chaos: npm run build failed: ${built.stderr || built.stdout}`);
    // The run's own copy of the bundle: a replica restarted while something else rebuilds dist/ (a
    // bench or test in the same checkout) would find no server.js and stay down.
    const bundle = path.join(path.dirname(KUBECONFIG_DIR), `chaos-${ns}-dist`);
    fs.cpSync(path.join(ROOT, 'dist'), bundle, { recursive: true });
    cleanups.push(async () => fs.rmSync(bundle, { recursive: true, force: true }));
    const entry = path.join(bundle, 'server.js');
    const replicas = await createReplicas({
      count: p.replicas,
      entry,
      logDir: rig.logDir,
      tag: ns,
      inspect: true,
      // --break=leak-memory: a test-only module that keeps heap for every request (leak.ts)
      nodeArgs: p.breaks.includes('leak-memory')
        ? [`--import=${pathToFileURL(path.join(import.meta.dirname, 'leak.ts')).href}`]
        : [],
      env: replicaEnv(replicaConfig, ns, {
        LOG_LEVEL: 'info',
        RG_RETRY_JOBS: 'true',
        RG_RETRY_BASE_MS: '500',
        RG_RETRY_MAX_MS: '2000',
        RG_ANCHOR_DEADLINE_SECONDS: '120',
      }),
    });
    cleanups.push(() => replicas.stopAll());
    for (let i = 0; i < p.replicas; i++) await replicas.start(i);
    // warm, as a pod that has served before (one resync loads the Kubernetes client): the memory
    // figure starts from there, not from a cold process
    for (const url of replicas.urls) await warmWithResync(url).catch(() => undefined);
    // the never-killed replica's RSS from here on
    replicas.resetRss(0);
    replicas.sampleRss();

    // -- the front, its ingress, the adapter
    const log = createLogger({
      level: 'warn',
      sink: (line) => fs.appendFileSync(path.join(rig.logDir, `chaos-${ns}-front.log`), `${line}\n`),
    });
    const breaks = new Set(p.breaks);
    const victims = { record: null as string | null };
    // -- the suite's own breaks (CHAOS_BREAK): each breaks one property on purpose
    const tamper = (route: string, ev: CloudEvent): CloudEvent | null => {
      if (breaks.has('leak-anchor') && (route === '/release' || route === '/resync')) return null;
      if (breaks.has('lose-record') && route === '/labeling') {
        const d = ev.data as { pod?: string; state?: string } | undefined;
        if (d?.pod && (d.state === 'succeeded' || d.state === 'failed')) {
          if (!victims.record) {
            victims.record = d.pod;
            // restore-guard's identity deletes it before anything records it
            void asRestoreGuard.del(`/api/v1/namespaces/${ns}/pods/${d.pod}`).catch(() => undefined);
          }
          if (victims.record === d.pod) return null;
        }
      }
      if (breaks.has('lose-record') && route === '/resync') return null;
      return ev;
    };

    front = createFront({
      eventingDir: EVENTING_DIR,
      replicas: replicas.urls,
      random,
      duplicate: 0,
      maxDelayMs: 0,
      // Knative Serving's default request timeout (a revision's timeoutSeconds)
      timeoutMs: 300_000,
      log,
      tamper: (route, ev) => tamper(route, ev),
    });
    const ingress = await front.listen();
    const f = front;
    cleanups.push(() => f.close());
    const adapterOpts = sourceAdapterOptions(ingress, ns, sourceConfig);
    adapter = startAdapter(adapterOpts);
    await adapter.ready;

    // -- resync pings, the RSS sampler, and the first live-heap reading of the never-killed
    // replica: a third into the faults phase, once it has run every function's code (a reading
    // right after the warm start is a few MB lower: code and caches not loaded yet, no leak)
    const heap = {
      baseAt: Number.POSITIVE_INFINITY,
      reading: null as Promise<void> | null,
      base: null as HeapAfterGc | null,
    };
    const ping = (): void => f.publish(resyncPing());
    const loops = (async () => {
      let nextPing = Date.now() + p.pingMs;
      for (let i = 0; !stopFlags.stop && i < 100_000; i++) {
        replicas.sampleRss();
        if (!heap.reading && Date.now() >= heap.baseAt)
          heap.reading = replicas.settledHeap(0, 3).then((h) => {
            heap.base = h;
          });
        if (Date.now() >= nextPing) {
          ping();
          nextPing += p.pingMs;
        }
        await sleep(1000);
      }
    })();
    const setupMs = Date.now() - t0;
    progress(
      `set up in ${(setupMs / 1000).toFixed(1)} s: namespace ${ns}, ${p.nodes} nodes, ${p.replicas} replicas, proxy ${proxyUrl}, front ${ingress}`,
    );

    // -- faults on
    proxy.setEnabled(true);
    const faultStart = Date.now();
    heap.baseAt = faultStart + p.minFaultMs / 3;
    const setFaults = (on: boolean) => {
      proxy.setEnabled(on);
      f.setFaults(on ? p.duplicate : 0, on ? p.maxDelayMs : 0);
    };
    setFaults(true);

    // -- workload
    const groups: { g: RestoreGroup; label: string }[] = [];
    const jobsByGroup = new JobsByGroup(chain);
    let created = 0;
    const workload = (async () => {
      const deadline = Date.now() + p.minFaultMs + p.groups * 20_000;
      while (created < p.groups && Date.now() < deadline) {
        const inFlight = groups.filter((x) => !groupSettled(jobsByGroup, x.g.name)).length;
        if (inFlight >= p.concurrency) {
          await chain.observer.next(500);
          continue;
        }
        const spec = groupSpec(created++, random);
        const { label, ...opts } = spec;
        // the same group again when the API server was away (claims and Jobs that exist are kept)
        for (let attempt = 1; ; attempt++) {
          try {
            groups.push({ g: await chain.createRestoreGroup(opts), label });
            break;
          } catch (e) {
            if (attempt >= 10) throw e;
            progress(`workload: ${opts.name}: ${(e as Error).message}; again in 5 s`);
            await sleep(5000);
          }
        }
      }
      if (breaks.has('stall')) {
        // a group whose restore never ends: it can never complete
        const g = await chain.createRestoreGroup({ name: 'stall', replicas: 1, claims: true });
        groups.push({ g, label: 'stall (never ends)' });
      }
      await Promise.all(groups.map((x) => x.g.allCreated));
    })();
    const breaker = breakOnPurpose(chain, breaks, asRestoreGuard, stopFlags);

    // -- the fault schedule
    const restarts: Promise<void>[] = [];
    const adapterAt = Array.from(
      { length: p.adapterRestarts },
      (_, i) => faultStart + ((i + 1) * p.minFaultMs) / (p.adapterRestarts + 1),
    );
    const apiAt = Array.from(
      { length: p.apiServerRestarts },
      (_, i) => faultStart + ((i + 0.5) * p.minFaultMs) / (p.apiServerRestarts + 1),
    );
    const etcdAt = Array.from(
      { length: p.etcdPauses },
      (_, i) => faultStart + ((i + 0.75) * p.minFaultMs) / (p.etcdPauses + 1),
    );
    let nextKill = faultStart + p.killEveryMs * (0.5 + random());
    const restarting = new Set<number>();
    let nextProgress = faultStart + 30_000;
    // faults last minFaultMs and until every group has started (sequential ones go on creating
    // their Jobs after that, fault-free: their time counts in the convergence)
    const workloadStarted = () => created >= p.groups;
    void workload.catch((e: unknown) => progress(`workload: ${(e as Error).message}`));
    for (let i = 0; i < 100_000; i++) {
      const now = Date.now();
      if (now - faultStart >= p.minFaultMs && workloadStarted()) break;
      if (now - faultStart > p.minFaultMs + p.groups * 20_000) break; // bounded
      if (now >= nextKill && p.replicas > 1) {
        // replica 0 is never killed: its RSS is the memory figure
        const r = 1 + Math.floor(random() * (p.replicas - 1));
        if (replicas.alive(r)) {
          await replicas.kill(r);
          faults['replica kill -9']!++;
          const delay = 1000 + Math.floor(random() * 4000);
          restarting.add(r);
          restarts.push(
            sleep(delay)
              .then(() => replicas.start(r))
              .catch((e: unknown) => void progress(`replica ${r} did not come back: ${(e as Error).message}`))
              .finally(() => restarting.delete(r)),
          );
          progress(`fault: kill -9 replica ${r} (back in ${delay} ms)`);
        }
        nextKill = now + p.killEveryMs * (0.5 + random());
      }
      // a replica that did not come back is started again (as Knative would start another pod)
      for (let r = 1; r < p.replicas; r++)
        if (!replicas.alive(r) && !restarting.has(r)) {
          restarting.add(r);
          restarts.push(
            replicas
              .start(r)
              .catch((e: unknown) => void progress(`replica ${r} did not come back: ${(e as Error).message}`))
              .finally(() => restarting.delete(r)),
          );
        }
      if (now >= nextProgress) {
        nextProgress = now + 30_000;
        progress(
          `workload: ${created} of ${p.groups} groups created, ${groups.filter((x) => !groupSettled(jobsByGroup, x.g.name)).length} in flight`,
        );
      }
      if (adapterAt.length && now >= adapterAt[0]!) {
        adapterAt.shift();
        await adapter.stop();
        const down = 3000 + Math.floor(random() * 3000);
        progress(`fault: adapter down for ${down} ms (its events are lost: resync must repair)`);
        await sleep(down);
        adapter = startAdapter(adapterOpts);
        await adapter.ready;
        faults['adapter restart']!++;
      }
      if (etcdAt.length && now >= etcdAt[0]!) {
        etcdAt.shift();
        const pid = readState()?.pids?.etcd;
        if (pid) {
          const down = 3000 + Math.floor(random() * 2000);
          progress(`fault: etcd (pid ${pid}) paused for ${down} ms`);
          // SIGCONT whatever happens, also if this process exits meanwhile
          const resume = () => {
            try {
              process.kill(pid, 'SIGCONT');
            } catch {}
          };
          process.once('exit', resume);
          try {
            process.kill(pid, 'SIGSTOP');
            faults['etcd paused (SIGSTOP 3-5 s)']!++;
            await sleep(down);
          } finally {
            resume();
            process.removeListener('exit', resume);
          }
        }
      }
      if (apiAt.length && now >= apiAt[0]!) {
        apiAt.shift();
        progress('fault: kube-apiserver restart');
        const r = await restartApiServer();
        faults['kube-apiserver restart']!++;
        progress(`kube-apiserver back after ${r.downMs} ms`);
      }
      await sleep(250);
    }
    await Promise.all(restarts);
    await breaker;
    for (let i = 0; i < p.replicas; i++) await replicas.start(i);
    setFaults(false);
    const lastFaultAt = Date.now();
    const faultMs = lastFaultAt - faultStart;
    progress(
      `faults off after ${(faultMs / 1000).toFixed(1)} s; ${groups.length} groups created; waiting for every group to settle`,
    );

    // -- convergence: every group settled and every anchor gone (bounded)
    const convDeadline = lastFaultAt + p.convergeMs;
    await Promise.race([workload, sleep(Math.max(0, convDeadline - Date.now()))]);
    // Records too: one whose event was lost and whose first repair met a fault is written by a later
    // resync sweep (resync keeps running: the suite pings every 10-15 s), so the records invariant
    // is checked once they are written, or at the deadline (then it reports what is missing).
    const unrecorded = () =>
      checkInvariants({
        changes: chain.observer.changes,
        audit: [],
        namespace: ns,
        domain: 'restoreguard.dev',
        groups: [],
        resyncPeriodMs: 60_000,
        slackMs: 10_000,
        maxAttempts: 3,
        lastFaultAt,
        endAt: Date.now(),
        memory: { limitKb: 0, rss: [], heap: [], heapGrowthLimitKb: 0, windowEndAt: lastFaultAt, lateRiseLimitKb: 0 },
      }).invariants.find((x) => x.name.startsWith('finished restore pods without their records'))!.count;
    for (let i = 0; i < 100_000 && Date.now() < convDeadline; i++) {
      const open = groups.filter((x) => !groupSettled(jobsByGroup, x.g.name)).length;
      const anchors = anchorsLeft(chain);
      const records = open === 0 && anchors === 0 ? unrecorded() : null;
      if (records === 0 && !breaks.has('leak-anchor')) break;
      if (i % 20 === 0)
        progress(
          `settling: ${open} groups open, ${anchors} anchors left${records ? `, ${records} finished pods not recorded yet` : ''}`,
        );
      await chain.observer.next(500);
    }
    const endAt = Date.now();
    progress('checking the invariants');
    stopFlags.stop = true;
    await Promise.race([f.idle(), sleep(30_000)]);
    replicas.sampleRss();
    stopFlags.stop = true;
    await loops;
    await heap.reading;
    // once the last pings' sweeps and the last deliveries are done (bounded: a minute)
    const heapEnd = await replicas.settledHeap(0);
    await adapter.stop();
    adapter = null;

    // -- invariants
    await sleep(1000); // the audit log's last lines
    const auditText = fs.existsSync(AUDIT_LOG) ? fs.readFileSync(AUDIT_LOG, 'utf8') : '';
    const audit = parseAudit(auditText, identity(ns), t0, endAt + 5000);
    const r0 = replicas.replicas[0]!;
    const report = checkInvariants({
      changes: chain.observer.changes,
      audit,
      namespace: ns,
      domain: 'restoreguard.dev',
      groups: groups.map((x) => ({ name: x.g.name, allCreated: x.g.created.size === x.g.replicas })),
      // one minute: stricter than the deployed resync period (eventing/pingsource.yaml, every 5
      // minutes); the suite pings every 10-15 s to converge sooner
      resyncPeriodMs: 60_000,
      slackMs: 10_000,
      maxAttempts: 3,
      lastFaultAt,
      endAt,
      memory: {
        limitKb: podMemoryLimitKb(),
        rss: r0.rssSamples,
        heap: [heap.base, heapEnd].flatMap((h) => (h ? [{ at: h.at, usedKb: h.usedKb }] : [])),
        heapGrowthLimitKb: p.heapGrowthMb * 1024,
        windowEndAt: lastFaultAt,
        lateRiseLimitKb: p.rssLateRiseMb * 1024,
      },
    });
    const rssMb = r0.rssSamples.map((x) => x.kb / 1024);
    for (const k of FAULT_KINDS) faults[`API ${k}`] = proxy.stats.faults[k];
    faults['delivery duplicated'] = f.stats.duplicated;
    faults[`delivery delayed (0-${p.maxDelayMs / 1000} s)`] = f.stats.delayed;
    const dlByType: Record<string, number> = {};
    for (const d of f.stats.deadLettered) dlByType[d.type] = (dlByType[d.type] ?? 0) + 1;
    return {
      params: p,
      namespace: ns,
      report,
      faults,
      proxy: { requests: proxy.stats.requests, forwarded: proxy.stats.forwarded, refused: proxy.stats.refused },
      front: {
        received: f.stats.received,
        deliveries: f.stats.deliveries,
        byStatus: f.stats.byStatus,
        deadLettered: f.stats.deadLettered.length,
        deadLetteredByType: dlByType,
      },
      memory: {
        limitMb: podMemoryLimitKb() / 1024,
        rss: rssMb.length ? { startMb: rssMb[0]!, peakMb: Math.max(...rssMb), endMb: rssMb[rssMb.length - 1]! } : null,
        heap: {
          startMb: heap.base ? heap.base.usedKb / 1024 : null,
          endMb: heapEnd ? heapEnd.usedKb / 1024 : null,
        },
      },
      timings: { setupMs, faultMs, convergeMs: endAt - lastFaultAt, totalMs: Date.now() - t0 },
      breaks: p.breaks,
    };
  } finally {
    stopFlags.stop = true;
    await adapter?.stop().catch(() => undefined);
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await chain.teardown().catch((e: unknown) => progress(`teardown: ${(e as Error).message}`));
    for (const n of extraNodes) await kube.del(`/api/v1/nodes/${n}`).catch(() => undefined);
  }
}

/**
 * The breaks that act on the cluster (CHAOS_BREAK; the front's own are in runChaos's tamper):
 *   colocate      a pod with a group's labels bound (nodeName) onto a node where a member runs
 *   write-other   restore-guard's identity patches a pod that is no restore object
 *   double-retry  a second Job for a retry attempt that already has one
 * Each waits (bounded) for its moment, once.
 */
async function breakOnPurpose(
  chain: Chain,
  breaks: Set<Break>,
  asRestoreGuard: Kube,
  flags: { stop: boolean },
): Promise<void> {
  const { kube, ns } = chain;
  const pods = `/api/v1/namespaces/${ns}/pods`;
  const todo = new Set([...breaks].filter((b) => b === 'colocate' || b === 'write-other' || b === 'double-retry'));
  const t0 = Date.now();
  while (todo.size && !flags.stop && Date.now() - t0 < 180_000) {
    if (todo.has('write-other')) {
      await kube.create(pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'bystander' },
        spec: { containers: [{ name: 'main', image: 'registry.invalid/app:1' }], terminationGracePeriodSeconds: 0 },
      });
      await asRestoreGuard.patch(`${pods}/bystander`, { metadata: { labels: { touched: 'yes' } } });
      todo.delete('write-other');
    }
    for (const [key, h] of chain.observer.changes) {
      const c = h[h.length - 1]!;
      const o = c.obj;
      if (c.type === 'DELETED') continue;
      if (
        todo.has('colocate') &&
        key.startsWith('Pod/') &&
        o.status?.phase === 'Running' &&
        o.metadata.labels?.[L.group] === undefined &&
        o.metadata.labels?.[L.kbRestore] &&
        !o.metadata.labels?.[L.anchorFor]
      ) {
        await kube.create(pods, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: 'intruder',
            labels: { [L.kbRestore]: o.metadata.labels[L.kbRestore], [L.instance]: o.metadata.labels[L.instance] },
            annotations: { 'rig.restoreguard.dev/run-ms': '3000' },
          },
          spec: {
            nodeName: o.spec.nodeName,
            terminationGracePeriodSeconds: 0,
            containers: [{ name: 'restore', image: 'registry.invalid/restore:1' }],
          },
        });
        todo.delete('colocate');
      }
      // retry writes attempt, retry-of and root-job as annotations on the Jobs it makes
      if (todo.has('double-retry') && key.startsWith('Job/') && o.metadata.annotations?.['restoreguard.dev/root-job']) {
        const ann = o.metadata.annotations as Record<string, string>;
        const labels = Object.fromEntries(
          Object.entries(o.metadata.labels as Record<string, string>).filter(
            ([k]) => k.startsWith('restoreguard.dev/') || k === L.group || k === L.kbRestore,
          ),
        );
        await kube.create(`/apis/batch/v1/namespaces/${ns}/jobs`, {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: {
            name: `${o.metadata.name}-twin`,
            labels,
            annotations: {
              'restoreguard.dev/root-job': ann['restoreguard.dev/root-job']!,
              'restoreguard.dev/attempt': ann['restoreguard.dev/attempt'] ?? '2',
            },
          },
          spec: {
            backoffLimit: 0,
            template: {
              metadata: { annotations: { 'rig.restoreguard.dev/run-ms': '0' } },
              spec: {
                restartPolicy: 'Never',
                terminationGracePeriodSeconds: 0,
                containers: [{ name: 'main', image: 'registry.invalid/app:1' }],
              },
            },
          },
        });
        todo.delete('double-retry');
      }
    }
    await chain.observer.next(1000);
  }
}
