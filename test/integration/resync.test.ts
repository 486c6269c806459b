// Resync on the real control plane: with the adapter stopped while things change, nothing hears of
// them; one PingSource event later, the state has converged.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { L, condition, recordingDir, startChain, waitFor, type Chain } from '../support/chain.ts';

let guard: Chain;

test.before(async () => {
  guard = await startChain({ mode: 'guard', recordDir: recordingDir('resync') });
});

test.after(async () => {
  await guard?.teardown();
});

test('a group that finishes while the adapter is down converges on the next ping: records present, pods released, anchors gone', async () => {
  const g = await guard.createRestoreGroup({ name: 'missed', replicas: 3, runMs: 3000, claims: true });
  await waitFor('three anchors', async () => (await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length === 3);
  await guard.stopAdapter();
  await guard.settle(300);
  await waitFor('all Jobs Complete', async () =>
    (await Promise.all(g.jobNames.map((j) => guard.job(j)))).every((j) => condition(j, 'Complete')),
  );
  // nothing heard: no records, pods kept, anchors held
  for (const j of g.jobNames) assert.not.ok((await guard.job(j)).metadata.labels[L.state], `${j} not recorded yet`);
  assert.is((await guard.pods(`${L.group}=${g.name},!${L.anchorFor}`)).length, 3, 'finished pods kept');
  assert.is((await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length, 3, 'anchors held');

  const t0 = Date.now();
  await guard.ping();
  const ms = Date.now() - t0;
  for (const [i, j] of g.jobNames.entries()) {
    const job = await guard.job(j);
    assert.is(job.metadata.labels[L.state], 'succeeded', `${j} recorded`);
    assert.ok(job.metadata.annotations[L.outcome], `${j} outcome`);
    assert.ok((await guard.pvc(g.claimNames[i]!)).metadata.annotations[L.outcome], `PVC ${g.claimNames[i]} outcome`);
  }
  await waitFor(
    'finished pods released',
    async () => (await guard.pods(`${L.group}=${g.name},!${L.anchorFor}`)).length === 0,
    10_000,
  );
  assert.is((await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length, 0, 'anchors gone');
  console.log(`  one ping converged the group in ${ms} ms`);
});

test('pods placed while the adapter is down get their anchors on the next ping', async () => {
  const g = await guard.createRestoreGroup({ name: 'unanchored', replicas: 2, nodes: ['rig-node-1', 'rig-node-2'] });
  await waitFor(
    'both running',
    async () => (await guard.pods(`${L.group}=${g.name}`)).filter((p) => p.status.phase === 'Running').length === 2,
  );
  assert.is((await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length, 0, 'no anchors yet');
  await guard.ping();
  const anchors = await guard.pods(`${L.group}=${g.name},${L.anchorFor}`);
  assert.equal(anchors.map((a) => a.spec.nodeName).sort(), ['rig-node-1', 'rig-node-2']);
  await guard.restartAdapter();
});

test.run();
