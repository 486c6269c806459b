// Anchor ownership on the real Job controller and garbage collector (README, Labels and annotations: anchor owners): an
// anchor must stay put while its group runs (the Job neither releases, adopts nor counts it) and
// must not outlive its owner. Owned by the restore Job (controller false), it goes with the Job;
// owned by the group's owner as controller (KubeBlocks' Restore; here a ConfigMap stands in for the
// operator's object), it survives each Job's deletion (KubeBlocks' Serial policy deletes finished
// Jobs) and goes with the owner. The adapter is stopped before each deletion so that only the
// garbage collector can remove the anchor.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { L, antiAffinityFor, startChain, waitFor, type Chain } from '../support/chain.ts';
import { sleep } from '../rig/http.ts';

let guard: Chain;

test.before(async () => {
  guard = await startChain({ mode: 'guard' });
});

test.after(async () => {
  await guard?.teardown();
});

const anchorsOf = async (group: string) => (await guard.pods(`${L.group}=${group},${L.anchorFor}`)) as any[];

test('owned by the restore Job: the Job neither releases nor counts it; it goes with the Job', async () => {
  const g = await guard.createRestoreGroup({ name: 'own-job', replicas: 1 }); // runs until ended
  const [anchor] = await waitFor('anchor', async () =>
    (await anchorsOf(g.name)).length ? anchorsOf(g.name) : undefined,
  );
  await sleep(2000); // let the Job controller sync a few times
  const again = await guard.kube.get(`/api/v1/namespaces/${guard.ns}/pods/${anchor.metadata.name}`);
  assert.equal(again.metadata.ownerReferences, anchor.metadata.ownerReferences, 'owner references untouched');
  assert.is(again.metadata.ownerReferences[0].kind, 'Job');
  assert.is(again.metadata.ownerReferences[0].controller, false);
  assert.is(again.metadata.labels['job-name'], undefined);
  assert.is(again.metadata.labels['batch.kubernetes.io/controller-uid'], undefined);
  const job = await guard.job(g.jobNames[0]!);
  assert.is(job.status.active, 1, 'the Job counts its own pod only');

  await guard.stopAdapter();
  await guard.kube.must('DELETE', `/apis/batch/v1/namespaces/${guard.ns}/jobs/${g.jobNames[0]}`, {
    propagationPolicy: 'Background',
  });
  await waitFor(
    'garbage collector removes the anchor',
    async () => ((await anchorsOf(g.name)).length === 0 ? true : undefined),
    30_000,
  );
  await guard.restartAdapter();
});

test("owned by the group's owner as controller: survives the Job's deletion, goes with the owner", async () => {
  const owner = await guard.kube.post(`/api/v1/namespaces/${guard.ns}/configmaps`, {
    metadata: { name: 'operator-restore' },
    data: {},
  });
  const group = 'own-operator';
  const job = await guard.kube.post(`/apis/batch/v1/namespaces/${guard.ns}/jobs`, {
    metadata: {
      name: 'restore-x',
      labels: { [L.group]: group },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          name: owner.metadata.name,
          uid: owner.metadata.uid,
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { [L.group]: group, [L.instance]: group } },
        spec: {
          restartPolicy: 'Never',
          affinity: antiAffinityFor(group),
          containers: [
            { name: 'restore', image: 'restore:1', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
          ],
        },
      },
    },
  });
  const [anchor] = await waitFor('anchor', async () =>
    (await anchorsOf(group)).length ? anchorsOf(group) : undefined,
  );
  assert.equal(
    anchor.metadata.ownerReferences.map((r: any) => [r.kind, r.name, r.controller]),
    [['ConfigMap', 'operator-restore', true]],
  );

  await guard.stopAdapter();
  await guard.kube.must('DELETE', `/apis/batch/v1/namespaces/${guard.ns}/jobs/${job.metadata.name}`, {
    propagationPolicy: 'Background',
  });
  await waitFor(
    'the restore pod is gone with its Job',
    async () => ((await guard.pods(`${L.group}=${group},!${L.anchorFor}`)).length === 0 ? true : undefined),
    30_000,
  );
  await sleep(1500);
  assert.is((await anchorsOf(group)).length, 1, 'the anchor outlives the Job (Serial policy)');

  await guard.kube.must('DELETE', `/api/v1/namespaces/${guard.ns}/configmaps/${owner.metadata.name}`, {
    propagationPolicy: 'Background',
  });
  await waitFor(
    'garbage collector removes the anchor with its owner',
    async () => ((await anchorsOf(group)).length === 0 ? true : undefined),
    30_000,
  );
  await guard.restartAdapter();
});

test.run();
