/**
 * `npm run chaos` — restore-guard under faults (test/chaos/suite.ts), one markdown table on stdout
 * and in test/bench/results/<UTC date>-chaos-<mode>.md (+ .json).
 *
 *   npm run chaos                      short mode (what `npm test` runs; a few minutes)
 *   npm run chaos -- --full            ≥ 200 groups, every fault kind, a kube-apiserver restart
 *   npm run chaos -- --break=stall     break a property on purpose (see BREAKS): its invariant must fail
 *   npm run chaos -- --seed=7 --groups=40 --no-write
 *
 * Exit status 0 when every invariant is at 0 (with --break: when every broken one is not).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureRig } from '../rig/index.ts';
import { machineFacts, factsMarkdown } from '../bench/facts.ts';
import { BREAKS, FULL, SHORT, runChaos, type Break, type ChaosParams } from './suite.ts';
import { chaosTable, brokenAsExpected } from './table.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const args = process.argv.slice(2);
const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const base = args.includes('--full') ? FULL : SHORT;
const breaks = (arg('break') ?? process.env.CHAOS_BREAK ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean) as Break[];
for (const b of breaks)
  if (!BREAKS.includes(b)) {
    console.error(`unknown --break=${b}: one of ${BREAKS.join(', ')}`);
    process.exit(2);
  }
const params: ChaosParams = {
  ...base,
  ...(arg('seed') ? { seed: Number(arg('seed')) } : {}),
  ...(arg('groups') ? { groups: Number(arg('groups')) } : {}),
  breaks,
};
const write = !args.includes('--no-write') && breaks.length === 0;
const command = `npm run chaos${args.length ? ` -- ${args.join(' ')}` : ''}`;
const facts = machineFacts(command);
const t0 = Date.now();
const progress = (s: string) =>
  process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);

progress(
  `${params.mode} mode: ${params.groups} groups, ${params.replicas} replicas, ${params.nodes} nodes${breaks.length ? `, breaking ${breaks.join(', ')} on purpose` : ''}`,
);
// Stopped from outside: exit, so the exit hooks kill the replicas and the adapter this run started
// (its namespace stays; `npm run rig:down` or the next rig start clears it).
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    progress(`${sig}: stopping (the run's namespace is left as it is)`);
    process.exit(130);
  });
const rig = await ensureRig();
facts.kube = (await rig.kube.get('/version')).gitVersion;
const result = await runChaos(params, progress);
const table = chaosTable(result);
const md = [
  `# restore-guard under faults (${params.mode})`,
  '',
  `${factsMarkdown(facts)}\n- took ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  '',
  table,
  '',
].join('\n');
process.stdout.write(`${md}\n`);
if (write) {
  const dir = path.join(ROOT, 'test', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stem = path.join(dir, `${facts.date.slice(0, 10)}-chaos-${params.mode}`);
  writeFileSync(`${stem}.md`, md);
  writeFileSync(`${stem}.json`, `${JSON.stringify({ facts, result }, null, 2)}\n`);
  progress(`results in ${path.relative(ROOT, stem)}.md and .json`);
}
const failing = result.report.invariants.filter((i) => i.count > 0);
if (breaks.length) {
  const { ok, why } = brokenAsExpected(result);
  progress(ok ? `every broken property was reported: ${why}` : `NOT reported: ${why}`);
  process.exit(ok ? 0 : 1);
}
if (failing.length) {
  progress(`${failing.length} invariant(s) violated: ${failing.map((i) => i.name).join('; ')}`);
  process.exit(1);
}
progress('every invariant at 0');
process.exit(0);
