// The Job record's precondition on the real kube-apiserver: a JSON Patch whose `test` operations
// cover exactly the labels and annotations the record was computed from (core/kube/cluster.ts
// guardedJsonPatch, sent by rest-cluster). What it must do there, each checked here: a key absent
// when read tests as null; a write to anything else of the Job (another annotation, the status a
// controller writes) is no conflict; a change of a tested key, or an annotations map that appeared,
// is a conflict (isConflict), never a silent overwrite.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isConflict } from '../../functions/core/errors.ts';
import type { Cluster } from '../../functions/core/kube/cluster.ts';
import { connectCluster } from '../../functions/core/kube/rest-cluster.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { ensureRig, type RigInfo } from '../rig/index.ts';

let rig: RigInfo;
let api: Cluster;
const ns = `guarded-${Date.now().toString(36)}`;
const keys = { labels: ['restoreguard.dev/state'], annotations: ['restoreguard.dev/history'] };

test.before(async () => {
  rig = await ensureRig();
  api = await connectCluster(rig.adminKubeconfig);
  await rig.kube.must('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

test.after(async () => {
  await rig?.kube.call('DELETE', `/api/v1/namespaces/${ns}`);
});

async function newJob(name: string): Promise<KubeObject> {
  // Suspended: the Job controller makes no pod; it still writes the Job's status.
  await rig.kube.must('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      suspend: true,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } },
    },
  });
  return (await api.get('Job', ns, name))!;
}

const history = (o: KubeObject | null) => o?.metadata.annotations?.['restoreguard.dev/history'];
const write = (of: KubeObject, h: string) =>
  api.patch(
    'Job',
    ns,
    of.metadata.name,
    { metadata: { annotations: { 'restoreguard.dev/history': h } } },
    {
      unchanged: { of, ...keys },
    },
  );
const conflict = async (p: Promise<unknown>) =>
  p.then(
    () => false,
    (e) => isConflict(e),
  );

test('absent keys test as null; writes to other fields and to the status are no conflict', async () => {
  const read = await newJob('a');
  assert.is(read.metadata.annotations, undefined, 'no annotations when read');
  await write(read, '[1]');
  const first = (await api.get('Job', ns, 'a'))!;
  assert.is(history(first), '[1]', 'the annotations map added whole');
  // Someone else writes another annotation, and the status subresource, after our read.
  await rig.kube.must(
    'PATCH',
    `/apis/batch/v1/namespaces/${ns}/jobs/a`,
    { metadata: { annotations: { other: 'x' } } },
    [],
    'application/merge-patch+json',
  );
  await rig.kube.must(
    'PATCH',
    `/apis/batch/v1/namespaces/${ns}/jobs/a/status`,
    { status: { uncountedTerminatedPods: {}, active: 0 } },
    [],
    'application/merge-patch+json',
  );
  const now = (await api.get('Job', ns, 'a'))!;
  assert.is.not(now.metadata.resourceVersion, first.metadata.resourceVersion, 'the Job moved on since the read');
  await write(first, '[1,2]');
  const after = (await api.get('Job', ns, 'a'))!;
  assert.is(history(after), '[1,2]');
  assert.is(after.metadata.annotations?.other, 'x', 'the other writer kept its annotation');
});

test('a tested key that moved on, or an annotations map that appeared, is a conflict and writes nothing', async () => {
  const read = await newJob('b');
  await write(read, '[1]');
  const stale = (await api.get('Job', ns, 'b'))!;
  await write(stale, '[1,2]');
  assert.ok(await conflict(write(stale, '[1,3]')), 'the history moved on: conflict');
  assert.is(history(await api.get('Job', ns, 'b')), '[1,2]', 'nothing overwritten');
  // A label the record was computed from moved on.
  const fresh = (await api.get('Job', ns, 'b'))!;
  await rig.kube.must(
    'PATCH',
    `/apis/batch/v1/namespaces/${ns}/jobs/b`,
    { metadata: { labels: { 'restoreguard.dev/state': 'retried' } } },
    [],
    'application/merge-patch+json',
  );
  assert.ok(await conflict(write(fresh, '[1,2,3]')), 'the state label moved on: conflict');
  // Read with no annotations at all; another writer adds one before ours.
  const bare = await newJob('c');
  await rig.kube.must(
    'PATCH',
    `/apis/batch/v1/namespaces/${ns}/jobs/c`,
    { metadata: { annotations: { other: 'x' } } },
    [],
    'application/merge-patch+json',
  );
  assert.ok(await conflict(write(bare, '[1]')), 'the map appeared: conflict, never replaced whole');
  assert.is((await api.get('Job', ns, 'c'))!.metadata.annotations?.other, 'x');
});

test('a guarded patch the API server finds invalid (a bad label value) is an error, not a conflict', async () => {
  const read = await newJob('d');
  const e = await api
    .patch(
      'Job',
      ns,
      'd',
      { metadata: { labels: { 'restoreguard.dev/state': 'not a label value!' } } },
      {
        unchanged: { of: read, ...keys },
      },
    )
    .then(
      () => null,
      (x: Error) => x,
    );
  assert.ok(e, 'refused');
  assert.not.ok(isConflict(e), `not read as a conflict: ${e?.message}`);
  assert.match(e!.message, /422/);
});

test.run();
