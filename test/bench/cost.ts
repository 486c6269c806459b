/**
 * Figure 9: what one restore pod costs the API server and the functions. restore-guard runs in its
 * own process (the shipped bundle); its /metrics is read before and after each cell, and the
 * difference is divided by the cell's restore pods:
 *
 * - Kubernetes API requests by verb (restoreguard_kube_requests_total), and in total;
 * - function invocations (restoreguard_events_total, every route, fast paths included: in Knative
 *   each is a delivery), and the adapter's events among them (the ApiServerSource's Pod and Job
 *   events, all delivered to /completion);
 * - restore-guard's CPU time (utime + stime of its process, /proc).
 *
 * Baseline in the same run: the writes a restore pod needs at the least, counted from what
 * restore-guard must do (README, "What one restore pod costs"), and the adapter's events per pod.
 * Flatness: the same cell with 1,000 and 10,000 unrelated objects in the namespace (Pods held by a
 * scheduling gate, suspended Jobs: nothing runs them), which no request of restore-guard should see.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseAudit } from '../chaos/invariants.ts';
import { AUDIT_LOG } from '../rig/rig.ts';
import { type Chain, waitFor } from '../support/chain.ts';
import { sleep } from '../rig/index.ts';
import {
  atMost,
  diffCounters,
  fmtNum,
  fmtRatio,
  labelsOfKey,
  markdownTable,
  parseCounters,
  type Row,
  type Verdict,
} from './table.ts';

export interface CostCell {
  profile: 'generic' | 'kubeblocks';
  sequential: boolean;
  runMs: number;
  groups: number;
  /** unrelated objects in the namespace while the cell runs (half Pods, half Jobs) */
  unrelated: number;
}

export interface CostResult {
  cell: CostCell;
  label: string;
  pods: number;
  /** requests by `verb kind` */
  requests: Record<string, number>;
  /** requests by `verb kind code` (not_found, error codes: what a request was answered) */
  requestsByCode: Record<string, number>;
  /** invocations by function */
  invocations: Record<string, number>;
  /** the adapter's Pod and Job events (delivered to /completion) */
  adapterEvents: number;
  /** requests of restore-guard's identity in the kube-apiserver's audit log in the cell's window (null: no audit log) */
  audited: number | null;
  cpuMs: number;
  completed: number;
  wallMs: number;
}

const REPLICAS = 3;
const AUDITED_USER = 'system:serviceaccount:restore-guard:restore-guard';
const COUNTERS = ['restoreguard_kube_requests_total', 'restoreguard_events_total'] as const;

export function costLabel(c: CostCell): string {
  return `${c.profile}, ${c.sequential ? 'sequential' : 'parallel'}, ${c.runMs >= 1000 ? `${c.runMs / 1000} s` : `${c.runMs} ms`}${c.unrelated ? `, ${fmtNum(c.unrelated)} unrelated objects` : ''}`;
}

/**
 * The writes one restore pod needs at the least: its anchor (create, delete), the record on the
 * pod (label, outcome and, for KubeBlocks, the stop signal in one patch), on its Job, on its PVC,
 * two Kubernetes Events (AnchorCreated, the outcome), and the pod's delete once recorded.
 */
export const MIN_WRITES_PER_POD = 8;

/** utime + stime of a process, ms (Linux /proc; clock ticks at 100 Hz). */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** Creates `n` unrelated objects (half gated Pods, half suspended Jobs), `width` at a time. */
async function createUnrelated(chain: Chain, n: number, progress: (s: string) => void): Promise<void> {
  const have = (await chain.kube.get(`/api/v1/namespaces/${chain.ns}/pods?labelSelector=bench-unrelated`)).items
    .length as number;
  const want = Math.floor(n / 2);
  let next = have;
  let made = 0;
  const width = 16;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= want) return;
      const name = `unrelated-${i}`;
      const labels = { 'bench-unrelated': 'true', 'app.kubernetes.io/instance': `other-${i % 50}` };
      const spec = {
        restartPolicy: 'Never',
        containers: [{ name: 'main', image: 'registry.invalid/app:1' }],
      };
      await chain.kube.post(`/api/v1/namespaces/${chain.ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels },
        spec: { ...spec, schedulingGates: [{ name: 'bench.restoreguard.dev/never' }] },
      });
      await chain.kube.post(`/apis/batch/v1/namespaces/${chain.ns}/jobs`, {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name, labels },
        spec: { suspend: true, template: { metadata: { labels }, spec } },
      });
      if (++made % 1000 === 0) progress(`fig 9  ${fmtNum((have + made) * 2)} unrelated objects`);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

/** Waits until restore-guard has been quiet (no invocation) for `quietMs`. */
async function settled(chain: Chain, quietMs: number, capMs: number): Promise<void> {
  const total = async () => {
    const c = parseCounters(await chain.metricsText(), ['restoreguard_events_total']);
    return [...c.values()].reduce((a, b) => a + b, 0);
  };
  let last = await total();
  let since = Date.now();
  const t0 = Date.now();
  while (Date.now() - since < quietMs && Date.now() - t0 < capMs) {
    await sleep(250);
    const now = await total();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
}

/** Runs one cell of figure 9 in the chain's namespace (restore-guard isolated). */
export async function runCostCell(
  chain: Chain,
  cell: CostCell,
  opts: { concurrency: number; capMs: number; progress: (s: string) => void },
): Promise<CostResult> {
  const pid = chain.pid();
  if (pid === null) throw new Error('figure 9 needs restore-guard in its own process (startChain isolated)');
  if (cell.unrelated) await createUnrelated(chain, cell.unrelated, opts.progress);
  await settled(chain, 2000, 30_000);
  const before = parseCounters(await chain.metricsText(), COUNTERS);
  const cpu0 = cpuMsOf(pid);
  const t0 = Date.now();
  let next = 0;
  let completed = 0;
  const kube = chain.kube;
  const ns = chain.ns;
  const one = async (i: number) => {
    const g = await chain.createRestoreGroup({
      name: `c${cell.profile === 'kubeblocks' ? 'k' : 'g'}${cell.sequential ? 's' : 'p'}-${t0.toString(36).slice(-4)}-${i}`,
      profile: cell.profile,
      replicas: REPLICAS,
      runMs: cell.runMs,
      sequential: cell.sequential,
      claims: true,
      declareSize: true,
      backoffLimit: 0,
    });
    try {
      // Done: every Job finished, every PVC recorded, no restore pod and no anchor left.
      await waitFor(
        `group ${g.name} released`,
        async () => {
          if (g.created.size < REPLICAS) return false;
          for (const j of g.jobNames) {
            const job = await kube.find(`/apis/batch/v1/namespaces/${ns}/jobs/${j}`);
            const done = (job?.status?.conditions ?? []).some(
              (c: { type: string; status: string }) =>
                (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
            );
            if (!done) return false;
          }
          for (const c of g.claimNames) {
            const pvc = await kube.find(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${c}`);
            if (!pvc?.metadata?.annotations?.['restoreguard.dev/outcome']) return false;
          }
          const sel =
            cell.profile === 'kubeblocks'
              ? `dataprotection.kubeblocks.io/restore=${g.name}`
              : `restoreguard.dev/group=${g.name}`;
          const left = await kube.get(`/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(sel)}`);
          return left.items.length === 0;
        },
        opts.capMs,
        250,
      );
      completed++;
    } catch (e) {
      opts.progress(`fig 9  ${(e as Error).message}`);
    } finally {
      g.stop();
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(opts.concurrency, cell.groups) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= cell.groups) return;
        await one(i);
      }
    }),
  );
  const wallMs = Date.now() - t0;
  // The last deletes' events still arrive: count them with the cell.
  await settled(chain, 3000, 60_000);
  const cpuMs = cpuMsOf(pid) - cpu0;
  const delta = diffCounters(before, parseCounters(await chain.metricsText(), COUNTERS));
  const t1 = Date.now();
  // The API server's own count of what restore-guard's identity asked (README, test/rig: the audit
  // policy records its every request but watches), over the same window.
  const audited = existsSync(AUDIT_LOG)
    ? parseAudit(readFileSync(AUDIT_LOG, 'utf8'), AUDITED_USER, t0, t1).filter((e) => e.verb !== 'watch').length
    : null;
  const requests: Record<string, number> = {};
  const requestsByCode: Record<string, number> = {};
  const invocations: Record<string, number> = {};
  let adapterEvents = 0;
  for (const [k, v] of delta) {
    const l = labelsOfKey(k);
    if (k.startsWith('restoreguard_kube_requests_total')) {
      const key = `${l.verb} ${l.kind}`;
      requests[key] = (requests[key] ?? 0) + v;
      requestsByCode[`${key} ${l.code}`] = (requestsByCode[`${key} ${l.code}`] ?? 0) + v;
    } else {
      invocations[l.function ?? '?'] = (invocations[l.function ?? '?'] ?? 0) + v;
      if (l.function === 'completion' && l.type?.startsWith('dev.knative.apiserver.')) adapterEvents += v;
    }
  }
  return {
    cell,
    label: costLabel(cell),
    pods: cell.groups * REPLICAS,
    requests,
    requestsByCode,
    invocations,
    adapterEvents,
    audited,
    cpuMs,
    completed,
    wallMs,
  };
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const byVerb = (r: Record<string, number>) => {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) {
    const verb = k.split(' ')[0]!;
    out[verb] = (out[verb] ?? 0) + v;
  }
  return out;
};

/** The headline rows and the detail table of figure 9. */
export function figure9(results: CostResult[]): { rows: Row[]; detail: string } {
  const rows: Row[] = [];
  const perPod = (r: CostResult, x: number) => (r.pods ? x / r.pods : NaN);
  const base = (r: CostResult) => results.find((x) => x.cell.unrelated === 0 && sameShape(x.cell, r.cell));
  for (const r of results) {
    const req = perPod(r, total(r.requests));
    const inv = perPod(r, total(r.invocations));
    const verbs = Object.entries(byVerb(r.requests))
      .sort()
      .map(([v, n]) => `${v} ${fmtNum(perPod(r, n), 1)}`)
      .join(', ');
    if (r.cell.unrelated === 0) {
      rows.push({
        figure: '9',
        title: 'API cost: Kubernetes requests per restore pod',
        cell: `${r.label} (${r.pods} pods${r.completed < r.cell.groups ? `, ${r.cell.groups - r.completed} groups unfinished` : ''})`,
        value: `${fmtNum(req, 1)} (${verbs}${r.audited === null ? '' : `; audit log ${fmtNum(perPod(r, r.audited), 1)}`})`,
        baseline: `minimum writes ${MIN_WRITES_PER_POD}`,
        ratio: fmtRatio(req, MIN_WRITES_PER_POD),
        target: '≤ 12 and ≤ 1.5× the minimum',
        verdict: complete(r, atMost(req, Math.min(12, 1.5 * MIN_WRITES_PER_POD))),
      });
      rows.push({
        figure: '9',
        title: 'API cost: function invocations per restore pod',
        cell: `${r.label} (${r.pods} pods)`,
        value: fmtNum(inv, 1),
        baseline: `adapter events ${fmtNum(perPod(r, r.adapterEvents), 1)}`,
        ratio: fmtRatio(inv, perPod(r, r.adapterEvents)),
        target: '≤ 10',
        verdict: complete(r, atMost(inv, 10)),
      });
    } else {
      const b = base(r);
      const bReq = b ? perPod(b, total(b.requests)) : NaN;
      const bCpu = b ? perPod(b, b.cpuMs) : NaN;
      const cpu = perPod(r, r.cpuMs);
      rows.push({
        figure: '9',
        title: 'API cost: flat with unrelated objects',
        cell: `${r.label} (${r.pods} pods)`,
        value: `${fmtNum(req, 1)} requests, ${fmtNum(cpu, 1)} CPU ms per pod`,
        baseline: `no unrelated objects: ${fmtNum(bReq, 1)} requests, ${fmtNum(bCpu, 1)} CPU ms`,
        ratio: `${fmtRatio(req, bReq)} requests, ${fmtRatio(cpu, bCpu)} CPU`,
        target: 'within 10% of none',
        verdict: complete(r, req <= bReq * 1.1 && cpu <= bCpu * 1.1 ? 'met' : 'MISSED'),
      });
    }
  }
  const kinds = [...new Set(results.flatMap((r) => Object.keys(r.requests)))].sort();
  const fns = [...new Set(results.flatMap((r) => Object.keys(r.invocations)))].sort();
  const detail = [
    `Per restore pod, by cell. Minimum writes per pod: ${MIN_WRITES_PER_POD} (anchor create and delete, the record on the pod, its Job and its PVC, two Events, the pod's delete). "audit log": the kube-apiserver's own record of restore-guard's identity's requests in the cell's window (a cross-check of restore-guard's /metrics).`,
    '',
    markdownTable(
      [
        'cell',
        'pods',
        ...kinds,
        'requests',
        'audit log',
        ...fns.map((f) => `→ ${f}`),
        'invocations',
        'adapter events',
        'CPU ms',
      ],
      results.map((r) => [
        r.label,
        String(r.pods),
        ...kinds.map((k) => fmtNum(perPod(r, r.requests[k] ?? 0), 2)),
        fmtNum(perPod(r, total(r.requests)), 1),
        r.audited === null ? '—' : fmtNum(perPod(r, r.audited), 1),
        ...fns.map((f) => fmtNum(perPod(r, r.invocations[f] ?? 0), 2)),
        fmtNum(perPod(r, total(r.invocations)), 1),
        fmtNum(perPod(r, r.adapterEvents), 1),
        fmtNum(perPod(r, r.cpuMs), 1),
      ]),
    ),
  ].join('\n');
  return { rows, detail };
}

function sameShape(a: CostCell, b: CostCell): boolean {
  return a.profile === b.profile && a.sequential === b.sequential && a.runMs === b.runMs;
}

/** A cell whose groups did not all finish is a miss whatever its figures. */
function complete(r: CostResult, v: Verdict): Verdict {
  return r.completed < r.cell.groups ? 'MISSED' : v;
}

/** The cells of figure 9. */
export function costCells(full: boolean): CostCell[] {
  const groups = full ? 50 : 10;
  const cells: CostCell[] = [];
  for (const profile of ['generic', 'kubeblocks'] as const)
    for (const sequential of [false, true])
      for (const runMs of full ? [0, 2000] : [0]) cells.push({ profile, sequential, runMs, groups, unrelated: 0 });
  for (const unrelated of full ? [1000, 10_000] : [1000, 10_000])
    cells.push({ profile: 'generic', sequential: false, runMs: 0, groups, unrelated });
  return cells;
}
