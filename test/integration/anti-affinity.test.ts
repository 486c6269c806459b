// A fast sequential restore group with required pod anti-affinity on kubernetes.io/hostname, on the
// rig's real kube-scheduler. The baseline is made certain by the pigeonhole principle: 3 replicas
// restricted to 2 nodes, one after another, each finishing at once. Plain Jobs: the scheduler does
// not count finished pods, so two replicas land on one node. With restore-guard: the anchors hold
// the footprint, so the third replica waits Pending (unschedulable), never misplaced.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  L,
  condition,
  last,
  placement,
  recordingDir,
  startChain,
  waitFor,
  type Chain,
  type RestoreGroup,
} from '../support/chain.ts';

let plain: Chain;
let guard: Chain;
const TWO = ['rig-node-1', 'rig-node-2'];
const THREE = ['rig-node-1', 'rig-node-2', 'rig-node-3'];

async function jobsComplete(c: Chain, g: RestoreGroup, n = g.replicas): Promise<void> {
  await waitFor(`${n} jobs of ${g.name} Complete`, async () => {
    const done = (await c.jobs()).filter((j) => g.jobNames.includes(j.metadata.name) && condition(j, 'Complete'));
    return done.length >= n;
  });
}

function nodesOf(c: Chain, g: RestoreGroup): string[] {
  return c.observer
    .groupPods(g.name)
    .map((h) => placement(h)?.node)
    .filter((n): n is string => !!n);
}

test.before(async () => {
  [plain, guard] = await Promise.all([
    startChain({ mode: 'plain' }),
    startChain({ mode: 'guard', recordDir: recordingDir('anti-affinity') }),
  ]);
  console.log(`  rig ready in ${guard.timings.rigMs} ms, chain ready in ${guard.timings.chainMs} ms`);
});

test.after(async () => {
  await Promise.all([plain?.teardown(), guard?.teardown()]);
});

test('baseline (plain Jobs): 3 sequential replicas on 2 nodes, two of them on one node', async () => {
  const g = await plain.createRestoreGroup({
    name: 'seq-two-nodes',
    replicas: 3,
    runMs: 0,
    sequential: true,
    nodes: TWO,
  });
  await g.allCreated;
  await jobsComplete(plain, g);
  const nodes = nodesOf(plain, g);
  assert.is(nodes.length, 3, 'every replica was placed');
  assert.ok(new Set(nodes).size < nodes.length, `anti-affinity violated in the baseline (nodes ${nodes.join(', ')})`);
  console.log(`  baseline placements: ${nodes.join(', ')}`);
});

test('restore-guard: 3 sequential replicas on 2 nodes, the third waits unschedulable, never misplaced', async () => {
  const g = await guard.createRestoreGroup({
    name: 'seq-two-nodes',
    replicas: 3,
    runMs: 0,
    sequential: true,
    nodes: TWO,
  });
  await jobsComplete(guard, g, 2);
  await g.allCreated;
  const third = await waitFor('third replica unschedulable', async () => {
    const h = guard.observer.groupPods(g.name).find((x) => x[0]!.obj.metadata.labels?.['job-name'] === g.jobNames[2]);
    const p = h && last(h);
    const sched = (p?.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled');
    return sched?.status === 'False' && sched.reason === 'Unschedulable' ? p : undefined;
  });
  assert.match(third.status.conditions.find((c: any) => c.type === 'PodScheduled').message, /anti-affinity/);
  // and it stays so while the anchors hold
  await new Promise((r) => setTimeout(r, 3000));
  const live = await guard.pod(third.metadata.name);
  assert.is(live.spec.nodeName, undefined, 'third replica not bound');
  assert.is(live.status.phase, 'Pending');
  const nodes = nodesOf(guard, g);
  assert.is(nodes.length, 2, `only two replicas placed (${nodes.join(', ')})`);
  assert.is(new Set(nodes).size, 2, `on distinct nodes (${nodes.join(', ')})`);
  const anchors = await guard.pods(`${L.group}=${g.name},${L.anchorFor}`);
  assert.equal(anchors.map((a) => a.spec.nodeName).sort(), [...TWO].sort(), 'an anchor on each used node');
  for (const a of anchors) {
    // the anchor repels by its own anti-affinity: what the restore pod's selects, but its own member
    const term = a.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
    assert.is(term.labelSelector.matchLabels[L.instance], g.instance, "anchor's term selects the group's label");
    assert.equal(term.labelSelector.matchExpressions.at(-1).operator, 'NotIn', 'its own member excluded');
    assert.is(a.metadata.labels[L.instance], g.instance, 'anchor carries the label the anti-affinity selects');
    assert.not.ok(a.metadata.labels['job-name'], 'anchor carries no Job controller label');
  }
  g.stop();
});

test('restore-guard: 3 sequential replicas on 3 nodes land on 3 distinct nodes, anchors released after', async () => {
  const g = await guard.createRestoreGroup({
    name: 'seq-three-nodes',
    replicas: 3,
    runMs: 0,
    sequential: true,
    nodes: THREE,
  });
  await g.allCreated;
  await jobsComplete(guard, g);
  const nodes = nodesOf(guard, g);
  assert.is(nodes.length, 3);
  assert.is(new Set(nodes).size, 3, `distinct nodes (${nodes.join(', ')})`);
  await waitFor(
    `anchors of ${g.name} released`,
    async () => (await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length === 0,
  );
  console.log(`  restore-guard placements: ${nodes.join(', ')}`);
});

test.run();
