// KubeBlocks-style restore groups (labels dataprotection.kubeblocks.io/restore=<name>, containers
// restore + restore-manager): the restore-manager sidecar holds each pod Running until the pod
// carries dataprotection.kubeblocks.io/stop-restore-manager: "true". Here no operator ever sets it.
// Plain: the pods stay Running after their restore ended and no Job completes (the deadlock of
// KubeBlocks' issues). restore-guard: each pod is stopped as soon as its restore container ended
// and its anchor exists, well before the slowest sibling ends, and the group finishes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  L,
  Observer,
  condition,
  containerTerminatedAt,
  phaseAt,
  placement,
  recordingDir,
  startChain,
  waitFor,
  type Chain,
  type Change,
  type RestoreGroup,
} from '../support/chain.ts';

let plain: Chain;
let guard: Chain;
const RUN_MS = [300, 1500, 6000];

function byJob(c: Chain, g: RestoreGroup): Change[][] {
  const pods = c.observer.groupPods(g.name);
  return g.jobNames.map((j) => pods.find((h) => h[0]!.obj.metadata.labels?.['job-name'] === j) ?? []);
}

test.before(async () => {
  [plain, guard] = await Promise.all([
    startChain({ mode: 'plain' }),
    startChain({ mode: 'guard', recordDir: recordingDir('kubeblocks-sidecar') }),
  ]);
});

test.after(async () => {
  await Promise.all([plain?.teardown(), guard?.teardown()]);
});

test('baseline (plain): with no stop signal the pods stay Running after their restore ended, no Job completes', async () => {
  const g = await plain.createRestoreGroup({ name: 'mysql-restore', profile: 'kubeblocks', replicas: 3, runMs: 200 });
  await waitFor('every restore container terminated', async () =>
    byJob(plain, g).every((h) => h.length && containerTerminatedAt(h, 'restore')),
  );
  await new Promise((r) => setTimeout(r, 3000));
  for (const name of g.jobNames) {
    const pods = await plain.pods(`job-name=${name}`);
    assert.is(pods[0]?.status.phase, 'Running', `${name}'s pod held Running by restore-manager`);
    assert.not.ok(condition(await plain.job(name), 'Complete'), `${name} not Complete`);
  }
});

test('restore-guard: each pod stops once its restore ended and its anchor exists, before the group finishes', async () => {
  const g = await guard.createRestoreGroup({
    name: 'mysql-restore',
    profile: 'kubeblocks',
    replicas: 3,
    runMs: RUN_MS,
  });
  await waitFor('all Jobs Complete', async () => {
    const jobs = await Promise.all(g.jobNames.map((j) => guard.job(j)));
    return jobs.every((j) => condition(j, 'Complete'));
  });
  const hs = byJob(guard, g);
  const anchors = guard.observer.anchors(g.name);
  const slowestEnd = containerTerminatedAt(hs[2]!, 'restore')!;
  assert.ok(slowestEnd, 'slowest restore container terminated');
  const lines: string[] = [];
  for (const [i, h] of hs.entries()) {
    const name = h[0]!.obj.metadata.name;
    const restoreEnd = containerTerminatedAt(h, 'restore')!;
    const succeeded = phaseAt(h, 'Succeeded');
    const stopped = Observer.first(h, (o) => o.metadata.annotations?.[L.stop] === 'true');
    const anchor = anchors.find((a) => a[0]!.obj.metadata.labels[L.anchorFor] === name);
    assert.ok(stopped, `${name} got the stop annotation`);
    assert.ok(succeeded, `${name} Succeeded`);
    assert.ok(anchor, `${name} had an anchor`);
    assert.ok(anchor![0]!.rv < stopped!.rv, `${name}: anchor created before the stop signal`);
    assert.is(placement(anchor!)!.node, placement(h)!.node, `${name}: anchor on the pod's node`);
    if (i < 2) assert.ok(succeeded! < slowestEnd, `${name} Succeeded before the slowest restore ended`);
    lines.push(
      `${name}: restore ended +${restoreEnd - hs[0]![0]!.at} ms, Succeeded ${succeeded! - restoreEnd} ms later`,
    );
  }
  console.log(`  ${lines.join('\n  ')}`);
  const nodes = hs.map((h) => placement(h)!.node);
  assert.is(new Set(nodes).size, 3, 'replicas on distinct nodes');
  await waitFor(
    `anchors of ${g.name} released`,
    async () => (await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length === 0,
  );
});

test.run();
