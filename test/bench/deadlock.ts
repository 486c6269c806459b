/**
 * Figure 7, deadlock: restore groups whose stop signal never comes (the operator misses its
 * reconcile: KubeBlocks issues 9778, 10208, 10476, ...). The operator emulator is off; a group
 * counts as completed when every Job is Complete within the cap. Sidecar arm vs restore-guard,
 * same sidecar pods. The stuck groups are deleted afterwards so they hold nothing.
 */
import type { Chain } from '../support/chain.ts';
import { NODE_NAMES } from '../rig/index.ts';
import { runGroups, type GroupResult } from './groups.ts';
import { atLeast, fmtMs, fmtPct, share, summarize, type Row } from './table.ts';

export interface DeadlockResult {
  capMs: number;
  sidecar: GroupResult[];
  guard: GroupResult[];
}

export async function runDeadlock(
  chains: { sidecar: Chain; guard: Chain },
  groups: number,
  capMs: number,
  progress: (s: string) => void,
): Promise<DeadlockResult> {
  const out = { capMs } as DeadlockResult;
  for (const arm of ['sidecar', 'guard'] as const) {
    const t0 = Date.now();
    const specs = Array.from({ length: groups }, () => ({
      arm,
      nodes: [...NODE_NAMES],
      sequential: false,
      durations: [500, 500, 500],
      emulator: false,
      capMs,
      workload: false,
      tag: `d${arm[0]}-`,
    }));
    out[arm] = await runGroups(chains[arm], specs, groups);
    progress(
      `fig 7  ${arm.padEnd(7)} ${groups} groups, no stop signal, cap ${fmtMs(capMs)}: ${out[arm].filter((g) => g.completed).length} completed in ${fmtMs(Date.now() - t0)}`,
    );
    // Free what the stuck groups hold before the next figure.
    for (const g of out[arm]) {
      for (const m of g.members) {
        await chains[arm].kube
          .call('DELETE', `/apis/batch/v1/namespaces/${chains[arm].ns}/jobs/${m.job}?propagationPolicy=Background`)
          .catch(() => undefined);
      }
    }
  }
  return out;
}

export function figure7(r: DeadlockResult): Row[] {
  const done = (gs: GroupResult[]) => share(gs.filter((g) => g.completed).length, gs.length);
  const t = summarize(r.guard.filter((g) => g.completed).map((g) => g.durationMs ?? NaN));
  return [
    {
      figure: '7',
      title: 'deadlock: stop signal never sent, groups completed',
      cell: `${r.guard.length} groups per arm, cap ${fmtMs(r.capMs)}`,
      value: `${fmtPct(done(r.guard))} (p50 ${fmtMs(t.p50)})`,
      baseline: `sidecar ${fmtPct(done(r.sidecar))}`,
      ratio: '—',
      target: '100%',
      verdict: atLeast(done(r.guard), 1),
    },
  ];
}
