import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventType } from '../../functions/core/restore/events.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { harness, restoreEvent } from '../support/harness.ts';
import { pvc, restoreCr, restoreJob, restorePod } from '../support/objects.ts';

const ping = () => restoreEvent(EventType.ping, { message: 'resync' });
const anchors = (h: ReturnType<typeof harness>) =>
  h.cluster
    .all('Pod')
    .filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for'])
    .map((p) => p.metadata.name)
    .sort();
const changed = (h: ReturnType<typeof harness>) => h.cluster.writes.filter((w) => w.changed).length;

test('no event ever arrived: one ping anchors the placed pods, records the finished ones', async () => {
  const h = harness();
  const restore = restoreCr();
  await h.seed(
    restorePod({ name: 'r-0', job: 'restore-0', node: 'node-0', claims: ['d0'] }),
    restorePod({ name: 'r-1', job: 'restore-1', node: 'node-1', restore: { exit: 0 }, claims: ['d1'] }),
    restoreJob({ name: 'restore-0', claims: ['d0'] }),
    restoreJob({ name: 'restore-1', claims: ['d1'] }),
    pvc('d0'),
    pvc('d1'),
    restore,
  );
  const r = await h.post('/resync', ping());
  assert.is(r.status, 202, r.text);
  assert.equal(anchors(h), ['r-0-anchor', 'r-1-anchor']);
  const r1 = await h.cluster.get('Pod', 'db', 'r-1');
  assert.is(r1!.metadata.labels!['restoreguard.dev/state'], 'succeeded');
  assert.is(r1!.metadata.annotations!['dataprotection.kubeblocks.io/stop-restore-manager'], 'true');
  assert.ok(
    (await h.cluster.get('PersistentVolumeClaim', 'db', 'd1'))!.metadata.annotations!['restoreguard.dev/outcome'],
  );
  assert.is(h.server.deps.metrics.resyncAnchors.get({ state: 'holding' }), 2, 'the anchors gauge says what exists');
  // A second ping changes nothing: the sweep converged.
  const n = changed(h);
  await h.post('/resync', ping());
  assert.is(changed(h), n);
});

test('anchors of a finished group go on the next ping, even with no member left', async () => {
  const h = harness();
  const orphan = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'db',
      labels: { 'restoreguard.dev/anchor-for': name.replace(/-anchor$/, ''), 'restoreguard.dev/group': 'pg' },
      annotations: { 'restoreguard.dev/profile': 'generic' },
    },
    spec: {},
    status: { phase: 'Running' },
  });
  const done = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0',
    condition: { type: 'Complete' },
    labels: { 'restoreguard.dev/state': 'succeeded' },
  });
  await h.seed(orphan('pg-0-x-anchor'), orphan('pg-1-x-anchor'), done);
  await h.post('/resync', ping());
  assert.equal(anchors(h), []);
});

test("a failed pod that vanished before its anchor went: the next ping deletes that anchor, never a finished sibling's", async () => {
  const h = harness();
  const anchor = (pod: string, uid: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${pod}-anchor`,
      namespace: 'db',
      labels: { 'restoreguard.dev/anchor-for': pod, 'restoreguard.dev/group': 'pg' },
      annotations: { 'restoreguard.dev/profile': 'generic', 'restoreguard.dev/anchor-for-uid': uid },
    },
    spec: {},
    status: { phase: 'Running' },
  });
  const entry = (pod: string, uid: string, state: string) => ({
    pod,
    uid,
    scope: 'pod',
    state,
    reason: state === 'failed' ? 'OOMKilled' : null,
    retryable: false,
    node: 'node-1',
    attempt: 1,
    finishedAt: '2026-11-29T10:00:05Z',
  });
  // pg-0 runs on (its Job retries by itself); its first pod failed and is gone; pg-1's pod succeeded and is gone.
  const running = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0',
    // as labeling leaves a Job it recorded on: with its group label
    labels: { 'restoreguard.dev/group': 'pg' },
    annotations: { 'restoreguard.dev/history': JSON.stringify([entry('pg-0-a', 'uid-pg-0-a', 'failed')]) },
  });
  const done = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-1',
    condition: { type: 'Complete' },
    labels: { 'restoreguard.dev/state': 'succeeded' },
    annotations: { 'restoreguard.dev/history': JSON.stringify([entry('pg-1-a', 'uid-pg-1-a', 'succeeded')]) },
  });
  await h.seed(running, done, anchor('pg-0-a', 'uid-pg-0-a'), anchor('pg-1-a', 'uid-pg-1-a'));
  await h.post('/resync', ping());
  assert.equal(
    anchors(h),
    ['pg-1-a-anchor'],
    "the failed pod's anchor is gone; the group still runs, so the sibling's stays",
  );
});

test('a retry that is due is created by the sweep; one not yet due waits for a later ping', async () => {
  const h = harness({ RG_RETRY_JOBS: 'true' }, new Date('2026-11-29T10:00:05.500Z'));
  const outcome = {
    scope: 'pod',
    state: 'failed',
    reason: 'Error',
    retryable: true,
    exitCode: 1,
    node: 'node-1',
    pod: 'pg-0-x',
    uid: 'u',
    attempt: 1,
  };
  const job = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0',
    condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
    annotations: { 'restoreguard.dev/outcome': JSON.stringify(outcome) },
  });
  await h.seed(job);
  await h.post('/resync', ping());
  assert.is(await h.cluster.get('Job', 'db', 'pg-0-retry-1'), null, 'not due: 1 s backoff from 10:00:05');
  h.advance(1000);
  await h.post('/resync', ping());
  assert.ok(await h.cluster.get('Job', 'db', 'pg-0-retry-1'), 'due now');
  assert.equal(h.slept, [], 'the sweep never sleeps');
});

test('the same end state whether events came once, twice, out of order or never', async () => {
  const objects = (): KubeObject[] => [
    restorePod({ name: 'a', job: 'restore-0', node: 'node-0', restore: { exit: 0 }, claims: ['d0'] }),
    restorePod({ name: 'b', job: 'restore-1', node: 'node-1', claims: ['d1'] }),
    restoreJob({ name: 'restore-0', claims: ['d0'] }),
    restoreJob({ name: 'restore-1', claims: ['d1'] }),
    pvc('d0'),
    pvc('d1'),
  ];
  const snapshot = (h: ReturnType<typeof harness>) =>
    JSON.stringify(
      (['Pod', 'Job', 'PersistentVolumeClaim'] as const)
        .flatMap((k) =>
          h.cluster
            .all(k)
            .map((o) => [
              k,
              o.metadata.name,
              o.metadata.labels,
              Object.fromEntries(
                Object.entries(o.metadata.annotations ?? {}).map(([key, v]) => [
                  key,
                  key.endsWith('/outcome') ? JSON.parse(v).state : v,
                ]),
              ),
            ]),
        )
        .sort(),
    );
  const viaSweep = harness();
  await viaSweep.seed(...objects());
  await viaSweep.post('/resync', ping());

  const viaEvents = harness();
  await viaEvents.seed(...objects());
  const { apiEvent } = await import('../support/harness.ts');
  for (const o of [...objects().reverse(), ...objects()]) {
    if (o.kind !== 'Pod' && o.kind !== 'Job') continue;
    const c = await viaEvents.post('/completion', apiEvent(o));
    if (c.status !== 200) continue;
    const l = await viaEvents.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!));
    if (l.status === 200) await viaEvents.post('/release', restoreEvent(l.reply!.type!, l.reply!.data, l.reply!.id!));
  }
  await viaEvents.post('/resync', ping());
  assert.is(snapshot(viaEvents), snapshot(viaSweep));
});

test('a converged sweep repeats nothing: no write, no Event once they expired, exhausted counted once', async () => {
  // a lease longer than the 11 minutes this test lets pass: renewals are the next test's business
  const h = harness({ RG_ANCHOR_DEADLINE_SECONDS: '21600' });
  const restore = restoreCr();
  // A generic Job that failed on its last allowed attempt: retry says exhausted.
  const lastPod = {
    scope: 'pod',
    state: 'failed',
    reason: 'Evicted',
    retryable: true,
    exitCode: null,
    node: 'node-1',
    pod: 'pg-0-x',
    uid: 'uid-pg-0-x',
    attempt: 3,
    finishedAt: '2026-11-29T10:00:05Z',
  };
  const exhausted = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0',
    claims: ['pg-0'],
    condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
    labels: { 'restoreguard.dev/retry': 'true' },
    annotations: { 'restoreguard.dev/outcome': JSON.stringify(lastPod), 'restoreguard.dev/attempt': '3' },
  });
  await h.seed(
    restorePod({ name: 'r-0', job: 'restore-0', node: 'node-0', claims: ['d0'] }),
    restorePod({ name: 'r-1', job: 'restore-1', node: 'node-1', restore: { exit: 0 }, claims: ['d1'] }),
    restoreJob({ name: 'restore-0', claims: ['d0'] }),
    restoreJob({ name: 'restore-1', claims: ['d1'] }),
    exhausted,
    pvc('d0'),
    pvc('d1'),
    pvc('pg-0'),
    restore,
  );
  const metric = async () => {
    const text = await (await h.server.app.request('/metrics')).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('restoreguard_retries_total{') && l.includes('decision="exhausted"'))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  };
  const events = () =>
    h.cluster
      .all('Event')
      .map(
        (e) =>
          `${(e as Record<string, any>).involvedObject.kind}/${(e as Record<string, any>).involvedObject.name} ${(e as Record<string, any>).reason}`,
      )
      .sort();

  await h.post('/resync', ping());
  assert.is((await h.cluster.get('Job', 'db', 'pg-0'))!.metadata.labels!['restoreguard.dev/state'], 'exhausted');
  assert.is((await h.cluster.get('Pod', 'db', 'r-1'))!.metadata.labels!['restoreguard.dev/state'], 'succeeded');
  // The outcomes' Events and retry's word on the exhausted Job; the two anchors the sweep made, on
  // KubeBlocks' Restore.
  assert.equal(events(), [
    'Job/pg-0 RestoreFailed',
    'Job/pg-0 RetryExhausted',
    'Job/restore-1 RestoreSucceeded',
    'Restore/mysql-restore AnchorCreated',
    'Restore/mysql-restore AnchorCreated',
  ]);
  assert.is(await metric(), 1);

  // Again at once: nothing new, the Events exist already.
  let n = h.cluster.writes.length;
  await h.post('/resync', ping());
  assert.equal(
    h.cluster.writes.slice(n).filter((w) => w.changed),
    [],
  );
  assert.is(await metric(), 1, 'exhausted is counted once');

  // The Events expired (TTL) and the records are older than 10 minutes: a sweep tells no one again.
  for (const e of h.cluster.all('Event')) await h.cluster.delete('Event', 'db', e.metadata.name);
  h.advance(11 * 60_000);
  n = h.cluster.writes.length;
  await h.post('/resync', ping());
  assert.equal(
    h.cluster.writes
      .slice(n)
      .filter((w) => w.changed)
      .map((w) => `${w.verb} ${w.kind}/${w.name}`),
    [],
  );
  assert.equal(events(), []);
  assert.is(await metric(), 1, 'still once');
});

/** Two running members of KubeBlocks group mysql-restore on node-0 and node-1, each with its Job and PVC, and their Restore. */
const seedTwoMembers = (h: ReturnType<typeof harness>, restore: KubeObject) =>
  h.seed(
    restorePod({ name: 'r-0', job: 'restore-0', node: 'node-0', claims: ['d0'] }),
    restorePod({ name: 'r-1', job: 'restore-1', node: 'node-1', claims: ['d1'] }),
    restoreJob({ name: 'restore-0', claims: ['d0'] }),
    restoreJob({ name: 'restore-1', claims: ['d1'] }),
    pvc('d0'),
    pvc('d1'),
    restore,
  );

test('a finished member whose pod is gone (release deleted it) keeps its footprint: its anchor is renewed while the group is in flight', async () => {
  const h = harness();
  await seedTwoMembers(h, restoreCr());
  await h.post('/resync', ping());
  // r-0 is gone (its restore finished and release deleted it); only its anchor holds its node
  await h.cluster.delete('Pod', 'db', 'r-0', {});
  h.advance(6 * 60_000);
  const refusedBefore = h.server.deps.metrics.refused.get({ verb: 'create', kind: 'Pod' }) ?? 0;
  await h.post('/resync', ping());
  const names = (await h.cluster.list('Pod', 'db', 'restoreguard.dev/anchor-for')).map((a) => a.metadata.name).sort();
  assert.equal(names, ['r-0-anchor-1', 'r-1-anchor-1'], "the gone member's anchor renewed like the running one's");
  const copy = (await h.cluster.get('Pod', 'db', 'r-0-anchor-1'))!;
  assert.is((copy.spec as any).nodeName, 'node-0');
  assert.is(copy.metadata.annotations!['restoreguard.dev/anchor-for-uid'], 'uid-r-0');
  assert.is(h.server.deps.metrics.refused.get({ verb: 'create', kind: 'Pod' }) ?? 0, refusedBefore, 'no write refused');
});

test('anchors are leases: a sweep renews one past half its lease, and replaces one that ended, while the group is in flight; a new generation first, then the old one goes', async () => {
  const h = harness();
  const restore = restoreCr();
  await seedTwoMembers(h, restore);
  const anchors = async () =>
    (await h.cluster.list('Pod', 'db', 'restoreguard.dev/anchor-for')).map((a) => a.metadata.name).sort();
  await h.post('/resync', ping());
  assert.equal(await anchors(), ['r-0-anchor', 'r-1-anchor']);
  // 4 minutes in: more than half of a 10-minute lease left, nothing to do
  h.advance(4 * 60_000);
  await h.post('/resync', ping());
  assert.equal(await anchors(), ['r-0-anchor', 'r-1-anchor']);
  // one of them ended (evicted, preempted or expired): replaced at once
  await h.cluster.patch('Pod', 'db', 'r-1-anchor', { status: { phase: 'Failed', reason: 'Evicted' } });
  await h.post('/resync', ping());
  assert.equal(await anchors(), ['r-0-anchor', 'r-1-anchor-1']);
  // 6 minutes in: r-0's lease is past half: renewed, the copy on the same node with a fresh lease
  h.advance(2 * 60_000);
  const n = h.cluster.writes.length;
  await h.post('/resync', ping());
  assert.equal(await anchors(), ['r-0-anchor-1', 'r-1-anchor-1']);
  const verbs = h.cluster.writes
    .slice(n)
    .filter((w) => w.changed)
    .map((w) => `${w.verb} ${w.kind}/${w.name}`);
  assert.equal(verbs, ['create Pod/r-0-anchor-1', 'delete Pod/r-0-anchor'], 'the copy exists before the old one goes');
  const copy = (await h.cluster.get('Pod', 'db', 'r-0-anchor-1'))!;
  assert.is((copy.spec as any).nodeName, 'node-0');
  assert.is((copy.spec as any).activeDeadlineSeconds, 600);
  assert.is(copy.metadata.annotations!['restoreguard.dev/anchor-for-uid'], 'uid-r-0');
  assert.is(copy.metadata.annotations!['restoreguard.dev/generation'], '1');
  // the Restore is done: its anchors are deleted, never renewed
  await h.cluster.patch('Restore', 'db', 'mysql-restore', { status: { phase: 'Completed' } });
  h.advance(20 * 60_000);
  await h.post('/resync', ping());
  assert.equal(await anchors(), []);
});

/** Counts the cluster's reads (gets, and lists by kind and selector); call it before the first request. */
function countReads(h: ReturnType<typeof harness>) {
  const reads: string[] = [];
  const get = h.cluster.get.bind(h.cluster);
  const list = h.cluster.list.bind(h.cluster);
  h.cluster.get = (async (kind: string, ns: string, name: string) => {
    reads.push(`get ${kind}/${name}`);
    return get(kind as 'Pod', ns, name);
  }) as typeof h.cluster.get;
  h.cluster.list = (async (kind: string, ns: string | null, selector: string) => {
    reads.push(`list ${kind} ${selector}`);
    return list(kind as 'Pod', ns, selector);
  }) as typeof h.cluster.list;
  return reads;
}

test('a ping that arrives while a sweep runs is answered by it: one sweep at a time per process', async () => {
  const h = harness();
  await h.seed(
    restorePod({ name: 'r-0', job: 'restore-0', node: 'node-0', claims: ['d0'] }),
    restoreJob({ name: 'restore-0', claims: ['d0'] }),
    pvc('d0'),
  );
  const reads = countReads(h);
  const [a, b, c] = await Promise.all([
    h.post('/resync', ping()),
    h.post('/resync', ping()),
    h.post('/resync', ping()),
  ]);
  for (const r of [a, b, c]) assert.is(r.status, 202, r.text);
  // each sweep lists every Job of the namespace once
  assert.is(reads.filter((r) => r === 'list Job ').length, 1, reads.join('\n'));
  assert.equal(anchors(h), ['r-0-anchor']);
  // and the next ping sweeps again
  await h.post('/resync', ping());
  assert.is(reads.filter((r) => r === 'list Job ').length, 2);
});

test('a converged sweep reads nothing more for a recorded pod, nor for a group with no anchor left', async () => {
  // finished pods stay (not deleted), so the sweep meets the recorded pod again
  const h = harness({ RG_DELETE_FINISHED_PODS: 'false' });
  await h.seed(
    restorePod({
      profile: 'generic',
      group: 'pg',
      name: 'pg-0-x',
      job: 'pg-0',
      phase: 'Succeeded',
      restore: { exit: 0 },
      claims: ['pg-0'],
    }),
    restoreJob({ profile: 'generic', group: 'pg', name: 'pg-0', claims: ['pg-0'], condition: { type: 'Complete' } }),
    pvc('pg-0'),
  );
  const reads = countReads(h);
  await h.post('/resync', ping());
  await h.post('/resync', ping());
  const pod = await h.cluster.get('Pod', 'db', 'pg-0-x');
  assert.is(pod!.metadata.labels!['restoreguard.dev/state'], 'succeeded', 'a sweep recorded the pod');
  assert.equal(anchors(h), [], 'and released the group');
  reads.length = 0;
  await h.post('/resync', ping());
  // The sweep's own lists; the Job's record is checked again (its PVC), and release looks at the
  // finished pod; the pod's record (its Job, PVC and anchor reads) and the group (its Jobs, anchors
  // and members) are not read again.
  assert.equal(
    reads.filter((r) => !r.startsWith('list Pod') && r !== 'list Job '),
    ['get Pod/pg-0-x', 'get Job/pg-0', 'get PersistentVolumeClaim/pg-0'],
    reads.join('\n'),
  );
});

test.run();
