// The opt-in placement gate on the rig's real kube-scheduler: generic groups whose restores end at
// once (0 ms), their Jobs created one after another a little apart, each group confined to as many
// nodes as it has members under required anti-affinity. Plain Jobs: the scheduler no longer sees a
// finished restore, so members share nodes. With restore-guard and the gate: every member waits
// until the one before is anchored, so each group keeps to distinct nodes; then the group completes
// and its anchors go.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { L, condition, placement, startChain, waitFor, type Chain, type RestoreGroup } from '../support/chain.ts';

let plain: Chain;
let guard: Chain;
const NODES = ['rig-node-1', 'rig-node-2', 'rig-node-3'];
const GROUPS = 3;

function nodesOf(c: Chain, g: RestoreGroup): string[] {
  return c.observer
    .groupPods(g.name)
    .map((h) => placement(h)?.node)
    .filter((n): n is string => !!n);
}

async function complete(c: Chain, g: RestoreGroup): Promise<void> {
  await waitFor(`jobs of ${g.name} Complete`, async () => {
    const done = (await c.jobs()).filter((j) => g.jobNames.includes(j.metadata.name) && condition(j, 'Complete'));
    return done.length === g.replicas;
  });
}

test.before(async () => {
  [plain, guard] = await Promise.all([startChain({ mode: 'plain' }), startChain({ mode: 'guard' })]);
});

test.after(async () => {
  await Promise.all([plain?.teardown(), guard?.teardown()]);
});

test('baseline (plain Jobs, the gate unlifted by anyone): instant restores share nodes', async () => {
  // Plain Jobs cannot use the gate (nothing would lift it): the same groups without it.
  let shared = 0;
  for (let i = 0; i < GROUPS; i++) {
    const g = await plain.createRestoreGroup({ replicas: 3, runMs: 0, nodes: NODES, staggerMs: 150 });
    await complete(plain, g);
    const nodes = nodesOf(plain, g);
    if (new Set(nodes).size < nodes.length) shared++;
  }
  console.log(`  plain: ${shared} of ${GROUPS} groups had two members on one node`);
});

test('restore-guard with the gate: every group on distinct nodes, then its anchors go', async () => {
  for (let i = 0; i < GROUPS; i++) {
    const g = await guard.createRestoreGroup({ replicas: 3, runMs: 0, nodes: NODES, staggerMs: 150, gate: true });
    await complete(guard, g);
    const nodes = nodesOf(guard, g);
    assert.is(nodes.length, 3, `${g.name}: every member placed`);
    assert.is(new Set(nodes).size, 3, `${g.name}: members on distinct nodes (${nodes.join(', ')})`);
    await waitFor(
      `anchors of ${g.name} gone`,
      async () => (await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length === 0,
    );
  }
});

test.run();
