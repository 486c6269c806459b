/** The chaos suite's table: faults by kind, the workload, each invariant with its count, convergence, dead letters. */
import { fmtMs, fmtNum, markdownTable, percentile } from '../bench/table.ts';
import type { Break, ChaosResult } from './suite.ts';

/** Which invariant each break must make fail (by the start of its name). */
export const BREAK_TARGET: Record<Break, string> = {
  colocate: 'two members of a group on one node',
  'lose-record': 'finished restore pods without their records',
  'write-other': 'writes by restore-guard to non-restore objects',
  'leak-anchor': 'anchors alive more than one resync period',
  'double-retry': 'retries beyond the attempts',
  stall: 'groups not completed',
  'leak-memory': 'replica memory unbounded',
};

export function chaosTable(r: ChaosResult): string {
  const conv = r.report.convergenceMs;
  const rows: string[][] = [];
  for (const [kind, n] of Object.entries(r.faults)) rows.push(['fault injected', kind, fmtNum(n)]);
  rows.push([
    'workload',
    'restore groups (both profiles, parallel and sequential, instant and slow)',
    fmtNum(r.report.groups),
  ]);
  rows.push(['workload', 'restore pods', fmtNum(r.report.restorePods)]);
  rows.push(['workload', 'anchors made', fmtNum(r.report.anchors)]);
  for (const inv of r.report.invariants)
    rows.push(['invariant', inv.name, inv.count === 0 ? '0' : `**${fmtNum(inv.count)}**`]);
  rows.push([
    'convergence',
    'last fault → group settled (complete, anchors gone): p50 / max',
    conv.length ? `${fmtMs(percentile(conv, 50))} / ${fmtMs(Math.max(...conv))}` : '—',
  ]);
  rows.push(['delivery', 'events into the front (adapter, pings, replies)', fmtNum(r.front.received)]);
  rows.push(['delivery', 'deliveries to replicas (with retries and duplicates)', fmtNum(r.front.deliveries)]);
  rows.push([
    'delivery',
    'dead-lettered (after the Trigger’s last retry)',
    `${fmtNum(r.front.deadLettered)}${
      r.front.deadLettered
        ? ` (${Object.entries(r.front.deadLetteredByType)
            .map(([t, n]) => `${t.replace('dev.restoreguard.', '').replace('dev.knative.', '')} ${n}`)
            .join(', ')})`
        : ''
    }`,
  ]);
  rows.push([
    'API',
    'requests through the fault proxy / refused by it (never reached the server)',
    `${fmtNum(r.proxy.requests)} / ${fmtNum(r.proxy.refused)}`,
  ]);
  const m = r.memory;
  rows.push([
    'memory',
    `RSS of the never-killed replica, start → highest → end (pod limit ${fmtNum(m.limitMb)} MB)`,
    m.rss ? `${fmtNum(m.rss.startMb)} → ${fmtNum(m.rss.peakMb)} → ${fmtNum(m.rss.endMb)} MB` : '—',
  ]);
  rows.push([
    'memory',
    'its live heap after a full GC, a third into the faults → end',
    m.heap.startMb === null || m.heap.endMb === null
      ? '—'
      : `${fmtNum(m.heap.startMb, 1)} → ${fmtNum(m.heap.endMb, 1)} MB`,
  ]);
  rows.push([
    'info',
    'groups whose members used one node one after the other (not at once)',
    fmtNum(r.report.sequentialReuse),
  ]);
  rows.push([
    'info',
    'anchors made again for a pod after its earlier anchor was deleted (a late event)',
    fmtNum(r.report.lateAnchors),
  ]);
  rows.push([
    'info',
    'anchors that ended (lease ran out) and were not deleted by the end (they hold nothing)',
    fmtNum(r.report.endedAnchorsLeft),
  ]);
  rows.push([
    'info',
    'longest an anchor outlived its completed group while faults were on',
    fmtMs(r.report.maxOverstayDuringFaultsMs),
  ]);
  const examples = r.report.invariants
    .filter((i) => i.count > 0)
    .map((i) => `- ${i.name}:\n${i.examples.map((e) => `  - ${e}`).join('\n')}`)
    .join('\n');
  return [
    markdownTable(['what', 'kind', 'count'], rows),
    '',
    `Times: set-up ${fmtMs(r.timings.setupMs)}, faults ${fmtMs(r.timings.faultMs)}, convergence ${fmtMs(r.timings.convergeMs)}, in all ${fmtMs(r.timings.totalMs)}.`,
    ...(examples ? ['', 'Violations (first ten of each):', '', examples] : []),
  ].join('\n');
}

/** With --break: did every broken property's invariant report at least one violation? */
export function brokenAsExpected(r: ChaosResult): { ok: boolean; why: string } {
  const parts = r.breaks.map((b) => {
    const inv = r.report.invariants.find((i) => i.name.startsWith(BREAK_TARGET[b]));
    return { b, n: inv?.count ?? 0 };
  });
  return { ok: parts.every((x) => x.n > 0), why: parts.map((x) => `${x.b} → ${x.n}`).join(', ') };
}
