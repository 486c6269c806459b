import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventType } from '../../functions/core/restore/events.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { apiEvent, harness, restoreEvent } from '../support/harness.ts';
import { pvc, restoreCr, restoreJob, restorePod } from '../support/objects.ts';

type H = ReturnType<typeof harness>;

/** Member i of generic group pg: its pod (Job pg-i, node-i, PVC pg-i). */
const genericMember = (i: number, restore: 'running' | { exit: number }, phase = 'Pending') =>
  restorePod({
    profile: 'generic',
    group: 'pg',
    name: `pg-${i}-x`,
    job: `pg-${i}`,
    node: `node-${i}`,
    restore,
    phase,
    claims: [`pg-${i}`],
  });

/** completion → labeling → release for one object; returns release's answer. */
async function run(h: H, obj: KubeObject) {
  const c = await h.post('/completion', apiEvent(obj));
  if (c.status !== 200) return c;
  const l = await h.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!));
  if (l.status !== 200) return l;
  return h.post('/release', restoreEvent(l.reply!.type!, l.reply!.data, l.reply!.id!));
}

test('a finished pod is deleted only once its outcome is on the pod, the Job and the PVC', async () => {
  const h = harness();
  const running = restorePod({ restore: { exit: 0 } }); // restore done, sidecar still running
  await h.seed(running, restoreJob(), pvc('data-mysql-0'), restoreCr('Running'));
  await run(h, running);
  assert.ok(await h.cluster.get('Pod', 'db', running.metadata.name), 'a Running pod is kept');
  // The sidecar stops; the pod completes. The live pod keeps the labels written before.
  const live = (await h.cluster.get('Pod', 'db', running.metadata.name))!;
  const done = {
    ...restorePod({ restore: { exit: 0 }, helperRunning: false, phase: 'Succeeded' }),
    metadata: live.metadata,
  };
  h.cluster.observe(done as KubeObject);
  await run(h, done as KubeObject);
  assert.is(await h.cluster.get('Pod', 'db', running.metadata.name), null, 'deleted once recorded');
  assert.ok(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), 'the anchor stays while the group runs');
});

test("the pod's record is written last, so it stands for the others: a pod without it is kept", async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 }, helperRunning: false, phase: 'Succeeded' });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'), restoreCr('Running'));
  await run(h, pod);
  assert.is(await h.cluster.get('Pod', 'db', pod.metadata.name), null);
  // The Job's and the PVC's records were written before the pod's.
  const order = h.cluster.writes.filter((w) => w.verb === 'patch' && w.changed).map((w) => w.kind);
  assert.equal(order.slice(0, 3).sort(), ['Job', 'PersistentVolumeClaim', 'Pod']);
  assert.is(order.indexOf('Pod'), 2, `the pod's record comes last: ${order.join(', ')}`);
  // Now the same with the pod's record stripped before release looks.
  const h2 = harness();
  const pod2 = restorePod({ restore: { exit: 0 }, helperRunning: false, phase: 'Succeeded' });
  await h2.seed(pod2, restoreJob(), pvc('data-mysql-0'), restoreCr('Running'));
  const c = await h2.post('/completion', apiEvent(pod2));
  const l = await h2.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data));
  await h2.cluster.patch('Pod', 'db', pod2.metadata.name, {
    metadata: { labels: { 'restoreguard.dev/state': null } },
  });
  await h2.post('/release', restoreEvent(l.reply!.type!, l.reply!.data));
  assert.ok(await h2.cluster.get('Pod', 'db', pod2.metadata.name), 'kept: the pod has no record');
});

test('KubeBlocks group: anchors stay while the Restore runs, go when it is Completed', async () => {
  const h = harness();
  const pods = [0, 1, 2].map((i) =>
    restorePod({
      name: `restore-${i}-x`,
      job: `restore-${i}`,
      node: `node-${i}`,
      restore: 'running',
      phase: 'Pending',
      claims: [`data-${i}`],
    }),
  );
  await h.seed(
    ...pods,
    ...[0, 1, 2].map((i) => restoreJob({ name: `restore-${i}`, claims: [`data-${i}`] })),
    restoreCr('Running'),
  );
  for (const p of pods) await run(h, p);
  assert.is(h.cluster.all('Pod').filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for']).length, 3);
  const fin = restorePod({
    name: 'restore-2-x',
    job: 'restore-2',
    node: 'node-2',
    restore: { exit: 0 },
    claims: ['data-2'],
  });
  let r = await run(h, fin);
  assert.is(r.status, 202, 'not complete: the Restore is Running');
  await h.cluster.patch('Restore', 'db', 'mysql-restore', { status: { phase: 'Completed' } });
  // The same outcome again is a repeat: labeling says nothing, release is not run for it again.
  r = await run(h, fin);
  assert.is(r.status, 202, 'an exact repeat ends at labeling');
  // The pod finishing (the sidecar let go) is news: recorded again (no write), release deletes it;
  // the group is the Restore's business: its update to Completed releases the anchors.
  h.cluster.observe({ ...fin, status: { ...fin.status, phase: 'Succeeded' } } as KubeObject);
  r = await run(h, { ...fin, status: { ...fin.status, phase: 'Succeeded' } } as KubeObject);
  assert.is(r.status, 202, r.text);
  assert.is(await h.cluster.get('Pod', 'db', 'restore-2-x'), null, 'the finished pod is deleted');
  r = await h.post('/release', apiEvent(restoreCr('Completed') as KubeObject));
  assert.is(r.reply!.type, EventType.groupCompleted);
  assert.equal(r.reply!.data.anchorsDeleted.sort(), ['restore-0-x-anchor', 'restore-1-x-anchor', 'restore-2-x-anchor']);
  assert.is(h.cluster.all('Pod').filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for']).length, 0);
});

test('generic group without an owner: complete when every Job finished and is recorded', async () => {
  // pg-0's Job completes first; pg-1 still runs, so the group is not complete.
  const h = harness();
  const mk = genericMember;
  const jobs = [0, 1].map((i) => restoreJob({ profile: 'generic', group: 'pg', name: `pg-${i}`, claims: [`pg-${i}`] }));
  await h.seed(mk(0, 'running'), mk(1, 'running'), ...jobs);
  await run(h, mk(0, 'running'));
  await run(h, mk(1, 'running'));
  h.cluster.observe(mk(0, { exit: 0 }, 'Succeeded'));
  await run(h, mk(0, { exit: 0 }, 'Succeeded'));
  assert.is(
    h.cluster.all('Pod').filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for']).length,
    2,
    'pg-1 still running',
  );
  for (const i of [0, 1])
    h.cluster.observe({
      ...restoreJob({ profile: 'generic', group: 'pg', name: `pg-${i}`, condition: { type: 'Complete' } }),
      metadata: (await h.cluster.get('Job', 'db', `pg-${i}`))!.metadata,
    } as KubeObject);
  h.cluster.observe(mk(1, { exit: 0 }, 'Succeeded'));
  await run(h, (await h.cluster.get('Job', 'db', 'pg-0'))!);
  await run(h, mk(1, { exit: 0 }, 'Succeeded'));
  const r = await run(h, (await h.cluster.get('Job', 'db', 'pg-1'))!);
  // Both Jobs are Complete and carry a record (pg-1's from its pod): the group is done.
  assert.is(r.reply?.type, EventType.groupCompleted, r.text);
  assert.is(h.cluster.all('Pod').filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for']).length, 0);
  // A late event changes nothing, and says nothing: no anchor is left to release.
  const late = await h.post(
    '/release',
    restoreEvent(
      EventType.recorded,
      r.reply!.data
        ? { ...(await h.post('/completion', apiEvent((await h.cluster.get('Job', 'db', 'pg-0'))!))).reply!.data }
        : {},
    ),
  );
  assert.is(late.status, 202, late.text);
});

test('a group whose Jobs are recorded at once is checked once, plus one check queued behind it; one list per anti-affinity term, not one per anchor', async () => {
  const h = harness();
  const mk = genericMember;
  const ids = [0, 1, 2];
  await h.seed(
    ...ids.map((i) => mk(i, 'running')),
    ...ids.map((i) => restoreJob({ profile: 'generic', group: 'pg', name: `pg-${i}`, claims: [`pg-${i}`] })),
  );
  for (const i of ids) await run(h, mk(i, 'running'));
  for (const i of ids) {
    h.cluster.observe(mk(i, { exit: 0 }, 'Succeeded'));
    await run(h, mk(i, { exit: 0 }, 'Succeeded'));
  }
  const anchors = () => h.cluster.all('Pod').filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for']);
  assert.is(anchors().length, 3);
  // Each anchor excludes its own member: three different terms that differ only in that.
  const terms = new Set(anchors().map((a) => JSON.stringify((a.spec as any).affinity.podAntiAffinity)));
  assert.is(terms.size, 3);
  // Every Job ends at once; each one's record reaches release at the same moment.
  const recorded = [];
  for (const i of ids) {
    h.cluster.observe({
      ...restoreJob({ profile: 'generic', group: 'pg', name: `pg-${i}`, condition: { type: 'Complete' } }),
      metadata: (await h.cluster.get('Job', 'db', `pg-${i}`))!.metadata,
    } as KubeObject);
    const c = await h.post('/completion', apiEvent((await h.cluster.get('Job', 'db', `pg-${i}`))!));
    const l = await h.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!));
    assert.is(l.reply?.type, EventType.recorded, l.text);
    recorded.push(l.reply!);
  }
  h.cluster.reads.length = 0;
  h.cluster.writes.length = 0;
  const answers = await Promise.all(recorded.map((r) => h.post('/release', restoreEvent(r.type!, r.data, r.id!))));
  // The resulting state: every anchor gone, and the group's completion said once.
  assert.is(anchors().length, 0);
  assert.is(answers.filter((a) => a.reply?.type === EventType.groupCompleted).length, 1);
  const deletes = h.cluster.writes.filter((w) => w.verb === 'delete' && w.kind === 'Pod');
  assert.is(deletes.length, 3, `each anchor deleted once: ${deletes.map((d) => d.name).join(', ')}`);
  // The cost: one whole check (the group's Jobs, its pods, one list of Pods and one of Jobs for the
  // three anchors' one term, the constraint's anchors) and one queued behind it (Jobs, pods: none left).
  const lists = h.cluster.reads.filter((r) => r.verb === 'list').map((r) => `${r.kind}?${r.what}`);
  assert.is(lists.length, 7, lists.join('\n'));
  assert.is(lists.filter((l) => l.includes('notin')).length, 0, 'the sibling lists drop the member exclusion');
});

test("a failed attempt's anchor goes at once, so the Job's next pod is not repelled by it", async () => {
  const h = harness();
  const placed = restorePod({ restore: 'running', phase: 'Pending' });
  await h.seed(placed, restoreJob(), pvc('data-mysql-0'), restoreCr('Running'));
  await run(h, placed);
  assert.ok(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'));
  const failed = restorePod({ restore: { exit: 1 }, helperRunning: false, phase: 'Failed' });
  h.cluster.observe(failed);
  await run(h, failed);
  assert.is(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), null);
  // KubeBlocks' log collector reads the failed pod into the Restore's status; KubeBlocks deletes it with its Job
  const kept = await h.cluster.get('Pod', 'db', failed.metadata.name);
  assert.ok(kept, "a KubeBlocks failed pod stays for KubeBlocks' own log collector");
  assert.is(kept!.metadata.labels?.['restoreguard.dev/state'], 'failed', 'recorded all the same');
});

test('a generic failed pod is released once recorded (its anchor with it)', async () => {
  const h = harness();
  const job = restoreJob({ profile: 'generic', group: 'pg' });
  const placed = restorePod({ profile: 'generic', group: 'pg', restore: 'running', phase: 'Pending' });
  await h.seed(placed, job, pvc('data-mysql-0'));
  await run(h, placed);
  assert.ok(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'));
  const failed = restorePod({ profile: 'generic', group: 'pg', restore: { exit: 1 }, phase: 'Failed' });
  h.cluster.observe(failed);
  await run(h, failed);
  assert.is(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), null);
  assert.is(await h.cluster.get('Pod', 'db', failed.metadata.name), null, 'the failed pod is released once recorded');
});

test("KubeBlocks: the Restore's own update to Completed releases the anchors at once", async () => {
  const h = harness();
  const pod = restorePod({ restore: 'running', phase: 'Pending' });
  await h.seed(pod, restoreJob(), restoreCr('Running'));
  await run(h, pod);
  assert.ok(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'));
  const running = await h.post('/release', apiEvent(restoreCr('Running') as KubeObject));
  assert.is(running.status, 202);
  await h.cluster.patch('Restore', 'db', 'mysql-restore', { status: { phase: 'Completed' } });
  const done = await h.post('/release', apiEvent(restoreCr('Completed') as KubeObject));
  assert.is(done.reply?.type, EventType.groupCompleted, done.text);
  assert.is(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), null);
  // Told on the Restore, once (a repeat collides on the Event's name).
  await h.post('/release', apiEvent(restoreCr('Completed') as KubeObject));
  const told = h.cluster.all('Event').filter((e: any) => e.reason === 'AnchorsReleased');
  assert.is(told.length, 1);
  assert.is((told[0] as any).involvedObject.kind, 'Restore');
  assert.match((told[0] as any).message, /1 anchor released: restore-0-abcde-anchor/);
  const wrong = await h.post('/release', apiEvent(restoreJob() as KubeObject));
  assert.is(wrong.status, 400, 'only Restores come to release from the API server');
});

test('one component, two Restores (instance templates): the first one done keeps its anchors while the second restores, both go with the second', async () => {
  const h = harness();
  const cr = (name: string, phase: string) => restoreCr(phase, name);
  const a = restorePod({
    name: 'a-0-x',
    job: 'a-0',
    group: 'tpl-a',
    claims: ['data-a-0'],
    restore: 'running',
    phase: 'Pending',
  });
  const b = restorePod({
    name: 'b-0-x',
    job: 'b-0',
    group: 'tpl-b',
    node: 'node-2',
    claims: ['data-b-0'],
    restore: 'running',
  });
  await h.seed(
    a,
    b,
    restoreJob({ name: 'a-0', group: 'tpl-a', claims: ['data-a-0'] }),
    restoreJob({ name: 'b-0', group: 'tpl-b', claims: ['data-b-0'] }),
    pvc('data-a-0'),
    pvc('data-b-0'),
    cr('tpl-a', 'Running') as KubeObject,
    cr('tpl-b', 'Running') as KubeObject,
  );
  await run(h, a);
  await run(h, b);
  const anchors = async () =>
    (await h.cluster.list('Pod', 'db', 'restoreguard.dev/anchor-for')).map((p) => p.metadata.name).sort();
  assert.equal(await anchors(), ['a-0-x-anchor', 'b-0-x-anchor']);
  // template A ends: its Restore is Completed, but B's pod is still restoring under the same anti-affinity
  await h.cluster.patch('Pod', 'db', 'a-0-x', { status: { phase: 'Succeeded' } });
  await h.cluster.patch('Restore', 'db', 'tpl-a', { status: { phase: 'Completed' } });
  const heldA = await h.post('/release', apiEvent(cr('tpl-a', 'Completed') as KubeObject));
  assert.is(heldA.status, 202, heldA.text);
  assert.equal(await anchors(), ['a-0-x-anchor', 'b-0-x-anchor'], "A's anchor stays while B restores");
  assert.ok(h.log.lines.some((l) => l.msg === 'group complete; anchors held for a restore under the same constraint'));
  // template B ends: both groups' anchors go
  await h.cluster.patch('Pod', 'db', 'b-0-x', { status: { phase: 'Succeeded' } });
  await h.cluster.patch('Restore', 'db', 'tpl-b', { status: { phase: 'Completed' } });
  const doneB = await h.post('/release', apiEvent(cr('tpl-b', 'Completed') as KubeObject));
  assert.is(doneB.reply?.type, EventType.groupCompleted, doneB.text);
  assert.equal(await anchors(), [], 'both go with the last');
});

test('finished Jobs are deleted by policy only, with their group', async () => {
  for (const [env, expectDeleted] of [
    [{}, false],
    [{ RG_DELETE_FINISHED_JOBS: 'true' }, true],
  ] as const) {
    const h = harness(env);
    const job = restoreJob({ condition: { type: 'Complete' } });
    await h.seed(job, restoreCr('Running'));
    await run(h, job);
    assert.ok(await h.cluster.get('Job', 'db', 'restore-0'), 'kept while the group runs');
    await h.cluster.patch('Restore', 'db', 'mysql-restore', { status: { phase: 'Completed' } });
    const done = await h.post('/release', apiEvent(restoreCr('Completed') as KubeObject));
    // Without anchors there is nothing to release, unless finished Jobs go by policy.
    assert.is(done.reply?.type, expectDeleted ? EventType.groupCompleted : undefined, done.text);
    assert.is((await h.cluster.get('Job', 'db', 'restore-0')) === null, expectDeleted);
  }
});

const anchorsOf = (h: H) =>
  h.cluster
    .all('Pod')
    .filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for'])
    .map((p) => p.metadata.name)
    .sort();

test('a failed pod that is gone takes its own anchor (by uid), never the anchor of a successor with the same name', async () => {
  // Gone: the anchor stands for the failed pod's uid, so it goes.
  const h = harness();
  const placed = restorePod({ restore: 'running', phase: 'Pending' });
  await h.seed(placed, restoreJob(), pvc('data-mysql-0'), restoreCr('Running'));
  await run(h, placed);
  const anchor = (await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'))!;
  assert.is(anchor.metadata.annotations!['restoreguard.dev/anchor-for-uid'], placed.metadata.uid);
  await h.cluster.delete('Pod', 'db', placed.metadata.name); // the pod is gone before its failure is released
  const failed = restorePod({ restore: { exit: 1 }, helperRunning: false, phase: 'Failed' });
  const r = await run(h, failed);
  assert.is(r.status, 202, 'the group is not complete (the Restore runs)');
  assert.equal(anchorsOf(h), [], "the failed pod's anchor is deleted");

  // A successor pod with the same name (another uid) is placed: its anchor stays.
  const h2 = harness();
  const successor = restorePod({ restore: 'running', uid: 'uid-successor', node: 'node-2' });
  await h2.seed(successor, restoreJob(), pvc('data-mysql-0'), restoreCr('Running'));
  await run(h2, successor);
  assert.is(
    (await h2.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'))!.metadata.annotations![
      'restoreguard.dev/anchor-for-uid'
    ],
    'uid-successor',
  );
  const oldFailure = restorePod({
    restore: { exit: 1 },
    helperRunning: false,
    phase: 'Failed',
    uid: 'uid-predecessor',
  });
  const r2 = await run(h2, oldFailure);
  assert.is(r2.status, 202, r2.text);
  assert.equal(anchorsOf(h2), ['restore-0-abcde-anchor'], "the successor's anchor stays");
  assert.is(
    (await h2.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'))!.metadata.annotations![
      'restoreguard.dev/anchor-for-uid'
    ],
    'uid-successor',
  );
  assert.is(
    (await h2.cluster.get('Pod', 'db', 'restore-0-abcde'))!.metadata.uid,
    'uid-successor',
    'and the successor itself',
  );
});

test('RG_DELETE_FINISHED_JOBS: a finished Job that owns an anchor is kept while the group runs, deleted once its anchors are', async () => {
  const h = harness({ RG_DELETE_FINISHED_JOBS: 'true' });
  const mk = genericMember;
  await h.seed(
    mk(0, 'running'),
    mk(1, 'running'),
    ...[0, 1].map((i) => restoreJob({ profile: 'generic', group: 'pg', name: `pg-${i}`, claims: [`pg-${i}`] })),
  );
  await run(h, mk(0, 'running'));
  await run(h, mk(1, 'running'));
  assert.equal(anchorsOf(h), ['pg-0-x-anchor', 'pg-1-x-anchor']);
  assert.equal((await h.cluster.get('Pod', 'db', 'pg-0-x-anchor'))!.metadata.ownerReferences, [
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      name: 'pg-0',
      uid: 'uid-pg-0',
      controller: false,
      blockOwnerDeletion: false,
    },
  ]);
  const complete = async (i: number) =>
    h.cluster.observe({
      ...restoreJob({
        profile: 'generic',
        group: 'pg',
        name: `pg-${i}`,
        claims: [`pg-${i}`],
        condition: { type: 'Complete' },
      }),
      metadata: (await h.cluster.get('Job', 'db', `pg-${i}`))!.metadata,
    } as KubeObject);
  // pg-0 finishes: pod, then Job. pg-1 still runs.
  h.cluster.observe(mk(0, { exit: 0 }, 'Succeeded'));
  await run(h, mk(0, { exit: 0 }, 'Succeeded'));
  await complete(0);
  const r = await run(h, (await h.cluster.get('Job', 'db', 'pg-0'))!);
  assert.is(r.status, 202, r.text);
  const kept = await h.cluster.get('Job', 'db', 'pg-0');
  assert.ok(kept, 'kept: deleting it would take its anchor along');
  assert.is(kept!.metadata.labels!['restoreguard.dev/state'], 'succeeded');
  assert.equal(anchorsOf(h), ['pg-0-x-anchor', 'pg-1-x-anchor']);
  // pg-1 finishes: the group is complete, the anchors go, then the finished Jobs.
  await complete(1);
  h.cluster.observe(mk(1, { exit: 0 }, 'Succeeded'));
  // The pod's record leaves the group to its Job's: that event completes it.
  assert.is((await run(h, mk(1, { exit: 0 }, 'Succeeded'))).status, 202);
  const done = await run(h, (await h.cluster.get('Job', 'db', 'pg-1'))!);
  assert.is(done.reply?.type, EventType.groupCompleted, done.text);
  assert.equal(anchorsOf(h), []);
  assert.is(await h.cluster.get('Job', 'db', 'pg-0'), null, 'deleted once its anchor is gone');
  assert.is(await h.cluster.get('Job', 'db', 'pg-1'), null);
  const order = h.cluster.writes.filter((w) => w.verb === 'delete' && w.changed).map((w) => `${w.kind}/${w.name}`);
  assert.ok(order.indexOf('Pod/pg-0-x-anchor') < order.indexOf('Job/pg-0'), order.join(', '));
});

/** A generic group: pg-0 done (its anchor stands), pg-1's Job Failed, opted in to retries. */
function failedGroup(h: H, pg1: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}) {
  const sibling = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'pg-0-x-anchor',
      namespace: 'db',
      labels: { 'restoreguard.dev/anchor-for': 'pg-0-x', 'restoreguard.dev/group': 'pg' },
      annotations: { 'restoreguard.dev/profile': 'generic', 'restoreguard.dev/anchor-for-uid': 'uid-pg-0-x' },
    },
    spec: { nodeName: 'node-0' },
    status: { phase: 'Running' },
  } as KubeObject;
  const done = {
    scope: 'job',
    state: 'succeeded',
    reason: null,
    retryable: false,
    pod: null,
    uid: 'uid-pg-0',
    attempt: 1,
  };
  return h.seed(
    sibling,
    restoreJob({
      profile: 'generic',
      group: 'pg',
      name: 'pg-0',
      claims: ['pg-0'],
      condition: { type: 'Complete' },
      labels: { 'restoreguard.dev/state': 'succeeded', 'restoreguard.dev/group': 'pg' },
      annotations: { 'restoreguard.dev/outcome': JSON.stringify(done) },
    }),
    restoreJob({
      profile: 'generic',
      group: 'pg',
      name: 'pg-1',
      claims: ['pg-1'],
      condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
      // as labeling leaves a recorded Job: with its group label
      labels: { 'restoreguard.dev/retry': 'true', 'restoreguard.dev/group': 'pg', ...pg1.labels },
      annotations: pg1.annotations,
    }),
    pvc('pg-0'),
    pvc('pg-1'),
  );
}

test("a failed Job opted in to retries: neither its pod's record nor its own completes the group; retry's word does", async () => {
  for (const exit of [1, 127]) {
    const h = harness();
    await failedGroup(h);
    const pod = restorePod({
      profile: 'generic',
      group: 'pg',
      name: 'pg-1-x',
      job: 'pg-1',
      node: 'node-1',
      restore: { exit },
      phase: 'Failed',
      claims: ['pg-1'],
    });
    h.cluster.observe(pod);
    const r = await run(h, pod);
    assert.is(r.status, 202, `exit ${exit}: ${r.text}`);
    const job = (await h.cluster.get('Job', 'db', 'pg-1'))!;
    assert.is(job.metadata.labels!['restoreguard.dev/state'], 'failed');
    assert.is(
      JSON.parse(job.metadata.annotations!['restoreguard.dev/outcome']!).scope,
      'pod',
      "the pod's record reached the Job first",
    );
    assert.equal(
      anchorsOf(h),
      ['pg-0-x-anchor'],
      `exit ${exit}: the sibling's anchor stays while the Job's own end is unknown`,
    );
    // The Job's own failure is recorded: the group still waits for retry's decision.
    const failedJob = (await h.cluster.get('Job', 'db', 'pg-1'))!;
    const j = await run(h, failedJob);
    assert.is(
      JSON.parse((await h.cluster.get('Job', 'db', 'pg-1'))!.metadata.annotations!['restoreguard.dev/outcome']!).scope,
      'job',
    );
    assert.is(j.status, 202, `exit ${exit}: retry has not spoken yet`);
    assert.equal(anchorsOf(h), ['pg-0-x-anchor']);
    const c = await h.post('/completion', apiEvent((await h.cluster.get('Job', 'db', 'pg-1'))!));
    const rt = await h.post('/retry', restoreEvent(EventType.failed, c.reply!.data));
    if (exit === 1) {
      assert.is(rt.reply?.type, EventType.retryScheduled, rt.text);
      assert.ok(await h.cluster.get('Job', 'db', 'pg-1-retry-1'));
      assert.equal(anchorsOf(h), ['pg-0-x-anchor'], 'the retry Job is a member still to run');
    } else {
      assert.is(rt.reply?.type, EventType.retrySkipped, rt.text);
      const r2 = await h.post('/release', restoreEvent(rt.reply!.type!, rt.reply!.data));
      assert.is(r2.reply?.type, EventType.groupCompleted, `exit 127 is not retried: ${r2.text}`);
      assert.equal(anchorsOf(h), []);
    }
  }
});

test('a Job whose own outcome says retryable but whose last pod failure is not (exit 127): retry skips, says so, and the group completes', async () => {
  const h = harness();
  const history = JSON.stringify([
    {
      pod: 'pg-1-a',
      uid: 'uid-a',
      scope: 'pod',
      state: 'failed',
      reason: 'Evicted',
      exitCode: null,
      retryable: true,
      node: 'node-2',
      attempt: 1,
      finishedAt: '2026-11-29T10:00:02Z',
    },
    {
      pod: 'pg-1-x',
      uid: 'uid-x',
      scope: 'pod',
      state: 'failed',
      reason: 'Error',
      exitCode: 127,
      retryable: false,
      node: 'node-1',
      attempt: 1,
      finishedAt: '2026-11-29T10:00:05Z',
    },
  ]);
  const own = {
    scope: 'job',
    state: 'failed',
    reason: 'BackoffLimitExceeded',
    retryable: true,
    exitCode: null,
    node: null,
    pod: null,
    uid: 'uid-pg-1',
    containers: [],
    attempt: 1,
    finishedAt: '2026-11-29T10:00:05Z',
  };
  await failedGroup(h, {
    labels: { 'restoreguard.dev/state': 'failed' },
    annotations: { 'restoreguard.dev/history': history, 'restoreguard.dev/outcome': JSON.stringify(own) },
  });
  const c = await h.post('/completion', apiEvent((await h.cluster.get('Job', 'db', 'pg-1'))!));
  assert.is(c.reply?.type, EventType.failed, c.text);
  const r = await h.post('/release', restoreEvent(EventType.recorded, c.reply!.data));
  assert.is(r.status, 202, 'waits for retry');
  const rt = await h.post('/retry', restoreEvent(EventType.failed, c.reply!.data));
  assert.is(rt.reply?.type, EventType.retrySkipped, rt.text);
  assert.match(
    (await h.cluster.get('Job', 'db', 'pg-1'))!.metadata.annotations!['restoreguard.dev/retry-skipped']!,
    /not retryable/,
  );
  // A later judgement of the same Job (say, retryable again) gets the same answer: the decision sticks.
  const again = await h.post('/retry', restoreEvent(EventType.failed, { ...c.reply!.data, retryable: true }));
  assert.is(again.reply?.type, EventType.retrySkipped, again.text);
  assert.is(await h.cluster.get('Job', 'db', 'pg-1-retry-1'), null);
  const done = await h.post('/release', restoreEvent(rt.reply!.type!, rt.reply!.data));
  assert.is(done.reply?.type, EventType.groupCompleted, done.text);
  assert.equal(anchorsOf(h), [], 'no 6-hour wait for a retry that retry skipped');
});

test('a group that is not a label value (a selector pasted into it) is refused: no anchor of a running group goes', async () => {
  const h = harness();
  const pods = [0, 1].map((i) =>
    restorePod({ name: `restore-${i}-x`, job: `restore-${i}`, node: `node-${i}`, claims: [`data-${i}`] }),
  );
  await h.seed(...pods, ...[0, 1].map((i) => restoreJob({ name: `restore-${i}`, claims: [`data-${i}`] })));
  for (const p of pods) await run(h, p);
  const anchors = () => h.cluster.all('Pod').filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for']);
  assert.is(anchors().length, 2);
  const c = await h.post('/completion', apiEvent(pods[0]!));
  const forged = { ...c.reply!.data, state: 'succeeded', group: 'mysql-restore,restoreguard.dev/anchor-for' };
  const r = await h.post('/release', restoreEvent(EventType.recorded, forged));
  assert.is(r.status, 400, r.text);
  assert.is(anchors().length, 2, 'a recorded event with a selector for a group deletes nothing');
  // The same string as the name of a Restore in an update from the API server.
  const restore = { ...restoreCr('Running'), metadata: { ...restoreCr('Running').metadata, name: forged.group } };
  const u = await h.post('/release', apiEvent(restore as KubeObject));
  assert.is(u.status, 400, u.text);
  assert.is(anchors().length, 2, 'nor does a Restore named so');
  for (const bad of [
    { namespace: 'db,x' },
    { pod: 'Restore-0' },
    { job: 'a/b' },
    { claims: ['../x'] },
    { node: 'n 1' },
  ]) {
    const e = await h.post('/release', restoreEvent(EventType.recorded, { ...c.reply!.data, ...bad }));
    assert.is(e.status, 400, `${JSON.stringify(bad)}: ${e.text}`);
  }
});

test('a pod-scope failure of a pod that succeeded (gone, or live) never takes its anchor', async () => {
  const h = harness();
  const done = restorePod({ restore: { exit: 0 }, helperRunning: false, phase: 'Succeeded' });
  await h.seed(done, restoreJob(), pvc('data-mysql-0'), restoreCr('Running'));
  const c = await h.post('/completion', apiEvent(done));
  await h.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!));
  assert.equal(anchorsOf(h), ['restore-0-abcde-anchor'], 'anchored at success');
  // Live and recorded as succeeded: a forged failure of it keeps the anchor.
  const forged = { ...c.reply!.data, state: 'failed', reason: 'Error', exitCode: 1, retryable: true };
  const live = await h.post('/release', restoreEvent(EventType.recorded, forged));
  assert.is(live.status, 202, live.text);
  assert.equal(anchorsOf(h), ['restore-0-abcde-anchor'], 'a live pod that succeeded keeps its anchor');
  // Gone (released once recorded), its success in the Job's history: a forged failure keeps the anchor too.
  await h.post('/release', restoreEvent(EventType.recorded, c.reply!.data));
  assert.is(await h.cluster.get('Pod', 'db', done.metadata.name), null, 'released once recorded');
  const gone = await h.post('/release', restoreEvent(EventType.recorded, forged));
  assert.is(gone.status, 202, gone.text);
  assert.equal(anchorsOf(h), ['restore-0-abcde-anchor'], 'a gone pod whose record says succeeded keeps its anchor');
});

test('a pod labelled succeeded whose restore exited 1 is not released as a success: release judges the live pod', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 1 }, helperRunning: false, phase: 'Failed' });
  const ok = restorePod({ restore: { exit: 0 }, helperRunning: false, phase: 'Succeeded' });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'), restoreCr('Running'));
  // What a forged success left before: a success record on the Pod, the Job and the PVC.
  const c = await h.post('/completion', apiEvent(ok));
  const d = c.reply!.data;
  const text = JSON.stringify({ ...d, recordedAt: '2026-11-29T10:00:06Z' });
  await h.cluster.patch('Pod', 'db', pod.metadata.name, {
    metadata: { labels: { 'restoreguard.dev/state': 'succeeded' }, annotations: { 'restoreguard.dev/outcome': text } },
  });
  await h.cluster.patch('Job', 'db', 'restore-0', {
    metadata: {
      annotations: {
        'restoreguard.dev/outcome': text,
        'restoreguard.dev/history': JSON.stringify([{ ...d, scope: 'pod' }]),
      },
    },
  });
  await h.cluster.patch('PersistentVolumeClaim', 'db', 'data-mysql-0', {
    metadata: { annotations: { 'restoreguard.dev/outcome': text } },
  });
  const r = await h.post('/release', restoreEvent(EventType.recorded, d));
  assert.is(r.status, 202, r.text);
  assert.ok(await h.cluster.get('Pod', 'db', pod.metadata.name), 'kept: its record is not what the live pod says');
});

test.run();
