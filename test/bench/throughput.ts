/**
 * Throughput on one core, in-process (no HTTP, no rig): events per second through `invoke` for the
 * irrelevant-event fast path and each function's decision path, with heap growth under load. The
 * baseline in the same run is JSON.parse of the same request body: the least any handler must do.
 */
import { loadConfig } from '../../functions/core/config.ts';
import { invoke } from '../../functions/core/http/app.ts';
import { toBinary } from '../../functions/core/http/cloudevent.ts';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { createLogger } from '../../functions/core/log.ts';
import { MemoryCluster } from '../../functions/core/kube/memory-cluster.ts';
import type { Cluster, DeleteOptions, Kind, LogOptions } from '../../functions/core/kube/cluster.ts';
import { FUNCTIONS, createServer } from '../../functions/server.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { EventType } from '../../functions/core/restore/events.ts';
import { restoreJob, restorePod, pvc } from '../support/objects.ts';
import { judgeObject } from '../../functions/core/restore/judge.ts';

const fn = (name: string) => FUNCTIONS.find((f) => f.name === name)!;

function api(obj: KubeObject, id: string): CloudEvent {
  return {
    specversion: '1.0',
    id,
    source: 'https://127.0.0.1',
    type: EventType.apiUpdate,
    time: '2026-11-29T10:00:06Z',
    datacontenttype: 'application/json',
    data: obj,
  };
}

/**
 * The in-memory cluster with one store per namespace: it scans a whole kind on every list, which
 * would measure the test double (thousands of objects) rather than restore-guard's decisions.
 */
class NamespacedMemoryCluster implements Cluster {
  private readonly byNs = new Map<string, MemoryCluster>();
  private of(ns: string): MemoryCluster {
    let c = this.byNs.get(ns);
    if (!c) {
      c = new MemoryCluster();
      this.byNs.set(ns, c);
    }
    return c;
  }
  get(kind: Kind, ns: string, name: string) {
    return this.of(ns).get(kind, ns, name);
  }
  async list(kind: Kind, ns: string | null, sel: string) {
    if (ns !== null) return this.of(ns).list(kind, ns, sel);
    return (await Promise.all([...this.byNs.values()].map((c) => c.list(kind, null, sel)))).flat();
  }
  create(kind: Kind, ns: string, obj: KubeObject) {
    return this.of(ns).create(kind, ns, obj);
  }
  patch(kind: Kind, ns: string, name: string, p: Record<string, unknown>) {
    return this.of(ns).patch(kind, ns, name, p);
  }
  delete(kind: Kind, ns: string, name: string, o?: DeleteOptions) {
    return this.of(ns).delete(kind, ns, name, o);
  }
  logs(ns: string, pod: string, container: string, o: LogOptions) {
    return this.of(ns).logs(ns, pod, container, o);
  }
}

/**
 * Events per second through `run`. Warm-up uses its own messages (make(n + i)), so the measured
 * ones are never repeats that a dedup memory would answer for free.
 */
async function measure(
  name: string,
  n: number,
  make: (i: number) => { headers: Record<string, string>; body: string },
  run: (m: { headers: Record<string, string>; body: string }) => Promise<unknown>,
) {
  const msgs = Array.from({ length: Math.min(n, 2000) }, (_, i) => make(i));
  for (let i = 0; i < 500; i++) await run(make(n + i)); // warm up
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await run(msgs[i % msgs.length]!);
  const ms = performance.now() - t0;
  globalThis.gc?.(); // retained growth, not garbage awaiting collection
  const heap1 = process.memoryUsage().heapUsed;
  return { name, n, perSec: (n / ms) * 1000, heapMb: (heap1 - heap0) / 1e6 };
}

export async function benchThroughput(scale = 1) {
  const config = loadConfig({ RG_DEDUP_SIZE: '4096', RG_AUTH: 'none' });
  const log = createLogger({ level: 'error' });
  const cluster = new NamespacedMemoryCluster();
  const server = createServer({
    config,
    log,
    connect: async () => cluster,
    clock: () => new Date('2026-11-29T10:00:10Z'),
  });
  const deps = server.deps;
  const N = Math.round(20000 * scale);

  const stranger = restorePod({ name: 'web-1' });
  stranger.metadata.labels = { app: 'web', 'pod-template-hash': 'abc' };
  const strangerBody = toBinary(api(stranger, 'x'));
  const rows = [];
  rows.push(
    await measure(
      'baseline: JSON.parse of the body',
      N,
      () => strangerBody,
      async (m) => JSON.parse(m.body),
    ),
  );
  rows.push(
    await measure(
      'fast path: irrelevant Pod update → 202',
      N,
      (i) => toBinary(api(stranger, `s${i}`)),
      (m) => invoke(fn('completion'), deps, m),
    ),
  );

  const running = restorePod({ restore: 'running' });
  const done = restorePod({ restore: { exit: 0 } });
  rows.push(
    await measure(
      'completion: restore pod → placed/succeeded',
      N,
      (i) => toBinary(api(i % 2 ? running : done, `c${i}`)),
      (m) => invoke(fn('completion'), deps, m),
    ),
  );
  rows.push(
    await measure(
      'judge only (pure decision, no HTTP parsing)',
      N,
      () => toBinary(api(done, 'j')),
      async () => judgeObject(done, deps, false, new Date()),
    ),
  );

  // Functions that talk to the cluster: groups of 5 members, 5 groups to a namespace (a namespace
  // with thousands of restore Jobs is not what a cluster looks like, and the in-memory cluster scans
  // a namespace per list), every event for a different pod.
  const K = Math.round(2000 * scale);
  const nsOf = (g: number) => `db-${Math.floor(g / 5)}`;
  const member = (i: number, extra: Parameters<typeof restorePod>[0] = {}) => {
    const g = i % 500;
    return restorePod({
      name: `p-${i}`,
      namespace: nsOf(g),
      job: `j-${i}`,
      group: `g-${g}`,
      restore: { exit: 0 },
      claims: [`d-${i}`],
      ...extra,
    });
  };
  for (let i = 0; i < K + 600; i++) {
    // K measured + 500 warm-up members
    const g = i % 500;
    await cluster.create('Pod', nsOf(g), member(i));
    await cluster.create(
      'Job',
      nsOf(g),
      restoreJob({ name: `j-${i}`, namespace: nsOf(g), group: `g-${g}`, claims: [`d-${i}`] }),
    );
    await cluster.create('PersistentVolumeClaim', nsOf(g), pvc(`d-${i}`, nsOf(g)));
  }
  const outcome = (i: number) => judgeObject(member(i), deps, false, new Date())!;
  const rg = (type: string, i: number, tag: string): CloudEvent => ({
    specversion: '1.0',
    id: `${tag}-${i}`,
    source: 'bench',
    type,
    datacontenttype: 'application/json',
    data: outcome(i),
  });
  rows.push(
    await measure(
      'labeling: record outcome (memory cluster)',
      K,
      (i) => toBinary(rg(EventType.succeeded, i, 'l')),
      (m) => invoke(fn('labeling'), deps, m),
    ),
  );
  rows.push(
    await measure(
      'release: gate + group check (memory cluster)',
      K,
      (i) => toBinary(rg(EventType.recorded, i, 'r')),
      (m) => invoke(fn('release'), deps, m),
    ),
  );
  // retry: a pod evicted while its Job still retries on its own (pod scope: free what holds it).
  const evicted = (i: number) =>
    judgeObject(
      member(i, {
        phase: 'Failed',
        restore: { exit: 137, reason: 'Error' },
        status: { reason: 'Evicted', message: 'The node was low on resource: memory.' },
      }),
      deps,
      false,
      new Date(),
    )!;
  const ev0 = evicted(0);
  if (ev0.state !== 'failed' || !ev0.retryable)
    throw new Error(`bench: the evicted pod judged ${ev0.state}/${ev0.reason}, not a retryable failure`);
  rows.push(
    await measure(
      'retry: retryable pod failure (memory cluster)',
      K,
      (i) =>
        toBinary({
          specversion: '1.0',
          id: `f-${i}`,
          source: 'bench',
          type: EventType.failed,
          datacontenttype: 'application/json',
          data: evicted(i),
        }),
      (m) => invoke(fn('retry'), deps, m),
    ),
  );
  return rows;
}

if (import.meta.main) {
  const rows = await benchThroughput(Number(process.env.SCALE ?? 1));
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
  else {
    const base = rows[0]!.perSec;
    console.log('| path | events/s (one core) | ratio to JSON.parse baseline | heap growth (MB) |');
    console.log('|---|---|---|---|');
    for (const r of rows)
      console.log(
        `| ${r.name} | ${Math.round(r.perSec).toLocaleString('en')} | ${(r.perSec / base).toFixed(3)} | ${r.heapMb.toFixed(1)} |`,
      );
  }
}
