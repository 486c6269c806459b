/**
 * Figures 1, 2, 4 and 8 from one set of restore groups on the rig: every cell (node count,
 * sequential or parallel creation, restore durations) runs through the three arms (plain Jobs,
 * the KubeBlocks sidecar hand-off, restore-guard), arms interleaved cell by cell (their order
 * rotating) so that drift of the machine hits them alike.
 *
 * 1 scheduling accuracy: share of groups with two members on one node (all arms);
 * 2 resources held: CPU·s and GiB·s reserved after restore containers finished (sidecar vs guard);
 * 4 latency: pod bound → anchor exists, restore finished → outcome recorded (guard), against the
 *   bench's own watch-driven operator emulator (restore finished → stop annotation seen, sidecar);
 * 8 workload wait: creation → Running of the workload pods that follow a group (guard vs sidecar).
 */
import type { Chain } from '../support/chain.ts';
import { NODE_NAMES } from '../rig/index.ts';
import { runGroups, type Arm, type GroupResult, type GroupSpec } from './groups.ts';
import {
  all,
  atMost,
  fmtMs,
  fmtNum,
  fmtPct,
  fmtRatio,
  markdownTable,
  mean,
  ratioAtMost,
  share,
  summarize,
  workloadWaitTable,
  type Row,
} from './table.ts';

export interface Cell {
  nodes: number;
  sequential: boolean;
  durations: number[];
  /** durations differ within the group (the slowest sibling decides when the sidecar lets go) */
  spread: boolean;
}

export function cellLabel(c: Cell): string {
  const d = c.spread
    ? `spread ${c.durations.map((x) => (x >= 1000 ? `${x / 1000} s` : `${x} ms`)).join('/')}`
    : `${c.durations[0]! >= 1000 ? `${c.durations[0]! / 1000} s` : `${c.durations[0]} ms`}`;
  return `${c.nodes} nodes, ${c.sequential ? 'sequential' : 'parallel'}, ${d}`;
}

export function schedulingCells(full: boolean): Cell[] {
  const nodeCounts = full ? [3, 4, 5] : [3];
  const durations = full ? [0, 50, 500, 2000] : [0, 500];
  const cells: Cell[] = [];
  for (const nodes of nodeCounts) {
    for (const sequential of [false, true]) {
      for (const d of durations) cells.push({ nodes, sequential, durations: [d, d, d], spread: false });
    }
  }
  cells.push({ nodes: 3, sequential: false, durations: full ? [0, 500, 2000] : [0, 500, 2000], spread: true });
  return cells;
}

export interface SchedulingOptions {
  cells: Cell[];
  groupsPerCell: number;
  concurrency: number;
  capMs: number;
  progress: (line: string) => void;
}

export interface CellResult {
  cell: Cell;
  label: string;
  arms: Record<Arm, GroupResult[]>;
}

const ARMS: Arm[] = ['plain', 'sidecar', 'guard'];

/**
 * Runs every cell. Each cell gets fresh namespaces (`withChains` starts the three arms and tears
 * them down afterwards), so the watch history the bench keeps and the objects in the API server
 * stay the size of one cell, and no cell runs on another's leftovers.
 */
export async function runScheduling(
  withChains: <T>(fn: (c: Record<Arm, Chain>) => Promise<T>) => Promise<T>,
  o: SchedulingOptions,
): Promise<CellResult[]> {
  const out: CellResult[] = [];
  for (const [ci, cell] of o.cells.entries()) {
    const label = cellLabel(cell);
    const arms = await withChains(async (chains) => {
      const arms = {} as Record<Arm, GroupResult[]>;
      const order = ARMS.map((_, i) => ARMS[(i + ci) % ARMS.length]!);
      for (const arm of order) {
        const t0 = Date.now();
        const specs: GroupSpec[] = Array.from({ length: o.groupsPerCell }, () => ({
          arm,
          nodes: NODE_NAMES.slice(0, cell.nodes),
          sequential: cell.sequential,
          durations: cell.durations,
          emulator: true,
          capMs: o.capMs,
          workload: arm !== 'plain',
          tag: `${arm[0]}${ci}-`,
        }));
        arms[arm] = await runGroups(chains[arm], specs, o.concurrency);
        const r = arms[arm];
        o.progress(
          `fig 1/2/4/8  cell ${ci + 1}/${o.cells.length} ${label}  ${arm.padEnd(7)} ${r.length} groups in ${fmtMs(Date.now() - t0)}: ` +
            `${r.filter((g) => g.violated).length} violated, ${r.filter((g) => !g.completed).length} incomplete`,
        );
      }
      return arms;
    });
    out.push({ cell, label, arms });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Figures from the results (pure)
// ---------------------------------------------------------------------------------------------

const violationShare = (gs: GroupResult[]) => share(gs.filter((g) => g.violated).length, gs.length);

export function figure1(cells: CellResult[]): { rows: Row[]; detail: string } {
  const rows: Row[] = cells.map((c) => {
    const g = c.arms.guard;
    const waited = g.reduce((n, x) => n + x.waited, 0);
    const incomplete = g.filter((x) => !x.completed).length;
    const notes = [
      waited ? `${waited} member(s) waited Pending` : '',
      incomplete ? `${incomplete} group(s) incomplete` : '',
    ]
      .filter(Boolean)
      .join('; ');
    return {
      figure: '1',
      title: 'scheduling accuracy: groups with two members on one node',
      cell: `${c.label} (${g.length} groups)`,
      value: fmtPct(violationShare(g)) + (waited ? ` (${waited} waited)` : ''),
      baseline: `plain ${fmtPct(violationShare(c.arms.plain))} · sidecar ${fmtPct(violationShare(c.arms.sidecar))}`,
      ratio: '—',
      target: '0 in every cell',
      verdict: g.length && g.every((x) => !x.violated) ? 'met' : 'MISSED',
      ...(notes ? { note: notes } : {}),
    };
  });
  const detail = markdownTable(
    ['cell', 'arm', 'groups', 'two on one node', 'members waited', 'incomplete', 'group time p50'],
    cells.flatMap((c) =>
      ARMS.map((a) => {
        const gs = c.arms[a];
        return [
          c.label,
          a,
          String(gs.length),
          `${gs.filter((g) => g.violated).length} (${fmtPct(violationShare(gs))})`,
          String(gs.reduce((n, g) => n + g.waited, 0)),
          String(gs.filter((g) => !g.completed).length),
          fmtMs(summarize(gs.map((g) => g.durationMs ?? NaN)).p50),
        ];
      }),
    ),
  );
  return { rows, detail };
}

function held(gs: GroupResult[]): { cpu: number; mem: number; still: number } {
  return {
    cpu: mean(gs.map((g) => g.heldCpuS)),
    mem: mean(gs.map((g) => g.heldMemGiBs)),
    still: gs.filter((g) => g.stillHeld).length,
  };
}

export function figure2(cells: CellResult[]): { rows: Row[]; detail: string } {
  const variants: [string, CellResult[]][] = [
    ['uniform durations (every fig. 1 cell)', cells.filter((c) => !c.cell.spread)],
    ['spread durations (the slowest sibling decides)', cells.filter((c) => c.cell.spread)],
  ];
  const rows: Row[] = variants
    .filter(([, cs]) => cs.length)
    .map(([name, cs]) => {
      const s = held(cs.flatMap((c) => c.arms.sidecar));
      const g = held(cs.flatMap((c) => c.arms.guard));
      const n = cs.reduce((k, c) => k + c.arms.guard.length, 0);
      const verdict = all([ratioAtMost(g.cpu, s.cpu, 0.1), ratioAtMost(g.mem, s.mem, 0.1)]);
      return {
        figure: '2',
        title: 'resources held after the restore finished, per group',
        cell: `${name} (${n} groups)`,
        value: `${fmtNum(g.cpu, 3)} CPU·s, ${fmtNum(g.mem, 3)} GiB·s`,
        baseline: `sidecar ${fmtNum(s.cpu, 3)} CPU·s, ${fmtNum(s.mem, 3)} GiB·s`,
        ratio: `${fmtRatio(g.cpu, s.cpu)} CPU, ${fmtRatio(g.mem, s.mem)} mem`,
        target: '≤ 10% of sidecar',
        verdict,
        ...(g.still || s.still
          ? { note: `still held at the end of measurement: guard ${g.still}, sidecar ${s.still} group(s)` }
          : {}),
      };
    });
  const detail = markdownTable(
    [
      'cell',
      'sidecar CPU·s',
      'guard CPU·s',
      'ratio',
      'sidecar GiB·s',
      'guard GiB·s',
      'ratio',
      'of which anchors (guard CPU·s / GiB·s)',
    ],
    cells.map((c) => {
      const s = held(c.arms.sidecar);
      const g = held(c.arms.guard);
      return [
        c.label,
        fmtNum(s.cpu, 3),
        fmtNum(g.cpu, 3),
        fmtRatio(g.cpu, s.cpu),
        fmtNum(s.mem, 3),
        fmtNum(g.mem, 3),
        fmtRatio(g.mem, s.mem),
        `${fmtNum(mean(c.arms.guard.map((x) => x.anchorCpuS)), 4)} / ${fmtNum(mean(c.arms.guard.map((x) => x.anchorMemGiBs)), 4)}`,
      ];
    }),
  );
  return { rows, detail };
}

export function figure4(cells: CellResult[]): { rows: Row[]; samples: Record<string, number[]> } {
  const guard = cells.flatMap((c) => c.arms.guard).flatMap((g) => g.members);
  const sidecar = cells.flatMap((c) => c.arms.sidecar).flatMap((g) => g.members);
  const anchor = guard
    .filter((m) => m.boundAt !== null && m.anchorAt !== null)
    .map((m) => Math.max(0, m.anchorAt! - m.boundAt!));
  const recorded = guard
    .filter((m) => m.restoreDoneAt !== null && m.recordedAt !== null)
    .map((m) => Math.max(0, m.recordedAt! - m.restoreDoneAt!));
  // The bench's own watch-driven controller: last sibling's restore end → its stop annotation seen.
  const emu = sidecar.map((m) => m.stopReactionMs).filter((x): x is number => x !== null);
  const missingAnchor = guard.filter((m) => m.boundAt !== null && m.anchorAt === null).length;
  const missingRecord = guard.filter((m) => m.restoreDoneAt !== null && m.recordedAt === null).length;
  const e = summarize(emu);
  const base = `bench's operator emulator, last restore end → stop seen: p50 ${fmtMs(e.p50)}, p99 ${fmtMs(e.p99)}`;
  const row = (what: string, xs: number[], missing: number): Row => {
    const s = summarize(xs);
    return {
      figure: '4',
      title: 'latency',
      cell: `${what} (${s.n} pods)`,
      value: `p50 ${fmtMs(s.p50)}, p99 ${fmtMs(s.p99)}`,
      baseline: base,
      ratio: `${fmtRatio(s.p99, e.p99)} (p99)`,
      target: 'p99 < 250 ms',
      verdict: missing ? 'MISSED' : atMost(s.p99, 249.999),
      ...(missing ? { note: `${missing} pod(s) never got one` } : {}),
    };
  };
  return {
    rows: [
      row('pod bound → anchor exists', anchor, missingAnchor),
      row('restore finished → outcome recorded', recorded, missingRecord),
    ],
    samples: { anchor, recorded, emulator: emu },
  };
}

export function figure8(cells: CellResult[]): { rows: Row[]; detail: string } {
  const waits = (a: Arm) => cells.flatMap((c) => c.arms[a]).flatMap((g) => g.workloadWaitMs ?? []);
  const firsts = (a: Arm) =>
    cells
      .flatMap((c) => c.arms[a])
      .map((g) => g.workloadWaitMs?.[0])
      .filter((x): x is number => x !== undefined);
  const skipped = (a: Arm) => cells.flatMap((c) => c.arms[a]).filter((g) => g.workloadSkipped).length;
  const g = summarize(waits('guard'));
  const s = summarize(waits('sidecar'));
  const gf = summarize(firsts('guard'));
  const never = waits('guard').filter((x) => !Number.isFinite(x)).length;
  const rows: Row[] = [
    {
      figure: '8',
      title: 'workload wait: creation → Running after a group',
      cell: `every workload pod (${g.n} pods; first of each group: p99 ${fmtMs(gf.p99)})`,
      value: `p50 ${fmtMs(g.p50)}, p99 ${fmtMs(g.p99)}`,
      baseline: `sidecar (no anchors) p50 ${fmtMs(s.p50)}, p99 ${fmtMs(s.p99)}`,
      ratio: `${fmtRatio(g.p99, s.p99)} (p99)`,
      target: 'p99 < 1 s',
      verdict: never ? 'MISSED' : atMost(g.p99, 999.999),
      ...(never || skipped('guard')
        ? { note: `${never} pod(s) not Running within 15 s; ${skipped('guard')} guard group(s) skipped` }
        : {}),
    },
  ];
  const detail = workloadWaitTable(cells, 'guard', 'sidecar', 'sidecar');
  return { rows, detail };
}
