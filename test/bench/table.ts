import { quantity } from '../../functions/core/restore/admission.ts';
/**
 * The pure parts of the benchmark: statistics, Kubernetes quantities, target verdicts and the
 * markdown table. No I/O here (test/unit/bench-table.test.ts covers it).
 */

/** Nearest-rank percentile (p in 0..100) of the samples; NaN when there are none. */
export function percentile(xs: readonly number[], p: number): number {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const rank = Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * s.length);
  return s[Math.min(Math.max(rank - 1, 0), s.length - 1)]!;
}

export function mean(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

export function sum(xs: readonly number[]): number {
  return xs.filter((x) => Number.isFinite(x)).reduce((a, b) => a + b, 0);
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(xs: readonly number[]): Summary {
  const v = xs.filter((x) => Number.isFinite(x));
  return {
    n: v.length,
    p50: percentile(v, 50),
    p99: percentile(v, 99),
    max: v.length ? Math.max(...v) : NaN,
    mean: mean(v),
  };
}

/** A share (0..1) of a count; NaN for an empty denominator. */
export function share(k: number, n: number): number {
  return n > 0 ? k / n : NaN;
}

// One parser of Kubernetes quantities: the one anchors are fitted with.
export { quantity };

/** What a pod reserves: the sum of its regular containers' requests, max'ed with any init container's. */
export function podRequests(
  spec:
    | {
        containers?: { resources?: { requests?: Record<string, string> } }[];
        initContainers?: { resources?: { requests?: Record<string, string> } }[];
      }
    | undefined,
): { cpu: number; memory: number } {
  const of = (c: { resources?: { requests?: Record<string, string> } }, k: string) =>
    quantity(c.resources?.requests?.[k] ?? '0') || 0;
  const regular = spec?.containers ?? [];
  const init = spec?.initContainers ?? [];
  const cpu = Math.max(sum(regular.map((c) => of(c, 'cpu'))), ...init.map((c) => of(c, 'cpu')), 0);
  const memory = Math.max(sum(regular.map((c) => of(c, 'memory'))), ...init.map((c) => of(c, 'memory')), 0);
  return { cpu, memory };
}

// ---------------------------------------------------------------------------------------------
// Verdicts
// ---------------------------------------------------------------------------------------------

export type Verdict = 'met' | 'MISSED' | 'n/a';

/** value ≤ limit. No data is a miss: a figure is never passed by having nothing to show. */
export function atMost(value: number, limit: number): Verdict {
  return Number.isFinite(value) && value <= limit ? 'met' : 'MISSED';
}

export function atLeast(value: number, limit: number): Verdict {
  return Number.isFinite(value) && value >= limit ? 'met' : 'MISSED';
}

/**
 * value ≤ factor × baseline. A zero baseline is met only by a zero value; a missing value or
 * baseline is a miss.
 */
export function ratioAtMost(value: number, baseline: number, factor: number): Verdict {
  if (!Number.isFinite(value) || !Number.isFinite(baseline)) return 'MISSED';
  if (baseline <= 0) return value <= 0 ? 'met' : 'MISSED';
  return value / baseline <= factor ? 'met' : 'MISSED';
}

/** Every verdict met (n/a ignored); MISSED when any is missed or there is none. */
export function all(verdicts: readonly Verdict[]): Verdict {
  const real = verdicts.filter((v) => v !== 'n/a');
  if (real.length === 0) return 'MISSED';
  return real.every((v) => v === 'met') ? 'met' : 'MISSED';
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.round(ms)} ms`;
}

export function fmtPct(x: number): string {
  if (!Number.isFinite(x)) return '—';
  const p = x * 100;
  return `${p === 0 || p === 100 || p >= 10 ? p.toFixed(0) : p.toFixed(1)}%`;
}

/** value / baseline as `0.05×`; `—` when undefined. */
export function fmtRatio(value: number, baseline: number): string {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return '—';
  const r = value / baseline;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toPrecision(2)}×`;
}

export function fmtNum(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return '—';
  return x.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** One line of the headline table. */
export interface Row {
  figure: string;
  title: string;
  /** the cell or variant this row is about */
  cell: string;
  /** restore-guard (or the shipped build), formatted */
  value: string;
  /** the baseline(s) measured in the same run, formatted */
  baseline: string;
  ratio: string;
  target: string;
  verdict: Verdict;
  /** what limits it, caveats */
  note?: string;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A markdown table; every row must have one cell per header. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  for (const r of rows)
    if (r.length !== headers.length)
      throw new Error(`table row has ${r.length} cells, want ${headers.length}: ${r.join(' | ')}`);
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

export const HEADLINE_HEADERS = [
  '#',
  'figure',
  'cell',
  'restore-guard',
  'baseline (same run)',
  'ratio',
  'target',
  'verdict',
] as const;

/** The headline table; a missed target reads MISSED in bold, never hidden. */
export function headlineTable(rows: readonly Row[]): string {
  return markdownTable(
    HEADLINE_HEADERS,
    rows.map((r) => [
      r.figure,
      r.title,
      r.cell,
      r.value,
      r.baseline,
      r.ratio,
      r.target,
      r.verdict === 'MISSED' ? '**MISSED**' : r.verdict,
    ]),
  );
}

/** Counts of verdicts, for the closing line. */
export function tally(rows: readonly Row[]): { met: number; missed: number; na: number } {
  return {
    met: rows.filter((r) => r.verdict === 'met').length,
    missed: rows.filter((r) => r.verdict === 'MISSED').length,
    na: rows.filter((r) => r.verdict === 'n/a').length,
  };
}

/**
 * The JSON form of one group's members: one header and one row per member, times as ms after
 * `t0` (the group's earliest time), so a full run's results stay a few MB instead of tens.
 * `expandMembers` gives the objects back.
 */
export interface CompactMembers {
  t0: number | null;
  columns: string[];
  rows: (string | number | null)[][];
}
const TIME_KEYS = [
  'boundAt',
  'restoreDoneAt',
  'terminalAt',
  'stopSeenAt',
  'recordedAt',
  'anchorAt',
  'anchorGoneAt',
] as const;
export function compactMembers<M extends Record<string, unknown>>(members: readonly M[]): CompactMembers {
  const columns = [...new Set(members.flatMap((m) => Object.keys(m)))];
  const times = members.flatMap((m) => TIME_KEYS.map((k) => m[k]).filter((v): v is number => typeof v === 'number'));
  const t0 = times.length ? Math.min(...times) : null;
  const cell = (k: string, v: unknown): string | number | null => {
    if (v === undefined || v === null) return null;
    if (typeof v === 'number') return t0 !== null && (TIME_KEYS as readonly string[]).includes(k) ? v - t0 : v;
    return String(v);
  };
  return { t0, columns, rows: members.map((m) => columns.map((k) => cell(k, m[k]))) };
}
export function expandMembers(c: CompactMembers): Record<string, string | number | null>[] {
  return c.rows.map((r) =>
    Object.fromEntries(
      c.columns.map((k, i) => {
        const v = r[i] ?? null;
        return [
          k,
          typeof v === 'number' && c.t0 !== null && (TIME_KEYS as readonly string[]).includes(k) ? v + c.t0 : v,
        ];
      }),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Prometheus counters (figure 9: what restore-guard asked of the API server)
// ---------------------------------------------------------------------------------------------

/** Every sample of the named counters in a text exposition, keyed `name{labels as written}`. */
export function parseCounters(text: string, names: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+|NaN|[+-]Inf)$/.exec(line.trim());
    if (!m || !names.includes(m[1]!)) continue;
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

/** after − before for every sample (a sample absent before counts from 0). */
export function diffCounters(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

/** The labels of a `name{a="x",b="y"}` key. */
export function labelsOfKey(key: string): Record<string, string> {
  return Object.fromEntries([...key.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
}

/** Sums the samples of one counter by one label (samples of other counters are ignored). */
export function sumBy(samples: Map<string, number>, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of samples) {
    if (!k.startsWith(`${name}{`) && k !== name) continue;
    const l = labelsOfKey(k)[label] ?? '';
    out.set(l, (out.get(l) ?? 0) + v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// KubeBlocks' own restores (test/bench/kubeblocks.ts)
// ---------------------------------------------------------------------------------------------

/**
 * The backup set a KubeBlocks restore Job belongs to: its name is
 * `restore-preparedata-<restore uid, 8>-<backup>-<index>` (cut to 63 characters), so the set is the
 * first of `backups` that appears there as `-<backup>-`; '' when none does.
 */
export function backupSetOf(job: string | null | undefined, backups: readonly string[]): string {
  return backups.find((b) => job?.includes(`-${b}-`)) ?? '';
}

export interface PlacedPod {
  /** the replica it restores (KubeBlocks' apps.kubeblocks.io/pod-name) */
  member: string;
  /** its backup set (a point-in-time restore runs two onto the same PVCs) */
  set: string;
  node: string | null;
}

/**
 * Nodes on which two different members were restored in the same backup set (a retry of one member,
 * or the member's next set on its own node, is no violation). Sorted, each once.
 */
export function sharedNodes(pods: readonly PlacedPod[]): string[] {
  const seen = new Map<string, string>(); // set\0node → first member there
  const out = new Set<string>();
  for (const p of pods) {
    if (!p.node) continue;
    const k = `${p.set}\u0000${p.node}`;
    const m = seen.get(k);
    if (m === undefined) seen.set(k, p.member);
    else if (m !== p.member) out.add(p.node);
  }
  return [...out].sort();
}

/**
 * Seconds an object was held after `from` (a restore container's end): until `to` (its terminal
 * phase or deletion), else until `end` of the measurement; 0 when there is no `from`. `still`
 * tells that it was not released by then.
 */
export function heldAfter(from: number | null, to: number | null, end: number): { seconds: number; still: boolean } {
  if (from === null) return { seconds: 0, still: false };
  return { seconds: Math.max(0, (to ?? end) - from) / 1000, still: to === null };
}

/**
 * Members whose backup sets were restored on different nodes (a point-in-time restore's second set
 * belongs on the node of the first: the data of one replica split across nodes), counted over the
 * pods whose restore succeeded; members with a single set count as neither.
 */
export function setsApart(pods: readonly (PlacedPod & { ok: boolean })[]): { together: number; apart: number } {
  const nodes = new Map<string, Set<string>>();
  const sets = new Map<string, Set<string>>();
  for (const p of pods) {
    if (!p.ok || !p.node) continue;
    if (!nodes.has(p.member)) {
      nodes.set(p.member, new Set());
      sets.set(p.member, new Set());
    }
    nodes.get(p.member)!.add(p.node);
    sets.get(p.member)!.add(p.set);
  }
  let together = 0;
  let apart = 0;
  for (const [m, n] of nodes) {
    if ((sets.get(m)?.size ?? 0) < 2) continue;
    if (n.size > 1) apart++;
    else together++;
  }
  return { together, apart };
}

/** A group's workload figures (figure 8): waits per pod, or why the workload was not run. */
export interface WorkloadOf {
  workloadWaitMs: number[] | null;
  workloadSkipped?: string;
}

/**
 * Figure 8's detail table: per cell, the workload wait p50/p99 with restore-guard and with the
 * baseline arm, and the groups skipped in each. Pure.
 */
export function workloadWaitTable<A extends string>(
  cells: readonly { label: string; arms: Record<A, readonly WorkloadOf[]> }[],
  guard: A,
  base: A,
  baseName: string,
  skippedName = baseName,
): string {
  const w = (c: (typeof cells)[number], a: A) => summarize(c.arms[a].flatMap((x) => x.workloadWaitMs ?? []));
  const skipped = (c: (typeof cells)[number], a: A) => c.arms[a].filter((x) => x.workloadSkipped).length;
  return markdownTable(
    ['cell', 'guard p50', 'guard p99', `${baseName} p50`, `${baseName} p99`, `groups skipped (guard / ${skippedName})`],
    cells.map((c) => [
      c.label,
      fmtMs(w(c, guard).p50),
      fmtMs(w(c, guard).p99),
      fmtMs(w(c, base).p50),
      fmtMs(w(c, base).p99),
      `${skipped(c, guard)} / ${skipped(c, base)}`,
    ]),
  );
}
