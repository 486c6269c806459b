/**
 * The opt-in placement gate through the routes (completion → labeling), on the in-memory cluster:
 * one gated pod of a group goes at a time, the next only once the one before is anchored; resync lifts
 * a gate the events missed; the write guard lets a patch take away our gate and nothing else.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KubeObject, Pod } from '../../functions/core/kube/objects.ts';
import { EventType } from '../../functions/core/restore/events.ts';
import { apiEvent, harness, restoreEvent } from '../support/harness.ts';
import { pvc, restoreJob, restorePod } from '../support/objects.ts';

const GATE = 'restoreguard.dev/placement';

function group(h: ReturnType<typeof harness>) {
  const jobs = ['r-0', 'r-1', 'r-2'].map((name, i) =>
    restoreJob({ name, profile: 'generic', group: 'pg', gates: [GATE], claims: [`data-${i}`] }),
  );
  const pods = jobs.map((j, i) =>
    restorePod({
      name: `${j.metadata.name}-x`,
      job: j.metadata.name,
      profile: 'generic',
      group: 'pg',
      node: null,
      restore: 'waiting',
      phase: 'Pending',
      gates: [GATE],
      claims: [`data-${i}`],
      creationTimestamp: `2026-11-29T10:00:0${i}Z`,
    }),
  );
  return { jobs, pods, seed: () => h.seed(...jobs, ...pods, ...pods.map((_, i) => pvc(`data-${i}`))) };
}

const live = async (h: ReturnType<typeof harness>, name: string) => (await h.cluster.get('Pod', 'db', name)) as Pod;
const gatedNow = async (h: ReturnType<typeof harness>, pods: Pod[]) =>
  (await Promise.all(pods.map((p) => live(h, p.metadata.name))))
    .filter((p) => (p.spec.schedulingGates ?? []).some((g) => g.name === GATE))
    .map((p) => p.metadata.name);

async function chain(h: ReturnType<typeof harness>, obj: KubeObject) {
  const c = await h.post('/completion', apiEvent(obj));
  assert.is(c.status, 200, c.text);
  const l = await h.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!));
  return { type: c.reply!.type, labeling: l };
}

/** The scheduler's part: bind a pod that is no longer gated to a node. */
async function bind(h: ReturnType<typeof harness>, name: string, node: string) {
  const p = await live(h, name);
  assert.equal(p.spec.schedulingGates ?? [], [], `${name} is let go before it is bound`);
  await h.cluster.patch('Pod', 'db', name, { spec: { nodeName: node }, status: { phase: 'Pending' } });
  return live(h, name);
}

test('one at a time: the oldest goes; the next only once the one before is anchored', async () => {
  const h = harness();
  const g = group(h);
  await g.seed();
  // the youngest pod's gated event: the oldest goes first
  const r = await chain(h, g.pods[2]!);
  assert.is(r.type, EventType.gated);
  assert.is(r.labeling.status, 202);
  assert.equal(await gatedNow(h, g.pods), ['r-1-x', 'r-2-x']);
  // repeated gated events change nothing while r-0 is let go but not anchored
  await chain(h, g.pods[1]!);
  await chain(h, g.pods[2]!);
  assert.equal(await gatedNow(h, g.pods), ['r-1-x', 'r-2-x']);
  // r-0 is bound and placed: its anchor, then r-1 goes
  const p0 = await bind(h, 'r-0-x', 'node-1');
  const placed = await chain(h, p0);
  assert.is(placed.type, EventType.placed);
  assert.ok(await h.cluster.get('Pod', 'db', 'r-0-x-anchor'), 'r-0 anchored');
  assert.equal(await gatedNow(h, g.pods), ['r-2-x']);
  // r-1 ends before anything else happened (an instant restore): recorded and anchored, then r-2 goes
  await bind(h, 'r-1-x', 'node-2');
  await h.cluster.patch('Pod', 'db', 'r-1-x', {
    status: {
      phase: 'Succeeded',
      containerStatuses: [
        {
          name: 'main',
          state: { terminated: { exitCode: 0, startedAt: '2026-11-29T10:00:05Z', finishedAt: '2026-11-29T10:00:05Z' } },
        },
      ],
    },
  });
  const done = await chain(h, await live(h, 'r-1-x'));
  assert.is(done.type, EventType.succeeded);
  assert.ok(await h.cluster.get('Pod', 'db', 'r-1-x-anchor'), 'r-1 anchored at its record');
  assert.equal(await gatedNow(h, g.pods), []);
});

test('resync lifts a gate whose events were missed', async () => {
  const h = harness();
  const g = group(h);
  await g.seed();
  const r = await h.post('/resync', restoreEvent(EventType.ping, {}));
  assert.is(r.status, 202, r.text);
  assert.equal(await gatedNow(h, g.pods), ['r-1-x', 'r-2-x']);
  const again = await h.post('/resync', restoreEvent(EventType.ping, {}));
  assert.is(again.status, 202);
  assert.equal(await gatedNow(h, g.pods), ['r-1-x', 'r-2-x'], 'r-0 is not bound yet: the next waits');
});

test('the write guard lets a patch take away our gate, and nothing else of the gates', async () => {
  const h = harness();
  const pod = restorePod({
    name: 'x',
    profile: 'generic',
    group: 'pg',
    node: null,
    phase: 'Pending',
    gates: [GATE, 'example.com/other'],
  });
  await h.seed(pod);
  const guard = await h.server.deps.cluster();
  const refusedWith = async (gates: unknown, why: RegExp) => {
    try {
      await guard.patch('Pod', 'db', 'x', { spec: { schedulingGates: gates } });
      assert.unreachable('refused');
    } catch (e) {
      assert.match((e as Error).message, why);
    }
  };
  await refusedWith(null, /may only lose/);
  await refusedWith([{ name: GATE }, { name: 'example.com/other' }, { name: 'example.com/new' }], /may only lose/);
  await guard.patch('Pod', 'db', 'x', { spec: { schedulingGates: [{ name: 'example.com/other' }] } });
  assert.equal((await live(h, 'x')).spec.schedulingGates, [{ name: 'example.com/other' }]);
  await refusedWith(null, /no placement gate of ours/);
});

test.run();
