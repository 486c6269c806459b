/**
 * Are "restore pods with no outcome record" in the benchmark (figure 4) lost records, or records
 * the bench read too early? Runs guard-arm groups as the full benchmark does (KubeBlocks sidecar
 * pods, the operator emulator on, restore-guard as the shipped bundle in its own process) and, for
 * every member, reads the record from the bench's watch twice: where runGroup reads it (the moment
 * the group's last Job is Complete or Failed) and again after the run (every record restore-guard
 * ever wrote on the pod, its Job's history).
 *
 *   npx node test/bench/late-records.ts [groups per cell, default 100] [in flight, default 5] [cells, e.g. 0 or 0,1]
 *
 * Prints one JSON line per cell and one in all: members, null when runGroup read, recorded later
 * (pod label after the read), on the Job's history, and never recorded anywhere.
 *
 * On 2026-12-01 (17:15 UTC, load average 15-20 from three other rigs), with runGroup reading the
 * record when the last Job finished: of 300 members of the 3-node sequential 50 ms cell, 247 had
 * no record at that moment, 202 of them got it later (pod label and Job history; under that load
 * labeling lagged 10-100 s), and 45 (the last groups) were still in labeling's backlog when the
 * tool looked, 10 s after the last group. runGroup now reads records after its anchor wait and a
 * bounded wait for them: "recorded later" must be 0, and what runGroup reports missing is missing.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ensureRig, NODE_NAMES } from '../rig/index.ts';
import { L, podNodeOptions, startChain } from '../support/chain.ts';
import { byName, podOf, runGroups, type GroupSpec } from './groups.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const perCell = Number(process.argv[2] ?? 100);
// groups in flight at once (the full benchmark's 5 unless told)
const concurrency = Number(process.argv[3] ?? 5);
// which cells (comma-separated indexes; default both)
const only = process.argv[4]?.split(',').map(Number);
/**
 * The resync ping's period here. Deployed, PingSource sends it every 5 minutes (eventing/); a run
 * of hundreds of groups packs hours of restores into minutes, and a group whose completion release
 * did not see at its last event (its anchors then live on, re-made when their lease ends) waits for
 * the next resync: without pings, such anchors piled up to the KWOK nodes' 110-pod limit after
 * ~250 groups and every later group waited out its cap (2026-12-01, 840 groups per cell).
 */
const PING_MS = 30_000;
const built = spawnSync(process.execPath, ['esbuild.config.ts'], { cwd: ROOT, encoding: 'utf8' });
if (built.status !== 0) throw new Error(`build failed: ${built.stderr || built.stdout}`);
await ensureRig();
// the cells of the 11-29 full run that had a pod without a record
const cells = [
  { nodes: 3, sequential: true, durations: [50, 50, 50] },
  { nodes: 4, sequential: false, durations: [500, 500, 500] },
];
const total = { members: 0, nullAtRead: 0, recordedLater: 0, onJobHistory: 0, never: 0 };
for (const [ci, cell] of cells.entries()) {
  if (only && !only.includes(ci)) continue;
  const chain = await startChain({
    mode: 'guard',
    logLevel: 'warn',
    isolated: true,
    // the pod's heap ceiling (func.yaml), as the chaos replicas run: the process is the shipped
    // bundle as its pod runs it (and its memory can be watched from outside: /proc, /metrics)
    env: podNodeOptions(),
    namespace: `late-${ci}-${Date.now().toString(36)}`,
  });
  try {
    const specs: GroupSpec[] = Array.from({ length: perCell }, () => ({
      arm: 'guard',
      nodes: NODE_NAMES.slice(0, cell.nodes),
      sequential: cell.sequential,
      durations: cell.durations,
      emulator: true,
      capMs: 60_000,
      workload: false,
      tag: `l${ci}-`,
    }));
    const started = Date.now();
    // progress on stderr (a 5,000-pod run takes an hour): one line every 50 groups
    let stop = false;
    const pings = (async () => {
      for (let i = 0; !stop && i < 10_000; i++) {
        await new Promise((r) => setTimeout(r, PING_MS));
        if (!stop)
          await Promise.race([chain.ping().catch(() => undefined), new Promise((r) => setTimeout(r, PING_MS))]);
      }
    })();
    const results = await runGroups(chain, specs, concurrency, (done) => {
      if (done % 50 === 0 || done === perCell)
        process.stderr.write(
          `${JSON.stringify({ at: new Date().toISOString(), cell: ci, groupsDone: done, of: perCell, s: Math.round((Date.now() - started) / 1000) })}\n`,
        );
    });
    // what runGroup read, and what the watch holds once everything has had 10 s to land
    await new Promise((r) => setTimeout(r, 10_000));
    stop = true;
    await Promise.race([pings, new Promise((r) => setTimeout(r, 2 * PING_MS))]);
    const c = {
      cell,
      members: 0,
      nullAtRead: 0,
      recordedLater: 0,
      onJobHistory: 0,
      never: 0,
      examples: [] as string[],
    };
    for (const g of results) {
      for (const m of g.members) {
        c.members++;
        if (m.recordedAt !== null) continue;
        c.nullAtRead++;
        const h = podOf(chain.observer, m.job);
        const later = h?.find((x) => ['succeeded', 'failed'].includes(x.obj.metadata.labels?.[L.state]));
        const job = byName(chain.observer, 'Job', m.job);
        const uid = h?.[0]?.obj.metadata.uid as string | undefined;
        const onJob =
          !!uid && !!job?.some((x) => (x.obj.metadata.annotations?.['restoreguard.dev/history'] ?? '').includes(uid));
        if (later) c.recordedLater++;
        if (onJob) c.onJobHistory++;
        if (!later && !onJob) c.never++;
        const jobEnd = job?.find((x) =>
          (x.obj.status?.conditions ?? []).some(
            (q: any) => ['Complete', 'Failed'].includes(q.type) && q.status === 'True',
          ),
        )?.at;
        const rel = (t: number | null | undefined) =>
          t == null || m.terminalAt === null ? 'never' : `${t - m.terminalAt} ms`;
        c.examples.push(
          `${m.pod} (${g.members.every((x) => (x.terminalAt ?? 0) <= (m.terminalAt ?? 0)) ? 'the last member to end' : 'not the last'}): ` +
            `after the pod ended: its Job finished ${rel(jobEnd)}, the record on the pod seen ${rel(later?.at)}`,
        );
      }
    }
    for (const k of ['members', 'nullAtRead', 'recordedLater', 'onJobHistory', 'never'] as const) total[k] += c[k];
    process.stdout.write(`${JSON.stringify(c)}\n`);
  } finally {
    await chain.teardown().catch(() => undefined);
  }
}
process.stdout.write(`${JSON.stringify({ total })}\n`);
process.exit(0);
