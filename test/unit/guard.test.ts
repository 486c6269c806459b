import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../functions/core/config.ts';
import { RefusedWriteError } from '../../functions/core/errors.ts';
import { memoryLogger } from '../../functions/core/log.ts';
import { MemoryCluster } from '../../functions/core/kube/memory-cluster.ts';
import { createMetrics } from '../../functions/core/metrics.ts';
import { createSelector } from '../../functions/core/restore/selection.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { pvc, restoreJob, restorePod } from '../support/objects.ts';
import { dryRun } from '../../functions/core/kube/dry-run.ts';
import { guarded } from '../../functions/core/restore/write-guard.ts';

async function setup() {
  const inner = new MemoryCluster();
  const metrics = createMetrics();
  const log = memoryLogger();
  const g = guarded(inner, createSelector(loadConfig({})), 'restoreguard.dev', log, metrics);
  const stranger = restorePod({ name: 'web-1' });
  stranger.metadata.labels = { app: 'web' };
  for (const o of [restorePod(), restoreJob(), pvc('data-mysql-0'), stranger] as KubeObject[])
    await inner.create(o.kind as 'Pod', 'db', o);
  inner.writes.length = 0;
  return { inner, g, metrics, log };
}

const refused = async (p: Promise<unknown>, why: RegExp) => {
  try {
    await p;
    assert.unreachable('should be refused');
  } catch (e) {
    assert.instance(e, RefusedWriteError);
    assert.match((e as Error).message, why);
  }
};

test('patches may touch only our labels and annotations (and the KubeBlocks stop annotation on pods)', async () => {
  const { g, inner, metrics } = await setup();
  await g.patch('Pod', 'db', 'restore-0-abcde', {
    metadata: {
      labels: { 'restoreguard.dev/state': 'succeeded' },
      annotations: { 'dataprotection.kubeblocks.io/stop-restore-manager': 'true' },
    },
  });
  await refused(g.patch('Pod', 'db', 'restore-0-abcde', { spec: { nodeName: 'x' } }), /patch touches spec/);
  await refused(g.patch('Pod', 'db', 'restore-0-abcde', { metadata: { labels: { app: 'x' } } }), /labels app/);
  await refused(
    g.patch('Pod', 'db', 'restore-0-abcde', { metadata: { ownerReferences: null } }),
    /metadata.ownerReferences/,
  );
  await refused(
    g.patch('Job', 'db', 'restore-0', {
      metadata: { annotations: { 'dataprotection.kubeblocks.io/stop-restore-manager': 'true' } },
    }),
    /annotations/,
  );
  await refused(
    g.patch('PersistentVolumeClaim', 'db', 'data-mysql-0', { metadata: { labels: { app: 'x' } } }),
    /labels app/,
  );
  assert.is(inner.writes.filter((w) => w.changed).length, 1, 'only the allowed patch was made');
  assert.is(metrics.refused.get({ verb: 'patch', kind: 'Pod' }), 3);
});

test('writes to objects that are not restore objects or our anchors are refused', async () => {
  const { g, inner } = await setup();
  await refused(
    g.patch('Pod', 'db', 'web-1', { metadata: { labels: { 'restoreguard.dev/state': 'x' } } }),
    /not a selected restore object/,
  );
  await refused(g.delete('Pod', 'db', 'web-1'), /not a selected restore object or anchor/);
  await refused(g.delete('PersistentVolumeClaim', 'db', 'data-mysql-0'), /never deleted/);
  await refused(
    g.create('Pod', 'db', { kind: 'Pod', metadata: { name: 'x', labels: { app: 'x' } } }),
    /only anchor pods/,
  );
  await refused(
    g.create('Pod', 'db', {
      kind: 'Pod',
      metadata: {
        name: 'web-1-anchor',
        labels: { 'restoreguard.dev/anchor-for': 'web-1', 'restoreguard.dev/group': 'g' },
      },
    }),
    /not a selected restore pod/,
  );
  await refused(
    g.create('Job', 'db', {
      kind: 'Job',
      metadata: { name: 'evil' },
      spec: { template: { spec: { containers: [] } } },
    }),
    /only retries/,
  );
  await refused(
    g.create('Event', 'db', { kind: 'Event', metadata: { name: 'e' }, involvedObject: { kind: 'Pod', name: 'web-1' } }),
    /not a restore object/,
  );
  assert.equal(inner.writes, []);
});

test('an anchor for a restore pod that is gone is created only as a copy of a live anchor of ours standing for the same pod', async () => {
  const { g, inner } = await setup();
  const anchor = (name: string, uid: string, group = 'g'): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'db',
      labels: { 'restoreguard.dev/anchor-for': 'gone-0', 'restoreguard.dev/group': group },
      annotations: { 'restoreguard.dev/anchor-for-uid': uid, 'restoreguard.dev/anchor-for-pod': 'gone-0' },
    },
  });
  const old = anchor('gone-0-anchor', 'uid-gone');
  // no witness, or one that is not the same pod's anchor (another uid, another group, not an anchor)
  await refused(g.create('Pod', 'db', anchor('gone-0-anchor-1', 'uid-gone')), /not a selected restore pod/);
  await refused(
    g.create('Pod', 'db', anchor('gone-0-anchor-1', 'uid-gone'), { witness: [anchor('gone-0-anchor', 'uid-other')] }),
    /not a selected restore pod/,
  );
  await refused(
    g.create('Pod', 'db', anchor('gone-0-anchor-1', 'uid-gone', 'h'), { witness: [old] }),
    /not a selected restore pod/,
  );
  const notAnchor = anchor('gone-0-anchor', 'uid-gone');
  delete notAnchor.metadata.labels!['restoreguard.dev/anchor-for'];
  await refused(
    g.create('Pod', 'db', anchor('gone-0-anchor-1', 'uid-gone'), { witness: [notAnchor] }),
    /not a selected restore pod/,
  );
  assert.equal(inner.writes, []);
  // the next generation of a live anchor of that pod (a lease renewal)
  const r = await g.create('Pod', 'db', anchor('gone-0-anchor-1', 'uid-gone'), { witness: [old] });
  assert.ok(r.created);
});

test('an anchor for a finished member whose pod is gone is created only with a selected Job whose history records that pod as succeeded on that node', async () => {
  const { g, inner } = await setup();
  const anchor = (node: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'gone-0-anchor',
      namespace: 'db',
      labels: { 'restoreguard.dev/anchor-for': 'gone-0', 'restoreguard.dev/group': 'mysql-restore' },
      annotations: { 'restoreguard.dev/anchor-for-uid': 'uid-gone', 'restoreguard.dev/anchor-for-pod': 'gone-0' },
    },
    spec: { nodeName: node },
  });
  const job = (state: string, node = 'node-1'): KubeObject => {
    const j = restoreJob() as unknown as KubeObject;
    j.metadata.annotations = {
      'restoreguard.dev/history': JSON.stringify([{ pod: 'gone-0', uid: 'uid-gone', scope: 'pod', state, node }]),
    };
    return j;
  };
  await refused(g.create('Pod', 'db', anchor('node-1'), { witness: [job('failed')] }), /not a selected restore pod/);
  await refused(g.create('Pod', 'db', anchor('node-2'), { witness: [job('succeeded')] }), /not a selected restore pod/);
  const stranger = job('succeeded');
  stranger.metadata.labels = {};
  (stranger.spec as any).template.metadata.labels = { app: 'web' };
  await refused(g.create('Pod', 'db', anchor('node-1'), { witness: [stranger] }), /not a selected restore pod/);
  assert.equal(inner.writes, []);
  assert.ok((await g.create('Pod', 'db', anchor('node-1'), { witness: [job('succeeded')] })).created);
});

test('deletes carry the live uid as a precondition', async () => {
  const { g, inner } = await setup();
  assert.is(await g.delete('Pod', 'db', 'restore-0-abcde'), true);
  const del = inner.writes.find((w) => w.verb === 'delete')!;
  assert.equal(del.body, { uid: 'uid-restore-0-abcde' });
  assert.is(await g.delete('Pod', 'db', 'restore-0-abcde'), false, 'gone: nothing to delete, no error');
});

test('dry-run: writes are reported, never made; reads pass through', async () => {
  const inner = new MemoryCluster();
  await inner.create('Pod', 'db', restorePod());
  inner.writes.length = 0;
  const seen: string[] = [];
  const d = dryRun(inner, memoryLogger(), (w) => seen.push(`${w.verb} ${w.kind} ${w.name}`));
  const patched = await d.patch('Pod', 'db', 'restore-0-abcde', {
    metadata: { labels: { 'restoreguard.dev/state': 'succeeded' } },
  });
  assert.is(patched!.metadata.labels!['restoreguard.dev/state'], 'succeeded', 'answers as if written');
  assert.is(
    (await inner.get('Pod', 'db', 'restore-0-abcde'))!.metadata.labels!['restoreguard.dev/state'],
    undefined,
    'but nothing changed',
  );
  await d.create('Pod', 'db', { kind: 'Pod', metadata: { name: 'a' } });
  assert.is(await d.delete('Pod', 'db', 'restore-0-abcde'), true);
  assert.ok(await inner.get('Pod', 'db', 'restore-0-abcde'));
  assert.equal(seen, ['patch Pod restore-0-abcde', 'create Pod a', 'delete Pod restore-0-abcde']);
  assert.equal(inner.writes, []);
});

test('a PVC is patched only with an outcome of a live restore Pod or Job that mounts it', async () => {
  const { g, inner, metrics } = await setup();
  await inner.create('PersistentVolumeClaim', 'db', pvc('other-data'));
  await inner.create('PersistentVolumeClaim', 'kube-system', pvc('etcd-data', 'kube-system'));
  inner.writes.length = 0;
  const outcome = (o: Record<string, unknown>) => ({
    metadata: {
      annotations: {
        'restoreguard.dev/outcome': JSON.stringify({
          scope: 'pod',
          state: 'failed',
          pod: 'restore-0-abcde',
          uid: 'uid-restore-0-abcde',
          job: 'restore-0',
          ...o,
        }),
      },
    },
  });
  await g.patch('PersistentVolumeClaim', 'db', 'data-mysql-0', outcome({}));
  await g.patch('PersistentVolumeClaim', 'db', 'data-mysql-0', outcome({ pod: 'gone', uid: 'x' }));
  await refused(g.patch('PersistentVolumeClaim', 'db', 'other-data', outcome({})), /not a data PVC/);
  await refused(g.patch('PersistentVolumeClaim', 'kube-system', 'etcd-data', outcome({})), /not a data PVC/);
  await refused(
    g.patch('PersistentVolumeClaim', 'db', 'data-mysql-0', {
      metadata: { annotations: { 'restoreguard.dev/x': 'y' } },
    }),
    /not a data PVC/,
  );
  assert.is(inner.writes.filter((w) => w.verb === 'patch').length, 2, 'only the mounted PVC was patched');
  assert.is(metrics.refused.get({ verb: 'patch', kind: 'PersistentVolumeClaim' }), 3);
});

test("KubeBlocks' shared backup repository PVC (volume dp-backup-data) is never the restore's: no record on it", async () => {
  const inner = new MemoryCluster();
  const g = guarded(inner, createSelector(loadConfig({})), 'restoreguard.dev', memoryLogger(), createMetrics());
  const pod = restorePod({ claims: ['data-mysql-0'] });
  pod.spec.volumes!.push({ name: 'dp-backup-data', persistentVolumeClaim: { claimName: 'pvc-backuprepo-minio' } });
  for (const o of [pod, pvc('data-mysql-0'), pvc('pvc-backuprepo-minio')] as KubeObject[])
    await inner.create(o.kind as 'Pod', 'db', o);
  const outcome = {
    metadata: {
      annotations: {
        'restoreguard.dev/outcome': JSON.stringify({
          scope: 'pod',
          state: 'succeeded',
          pod: pod.metadata.name,
          uid: pod.metadata.uid,
        }),
      },
    },
  };
  await g.patch('PersistentVolumeClaim', 'db', 'data-mysql-0', outcome);
  await refused(g.patch('PersistentVolumeClaim', 'db', 'pvc-backuprepo-minio', outcome), /not a data PVC/);
  assert.is(
    (await inner.get('PersistentVolumeClaim', 'db', 'pvc-backuprepo-minio'))!.metadata.annotations?.[
      'restoreguard.dev/outcome'
    ],
    undefined,
  );
});

test("witnesses stand in for the guard's reads; a witness is checked like a read", async () => {
  const { inner } = await setup();
  let reads = 0;
  const counting = Object.assign(Object.create(inner) as MemoryCluster, {
    get: (...a: Parameters<MemoryCluster['get']>) => {
      reads++;
      return inner.get(...a);
    },
  });
  const g = guarded(counting, createSelector(loadConfig({})), 'restoreguard.dev', memoryLogger());
  const pod = (await inner.get('Pod', 'db', 'restore-0-abcde'))!;
  const label = (v: string) => ({ metadata: { labels: { 'restoreguard.dev/state': v } } });
  await g.patch('Pod', 'db', 'restore-0-abcde', label('succeeded'), { witness: [pod] });
  assert.is(reads, 0, 'no read: the witness stood in');
  assert.is((await inner.get('Pod', 'db', 'restore-0-abcde'))!.metadata.labels!['restoreguard.dev/state'], 'succeeded');
  // Without a witness, the guard reads.
  await g.patch('Pod', 'db', 'restore-0-abcde', label('failed'));
  assert.is(reads, 1);
  // A witness is checked like a read: a stranger stays refused.
  const stranger = (await inner.get('Pod', 'db', 'web-1'))!;
  await refused(g.patch('Pod', 'db', 'web-1', label('x'), { witness: [stranger] }), /not a selected restore object/);
  await refused(g.delete('Pod', 'db', 'web-1', { witness: [stranger] }), /not a selected restore object/);
  // A witness of another uid than the delete's precondition is no witness: the guard reads.
  reads = 0;
  assert.not.ok(await g.delete('Pod', 'db', 'restore-0-abcde', { uid: 'other', witness: [pod] }));
  assert.is(reads, 1);
  reads = 0;
  assert.ok(await g.delete('Pod', 'db', 'restore-0-abcde', { uid: pod.metadata.uid ?? '', witness: [pod] }));
  assert.is(reads, 0);
  assert.is(await inner.get('Pod', 'db', 'restore-0-abcde'), null);
});

test.run();
