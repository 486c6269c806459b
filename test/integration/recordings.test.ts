/**
 * The genuine recordings (test/fixtures/recordings/rig-*: what Knative's ApiServerSource adapter
 * sent on the rig, curated by test/integration/curate-recordings.ts) replay offline, with no
 * cluster, to the end state the integration tests saw live.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join, resolve } from 'node:path';
import { replay } from '../../cli/replay/run.ts';
import { readInputs } from '../../cli/replay/inputs.ts';
import { CURATED } from './curate-recordings.ts';
import type { Report, GroupState } from '../../cli/replay/report.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const REC = join(ROOT, 'test', 'fixtures', 'recordings');
const EVENTING = join(ROOT, 'eventing');

async function run(name: string, env: Record<string, string> = {}): Promise<{ r: Report; g: GroupState }> {
  const r = await replay({ paths: [join(REC, name)], mode: 'offline', eventingDir: EVENTING, env, cwd: ROOT });
  assert.is(r.errors, 0, `${name}: no error answers`);
  assert.equal(r.problems, [], `${name}: every capture readable`);
  assert.is(r.state?.groups.length, 1, `${name}: one group`);
  return { r, g: r.state!.groups[0]! };
}

test('every rig recording is a set of raw captures of the real adapter (ingress path, adapter attributes)', () => {
  for (const name of Object.keys(CURATED)) {
    const r = readInputs([join(REC, name)], { failFast: false });
    assert.equal(r.problems, [], name);
    assert.ok(r.items.length >= 10, `${name}: ${r.items.length} captures`);
    for (const it of r.items) {
      assert.ok(it.kind === 'event', name);
      if (it.kind !== 'event') continue;
      assert.is(it.path, '/', 'delivered to the local broker ingress');
      assert.match(it.event.type, /^dev\.knative\.apiserver\.resource\.(add|update|delete)$/);
      assert.match(it.event.source, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(it.event.subject ?? '', /^\/apis\/(batch\/)?v1\/namespaces\/rig-guard-[0-9a-f]+\/(pods|jobs)\//);
    }
  }
});

test('rig-anti-affinity-sequential: three replicas one after another, each anchored before the next is placed, on three nodes', async () => {
  const { g } = await run('rig-anti-affinity-sequential');
  assert.is(g.pods.length, 3);
  assert.is(new Set(g.pods.map((p) => p.node)).size, 3);
  assert.is(g.anchors.length, 3);
  const pods = [...g.pods].sort((a, b) => a.placedAt! - b.placedAt!);
  for (const [i, p] of pods.entries()) {
    const a = g.anchors.find((x) => x.for === p.name)!;
    assert.is(a.node, p.node);
    const next = pods[i + 1];
    if (next) assert.ok(a.createdAt! < next.placedAt!, `anchor of ${p.name} before ${next.name} is placed`);
  }
  assert.equal(
    g.anchors.filter((a) => a.present),
    [],
    'anchors released',
  );
  assert.ok(g.jobs.every((j) => j.state === 'succeeded'));
});

test('rig-kubeblocks-sidecar: restore-guard stops each pod as its restore ends; the group finishes, anchors released', async () => {
  const { g } = await run('rig-kubeblocks-sidecar');
  assert.is(g.profile, 'kubeblocks');
  assert.is(g.pods.length, 3);
  for (const p of g.pods) {
    assert.ok(p.stopAt !== null, `${p.name} stopped`);
    assert.is(p.outcome, 'succeeded');
  }
  const ends = g.pods.map((p) => p.restoreDoneAt!).sort((a, b) => a - b);
  const firstStop = Math.min(...g.pods.map((p) => p.stopAt!));
  assert.ok(firstStop < ends[2]!, 'the first pod is stopped before the slowest restore ends');
  assert.equal(
    g.anchors.filter((a) => a.present),
    [],
  );
  assert.ok(g.jobs.every((j) => j.state === 'succeeded'));
});

test('rig-evicted-retried: the evicted restore is retried once, elsewhere, and succeeds', async () => {
  const { g } = await run('rig-evicted-retried');
  const evicted = g.failures.find((f) => f.reason === 'Evicted');
  assert.ok(evicted?.retryable, 'Evicted, retryable');
  assert.is(g.retries.length, 1);
  assert.is(g.retries[0]!.of, 'evicted-0');
  assert.is(g.retries[0]!.attempt, 2);
  assert.ok(g.retries[0]!.avoid.includes(evicted!.node!), 'avoids the node it was evicted on');
  const retried = g.pods.find((p) => p.job === 'evicted-0-retry-1');
  assert.ok(retried && retried.node !== evicted!.node, 'the replacement ran elsewhere');
  assert.is(g.jobs.find((j) => j.name === 'evicted-0')?.state, 'retried');
  assert.is(g.jobs.find((j) => j.name === 'evicted-0-retry-1')?.state, 'succeeded');
  assert.equal(
    g.anchors.filter((a) => a.present),
    [],
  );
});

test('rig-not-retryable: exit code 127 is recorded and not retried', async () => {
  const { g } = await run('rig-not-retryable');
  assert.equal(g.retries, []);
  const job = g.jobs.find((j) => j.name === 'notfound-0')!;
  assert.is(job.state, 'failed');
  assert.is(job.outcome?.state, 'failed');
  assert.ok(
    g.failures.every((f) => !f.retryable),
    'no failure judged retryable',
  );
});

test('rig-attempt-bound: with RG_RETRY_MAX_ATTEMPTS=2 (as recorded), one retry, then exhausted', async () => {
  const { g } = await run('rig-attempt-bound', { RG_RETRY_MAX_ATTEMPTS: '2' });
  assert.equal(
    g.retries.map((x) => `${x.job} attempt ${x.attempt}`),
    ['flaky-0-retry-1 attempt 2'],
  );
  assert.is(g.jobs.find((j) => j.name === 'flaky-0-retry-1')?.state, 'exhausted');
  assert.equal(
    g.anchors.filter((a) => a.present),
    [],
  );
});

test('rig-release-workload: records on every PVC, finished pods deleted, anchors released', async () => {
  const { g } = await run('rig-release-workload');
  assert.equal(g.pvcs.map((p) => `${p.name}:${p.outcome?.state}`).sort(), [
    'data-pg-restore-0:succeeded',
    'data-pg-restore-1:succeeded',
    'data-pg-restore-2:succeeded',
  ]);
  assert.ok(
    g.pods.every((p) => !p.present),
    'restore pods deleted',
  );
  assert.equal(
    g.anchors.filter((a) => a.present),
    [],
  );
});

test.run();
