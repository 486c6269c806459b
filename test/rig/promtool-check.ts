/**
 * eventing/monitoring/prometheusrule.yaml through Prometheus' own promtool: `check rules` (syntax,
 * PromQL, templates) and `test rules` with test/fixtures/monitoring/rules.test.yaml (the alerts fire
 * and resolve as README, Operations, says). Run by hand: `npx node test/rig/promtool-check.ts`.
 *
 * Not part of `npm test`: promtool is built from the Go module proxy (`test/rig/build.sh promtool`,
 * an optional family) and its build compiles Prometheus' whole service discovery (Kubernetes client,
 * AWS, Azure, GCP SDKs...): 14.5 CPU-minutes, which took 89 minutes of wall time on the shared
 * 2-core machine, about CI's whole budget. The metric names and the PromQL syntax of the rules are checked in
 * `npm test` by test/unit/monitoring.test.ts (Prometheus' own PromQL grammar).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { binPath } from './paths.ts';
import { build } from './rig.ts';

const ROOT = resolve(import.meta.dirname, '../..');

const pr = parse(readFileSync(join(ROOT, 'eventing/monitoring/prometheusrule.yaml'), 'utf8')) as {
  spec: { groups: unknown[] };
};
const dir = mkdtempSync(join(tmpdir(), 'rg-promtool-'));
const rules = join(dir, 'rules.yaml');
writeFileSync(rules, stringify({ groups: pr.spec.groups }));
const tests = join(dir, 'rules.test.yaml');
copyFileSync(join(ROOT, 'test/fixtures/monitoring/rules.test.yaml'), tests);

const bin = binPath('promtool');
if (!existsSync(bin)) build(['promtool']);
let failed = 0;
for (const args of [
  ['check', 'rules', rules],
  ['test', 'rules', tests],
]) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 120_000 });
  console.log(`$ promtool ${args.join(' ')}\n${r.stdout}${r.stderr}`);
  if (r.status !== 0) failed++;
}
rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
