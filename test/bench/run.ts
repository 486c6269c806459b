/**
 * `npm run bench` — the headline figures of issue 5, each against its baseline measured in the
 * same run, as one markdown table on stdout and in test/bench/results/<UTC date>-<mode>.md (+ .json).
 *
 *   npm run bench                  quick mode (a few minutes on 2 cores)
 *   npm run bench -- --full        the README's numbers (≥ 100 groups per cell; about an hour)
 *   npm run bench -- --only=1,5    some figures (results file gets an -only-1-5 suffix)
 *   npm run bench -- --no-write    print only
 *   npm run bench -- --only=10     figure 10, the scale run (only when named; --scale-groups=N for a smaller one)
 *   npm run bench -- --kb-groups=5 groups per cell of the KubeBlocks cells (default: quick 10, full 50)
 *   npm run bench -- --kubeblocks-only   only the cells on KubeBlocks' own controller (figures 1, 2, 3, 7, 8)
 *   BENCH_LOG_LEVEL=debug npm run bench …  restore-guard's own log at debug (every API request with its
 *                                  function and event type) in .rig/logs/chain-bench-guard-*.log
 *
 * Progress goes to stderr. In-process figures (5 throughput, 6 cold start) run first, before the
 * rig's components load the machine; rig figures (1–4, 7, 8) run on test/rig through
 * test/support/chain.ts: one namespace per arm, removed at the end. Figures 1, 2, 3, 7 and 8 run
 * twice: on the bench's emulation of KubeBlocks' hand-off (the historical baseline) and on groups made
 * by KubeBlocks' own dataprotection controller (test/bench/kubeblocks.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startChain, type Chain } from '../support/chain.ts';
import { ensureRig } from '../rig/index.ts';
import { benchColdStart } from './coldstart.ts';
import { benchThroughput } from './throughput.ts';
import { factsMarkdown, machineFacts } from './facts.ts';
import { figure1, figure2, figure4, figure8, runScheduling, schedulingCells, type CellResult } from './scheduling.ts';
import { figure3, runRecovery, type RecoverySample } from './recovery.ts';
import { figure7, runDeadlock, type DeadlockResult } from './deadlock.ts';
import { costCells, figure9, runCostCell, type CostResult } from './cost.ts';
import { figure10, runScaleCell, scaleCells, type ScaleResult } from './scale.ts';
import {
  kbCells,
  kbFigure1,
  kbFigure2,
  kbFigure3,
  kbFigure7,
  kbFigure8,
  runKbDeadlock,
  runKbRecovery,
  runKbScheduling,
  withKubeBlocks,
  type KbCellResult,
  type KbDeadlockResult,
  type KbRecoverySample,
} from './kubeblocks.ts';
import {
  atLeast,
  atMost,
  all,
  compactMembers,
  fmtMs,
  fmtNum,
  fmtRatio,
  headlineTable,
  markdownTable,
  ratioAtMost,
  tally,
  type Row,
} from './table.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const args = process.argv.slice(2);
const full = args.includes('--full');
const mode = full ? 'full' : 'quick';
const onlyArg = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const only = onlyArg ? new Set(onlyArg.split(',').map((s) => s.trim())) : null;
const want = (...figs: number[]) => !only || figs.some((f) => only.has(String(f)));
const write = !args.includes('--no-write');
const kbOnly = args.includes('--kubeblocks-only');
const kbGroupsArg = args.find((a) => a.startsWith('--kb-groups='))?.slice('--kb-groups='.length);
/** the emulator's cells (plain, sidecar, guard), skipped with --kubeblocks-only */
const wantEmu = (...figs: number[]) => !kbOnly && want(...figs);

const P = full
  ? {
      groupsPerCell: 100,
      concurrency: 5,
      capMs: 60_000,
      deadlockGroups: 20,
      deadlockCapMs: 60_000,
      recoverySamples: 10,
      recoveryCapMs: 90_000,
      throughputScale: 1,
      coldRuns: 15,
      kbGroupsPerCell: 50,
      kbCapMs: 120_000,
      kbDeadlockGroups: 10,
      kbRecoverySamples: 10,
    }
  : {
      groupsPerCell: 20,
      concurrency: 3,
      capMs: 30_000,
      deadlockGroups: 10,
      deadlockCapMs: 30_000,
      recoverySamples: 5,
      recoveryCapMs: 60_000,
      throughputScale: 0.5,
      coldRuns: 5,
      kbGroupsPerCell: 10,
      kbCapMs: 60_000,
      kbDeadlockGroups: 5,
      kbRecoverySamples: 5,
    };
if (kbGroupsArg) P.kbGroupsPerCell = Math.max(1, Number(kbGroupsArg) || P.kbGroupsPerCell);

const t0 = Date.now();
const progress = (s: string) => process.stderr.write(`[bench ${fmtMs(Date.now() - t0).padStart(7)}] ${s}\n`);
const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
const facts = machineFacts(command);

const rows: Row[] = [];
const details: { title: string; body: string }[] = [];
const raw: Record<string, unknown> = { mode, params: P };

// ---------------------------------------------------------------------------------------------
// 5, 6: in-process
// ---------------------------------------------------------------------------------------------
if (!kbOnly && want(5)) {
  if (!globalThis.gc)
    progress('fig 5  warning: run with node --expose-gc (npm run bench does) for comparable heap figures');
  progress('fig 5  throughput (in-process, one core)…');
  const r = await benchThroughput(P.throughputScale);
  raw.throughput = r;
  const base = r[0]!;
  const fast = r.find((x) => x.name.startsWith('fast path'))!;
  rows.push({
    figure: '5',
    title: 'throughput: irrelevant-event fast path',
    cell: `${fmtNum(fast.n)} events`,
    value: `${fmtNum(fast.perSec)}/s`,
    baseline: `JSON.parse of the body ${fmtNum(base.perSec)}/s`,
    ratio: fmtRatio(fast.perSec, base.perSec),
    target: '≥ 20,000/s',
    verdict: atLeast(fast.perSec, 20_000),
  });
  for (const d of r.filter((x) => /^(completion|labeling|release|retry):/.test(x.name))) {
    rows.push({
      figure: '5',
      title: `throughput: ${d.name.split(':')[0]} decision path`,
      cell: `${d.name.split(': ')[1]} (${fmtNum(d.n)} events)`,
      value: `${fmtNum(d.perSec)}/s`,
      baseline: `JSON.parse ${fmtNum(base.perSec)}/s`,
      ratio: fmtRatio(d.perSec, base.perSec),
      target: '≥ 2,000/s',
      verdict: atLeast(d.perSec, 2_000),
    });
  }
  details.push({
    title: 'Figure 5: throughput, every path',
    body: [
      "| path | events/s | ratio to JSON.parse | retained heap growth (MB; cluster paths include the in-memory cluster's state and write log) |",
      '|---|---|---|---|',
      ...r.map(
        (x) => `| ${x.name} | ${fmtNum(x.perSec)} | ${fmtRatio(x.perSec, base.perSec)} | ${fmtNum(x.heapMb, 1)} |`,
      ),
    ].join('\n'),
  });
  progress(`fig 5  fast path ${fmtNum(fast.perSec)}/s`);
}

if (!kbOnly && want(6)) {
  progress('fig 6  npm run build…');
  const b = spawnSync(process.execPath, ['esbuild.config.ts'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr || b.stdout}`);
  progress(`fig 6  cold start, ${P.coldRuns} runs per arm…`);
  const r = await benchColdStart(P.coldRuns);
  raw.coldstart = r;
  const [bare, shipped, unbundled] = [r[0]!, r[1]!, r[2]!];
  rows.push({
    figure: '6',
    title: 'cold start: spawn → readiness 200, RSS',
    cell: `median of ${P.coldRuns} spawns, arms in turn`,
    value: `${fmtMs(shipped.ms)}, ${fmtNum(shipped.rssMb)} MB`,
    baseline: `bare node -e 0 ${fmtMs(bare.ms)} · unbundled ${fmtMs(unbundled.ms)}, ${fmtNum(unbundled.rssMb)} MB`,
    ratio: `${fmtRatio(shipped.ms, bare.ms)} bare node, ${fmtRatio(shipped.ms, unbundled.ms)} unbundled`,
    target: '≤ 1.5× bare node and < 80 MB',
    verdict: all([ratioAtMost(shipped.ms, bare.ms, 1.5), atMost(shipped.rssMb, 79.999)]),
  });
  progress(
    `fig 6  shipped ${fmtMs(shipped.ms)} / ${fmtNum(shipped.rssMb)} MB, bare node ${fmtMs(bare.ms)}, unbundled ${fmtMs(unbundled.ms)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// 1–4, 7, 8: on the rig
// ---------------------------------------------------------------------------------------------
if (want(1, 2, 3, 4, 7, 8, 9) || only?.has('10')) {
  // restore-guard runs as the shipped bundle: built from this tree, never a stale dist/.
  if (kbOnly || !want(6)) {
    progress('rig: npm run build…');
    const b = spawnSync(process.execPath, ['esbuild.config.ts'], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr || b.stdout}`);
  }
  progress('rig: ensureRig…');
  const rig = await ensureRig();
  facts.kube = (await rig.kube.get('/version')).gitVersion;
  let n = 0;
  const live = new Set<Chain>();
  const work = {
    events: new Map<string, number>(),
    calls: new Map<string, number>(),
    warnings: new Map<string, number>(),
    restorePods: 0,
  };
  const start = async (name: string, m: 'plain' | 'guard') => {
    // restore-guard runs in its own process, as in its pod: the bench's watch and emulator must not slow it.
    const c = await startChain({
      mode: m,
      logLevel: process.env.BENCH_LOG_LEVEL === 'debug' ? 'debug' : 'warn',
      isolated: true,
      namespace: `bench-${name}-${(++n).toString().padStart(2, '0')}-${Date.now().toString(36)}`,
    });
    live.add(c);
    return c;
  };
  const stop = async (c: Chain) => {
    live.delete(c);
    if (c.mode === 'guard')
      await collectWork(c, work).catch((e: unknown) => progress(`metrics ${c.ns}: ${(e as Error).message}`));
    await c.teardown().catch((e: unknown) => progress(`teardown ${c.ns}: ${(e as Error).message}`));
  };
  /** Fresh namespaces for the named arms, torn down afterwards. */
  const withArms = async <K extends string, T>(
    arms: Record<K, 'plain' | 'guard'>,
    fn: (c: Record<K, Chain>) => Promise<T>,
  ): Promise<T> => {
    const chains = {} as Record<K, Chain>;
    try {
      for (const [name, m] of Object.entries(arms) as [K, 'plain' | 'guard'][]) chains[name] = await start(name, m);
      return await fn(chains);
    } finally {
      for (const c of Object.values(chains) as Chain[]) await stop(c);
    }
  };
  try {
    if (wantEmu(1, 2, 4, 8)) {
      const cells = schedulingCells(full);
      progress(
        `fig 1/2/4/8  ${cells.length} cells × 3 arms × ${P.groupsPerCell} groups (${P.concurrency} in flight), fresh namespaces per cell`,
      );
      const res: CellResult[] = await runScheduling(
        (fn) => withArms({ plain: 'plain', sidecar: 'plain', guard: 'guard' } as const, fn),
        { cells, groupsPerCell: P.groupsPerCell, concurrency: P.concurrency, capMs: P.capMs, progress },
      );
      raw.scheduling = res;
      const f1 = figure1(res);
      const f2 = figure2(res);
      const f4 = figure4(res);
      const f8 = figure8(res);
      if (want(1)) {
        rows.push(...f1.rows);
        details.push({ title: 'Figure 1: every cell and arm', body: f1.detail });
      }
      if (want(2)) {
        rows.push(...f2.rows);
        details.push({ title: 'Figure 2: resources held per group (mean), per cell', body: f2.detail });
      }
      if (want(4)) rows.push(...f4.rows);
      if (want(8)) {
        rows.push(...f8.rows);
        details.push({ title: 'Figure 8: workload wait per cell', body: f8.detail });
      }
      work.restorePods += res.reduce((k, c) => k + c.arms.guard.reduce((j, g) => j + g.members.length, 0), 0);
    }
    if (want(1, 2, 8)) {
      const cells = kbCells(full);
      progress(
        `fig 1/2/8 KubeBlocks  ${cells.length} cells × 2 arms × ${P.kbGroupsPerCell} Restores of 3 replicas (${P.concurrency} in flight), on KubeBlocks' own controller`,
      );
      const res: KbCellResult[] = await runKbScheduling(
        (fn) => withArms({ kubeblocks: 'plain', guard: 'guard' } as const, fn),
        {
          cells,
          groupsPerCell: P.kbGroupsPerCell,
          concurrency: P.concurrency,
          capMs: P.kbCapMs,
          progress,
        },
      );
      raw.kubeblocksScheduling = res;
      const f1 = kbFigure1(res);
      const f2 = kbFigure2(res);
      const f8 = kbFigure8(res);
      if (want(1)) {
        rows.push(...f1.rows);
        details.push({ title: "Figure 1 on KubeBlocks' own controller: every cell and arm", body: f1.detail });
      }
      if (want(2)) {
        rows.push(...f2.rows);
        details.push({
          title: "Figure 2 on KubeBlocks' own controller: held per group (mean), per cell",
          body: f2.detail,
        });
      }
      if (want(8)) {
        rows.push(...f8.rows);
        details.push({ title: "Figure 8 on KubeBlocks' own controller: workload wait per cell", body: f8.detail });
      }
      work.restorePods += res.reduce((k, c) => k + c.arms.guard.reduce((j, g) => j + g.members.length, 0), 0);
    }
    if (wantEmu(7)) {
      const r: DeadlockResult = await withArms({ sidecar: 'plain', guard: 'guard' } as const, (c) =>
        runDeadlock(c, P.deadlockGroups, P.deadlockCapMs, progress),
      );
      raw.deadlock = r;
      rows.push(...figure7(r));
      work.restorePods += r.guard.reduce((j, g) => j + g.members.length, 0);
    }
    if (wantEmu(9)) {
      // One namespace for every cell: the unrelated objects accumulate (0, then 1,000, then 10,000).
      const cells = costCells(full);
      progress(`fig 9  API cost: ${cells.length} cells, ${cells[0]!.groups} groups of 3 each`);
      const r: CostResult[] = await withArms({ guard: 'guard' } as const, async (c) => {
        const out: CostResult[] = [];
        for (const cell of cells) {
          const res = await runCostCell(c.guard, cell, { concurrency: P.concurrency, capMs: P.capMs, progress });
          progress(
            `fig 9  ${res.label}: ${fmtNum(Object.values(res.requests).reduce((a, b) => a + b, 0) / res.pods, 1)} requests per pod`,
          );
          out.push(res);
        }
        return out;
      });
      raw.cost = r;
      const f9 = figure9(r);
      rows.push(...f9.rows);
      details.push({ title: 'Figure 9: API cost per restore pod, every cell', body: f9.detail });
    }
    if (only?.has('10')) {
      // Only when asked for: the scale run makes its own namespaces, nodes, replicas and front per cell.
      const n = Number(args.find((a) => a.startsWith('--scale-groups='))?.split('=')[1] ?? 0);
      const cells = scaleCells(full).map((c) => (n > 0 ? { ...c, groups: n, inFlight: Math.min(c.inFlight, n) } : c));
      progress(`fig 10 scale: ${cells.length} cells, ${cells[0]!.groups} groups of 3 each on ${cells[0]!.nodes} nodes`);
      const r: ScaleResult[] = [];
      for (const cell of cells) r.push(await runScaleCell(cell, { capMs: 600_000, progress }));
      raw.scale = r;
      const f10 = figure10(r);
      rows.push(...f10.rows);
      details.push({ title: 'Figure 10: at scale, per cell and replica', body: f10.detail });
    }
    if (wantEmu(3)) {
      const r: RecoverySample[] = await withArms({ baseline: 'plain', guard: 'guard' } as const, (c) =>
        runRecovery(c, P.recoverySamples, P.recoveryCapMs, progress),
      );
      raw.recovery = r;
      rows.push(...figure3(r));
    }
    if (want(3)) {
      const r: KbRecoverySample[] = await withArms({ kubeblocks: 'plain', guard: 'guard' } as const, (c) =>
        withKubeBlocks(c, (k) => runKbRecovery(k, P.kbRecoverySamples, P.recoveryCapMs, progress)),
      );
      raw.kubeblocksRecovery = r;
      const f3 = kbFigure3(r);
      rows.push(...f3.rows);
      details.push({ title: "Figure 3 on KubeBlocks' own Jobs: where the time goes (medians)", body: f3.detail });
    }
    if (want(7)) {
      // Last: it pauses KubeBlocks' controller (always resumed), which nothing else may see.
      const pid = rig.pids.dataprotection;
      if (!pid) throw new Error("fig 7 KubeBlocks: the rig reports no dataprotection pid; run 'npm run rig:status'");
      const r: KbDeadlockResult = await withArms({ kubeblocks: 'plain', guard: 'guard' } as const, (c) =>
        withKubeBlocks(c, (k) =>
          runKbDeadlock(k, {
            groups: P.kbDeadlockGroups,
            capMs: P.deadlockCapMs,
            // long enough that every group's Jobs exist before the first restore ends
            runMs: 10_000,
            controllerPid: pid,
            progress,
          }),
        ),
      );
      raw.kubeblocksDeadlock = r;
      rows.push(...kbFigure7(r));
    }
  } finally {
    for (const c of [...live]) await stop(c);
  }
  facts.loadavgEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  raw.guardWork = {
    events: Object.fromEntries(work.events),
    kubeCalls: Object.fromEntries(work.calls),
    warnings: Object.fromEntries(work.warnings),
  };
  if (work.events.size) {
    const per = (x: number) =>
      work.restorePods ? ` (${fmtNum(x / work.restorePods, 1)} per restore pod of figures 1 and 7)` : '';
    details.push({
      title: 'What restore-guard did (all guard arms together)',
      body: [
        `Restore pods driven through the guard arms: ${work.restorePods} (figures 1 and 7) plus figure 3's samples.`,
        '',
        markdownTable(
          ['function', 'events handled'],
          [...work.events].sort().map(([k, v]) => [k, `${fmtNum(v)}${per(v)}`]),
        ),
        '',
        markdownTable(
          ['Kubernetes API calls (verb kind)', 'count'],
          [...work.calls].sort().map(([k, v]) => [k, `${fmtNum(v)}${per(v)}`]),
        ),
        ...(work.warnings.size
          ? ['', 'Warnings and errors it logged:', '', ...[...work.warnings].map(([k, v]) => `- ${k} (${v}×)`)]
          : []),
      ].join('\n'),
    });
  }
}

/** Adds up a guard chain's metrics (events per function, API calls per verb and kind) and its warnings. */
async function collectWork(
  c: Chain,
  w: { events: Map<string, number>; calls: Map<string, number>; warnings: Map<string, number> },
): Promise<void> {
  const text = await c.metricsText();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (const line of text.split('\n')) {
    const m = /^(restoreguard_events_total|restoreguard_kube_requests_total)\{([^}]*)\} ([0-9.e+]+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (m[1] === 'restoreguard_events_total') add(w.events, labels.function ?? '?', Number(m[3]));
    else add(w.calls, `${labels.verb ?? '?'} ${labels.kind ?? '?'}`, Number(m[3]));
  }
  for (const l of c.logs) if (l.level === 'warn' || l.level === 'error') add(w.warnings, `${l.level}: ${l.msg}`, 1);
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------
const order = (r: Row) => Number(r.figure);
rows.sort((a, b) => order(a) - order(b));
const t = tally(rows);
const notes = rows.filter((r) => r.note).map((r) => `- fig. ${r.figure}, ${r.cell}: ${r.note}`);
const md = [
  `# restore-guard benchmark (${mode})`,
  '',
  factsMarkdown(facts),
  `- took ${fmtMs(Date.now() - t0)}`,
  '',
  headlineTable(rows),
  '',
  `${t.met} met, ${t.missed} MISSED${t.na ? `, ${t.na} n/a` : ''}.`,
  ...(notes.length ? ['', '## Notes', '', ...notes] : []),
  '',
  '## How it is measured',
  '',
  "- Arms: *plain* = Jobs whose pods end when the restore does; *sidecar* = KubeBlocks' restore-manager hand-off (KWOK stage) with an operator emulator in the bench that sets `stop-restore-manager` on a group's pods once every restore container of every Job created so far has terminated; *guard* = the same sidecar pods with restore-guard (local broker, its ServiceAccount, in its own process) fed by Knative's ApiServerSource adapter; the emulator keeps running there (except in figure 7).",
  `- Rig figures run ${P.groupsPerCell} groups per cell and arm, ${P.concurrency} at a time. restore-guard runs in its own process (the shipped bundle, warmed by one resync, as in a pod that has served before; not sharing the bench's event loop) on the same ${facts.nproc} CPUs as etcd, the API server, scheduler, controller manager, KWOK and the adapter, and whatever else the machine runs (see the load average): latencies are this machine's under that load, not a dedicated pod's.`,
  "- Times are arrival times of the bench's own watch on the namespace (ms precision), so every arm is timed by the same clock and path.",
  "- Figure 2 counts requests × time from the restore container's end to the pod's end (phase or deletion), plus the anchors' requests × their life after the restore ended. The emulator cells make no KubeBlocks Restore: their groups declare `restoreguard.dev/group-size` instead, which is what tells restore-guard that a sequential group is not done yet (the KubeBlocks cells have real Restores).",
  '- Figure 3 pins the first attempt to rig-node-1 with filler pods on nodes 2 and 3 (removed once it is bound) and evicts it there; baseline = Job backoffLimit 3, restore-guard = backoffLimit 0 and `restoreguard.dev/retry: "true"`.',
  `- Rows whose cell starts with *KubeBlocks* run on KubeBlocks' own dataprotection controller (v1.0.2, on the rig): each group is a real Restore of 3 replicas (test/support/kubeblocks.ts), whose Jobs, restore-manager sidecars, stop signal, Serial deletions and point-in-time backup sets are KubeBlocks' own; arms *KubeBlocks alone* and *guard* (restore-guard plus the ApiServerSource over Restores), ${P.kbGroupsPerCell} groups per cell and arm. Figure 1 counts two members of one backup set on one node; figure 2 counts pod·s (restore pods and anchors) and requests × s after each restore container ended (KubeBlocks' pods request nothing); figure 3 uses KubeBlocks' own Job (backoffLimit 1, no opt-in label; the restore exits 1); figure 7 pauses KubeBlocks' controller (SIGSTOP, resumed after the cap) once every group's Jobs exist; figure 8 creates the component's pods on the members' nodes once the Restore is Completed.`,
  "- Figure 8 creates, once all of a group's Jobs are Complete, one workload pod per member with the same instance label and anti-affinity, required onto the member's node; groups with two members on one node are skipped (their workload could never be placed).",
  ...details.flatMap((d) => ['', `## ${d.title}`, '', d.body]),
  '',
].join('\n');

process.stdout.write(md);
if (write) {
  const dir = path.join(ROOT, 'test', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const base = `${facts.date.slice(0, 10)}-${mode}${only ? `-only-${[...only].join('-')}` : ''}${kbOnly ? '-kubeblocks' : ''}`;
  writeFileSync(path.join(dir, `${base}.md`), md);
  // Members as compact rows (table.ts compactMembers/expandMembers), no indentation: a full run
  // (7,500 groups) stays about 7 MB instead of 35.
  const compact = (_k: string, v: unknown) =>
    v && typeof v === 'object' && 'members' in v && Array.isArray((v as { members: unknown }).members)
      ? { ...v, members: compactMembers((v as { members: Record<string, unknown>[] }).members) }
      : v;
  writeFileSync(path.join(dir, `${base}.json`), `${JSON.stringify({ facts, rows, tally: t, raw }, compact)}\n`);
  progress(`wrote test/bench/results/${base}.md and .json`);
}
progress(`done: ${t.met} met, ${t.missed} MISSED`);
process.exit(0);
