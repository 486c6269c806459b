import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventType } from '../../functions/core/restore/events.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { apiEvent, harness, restoreEvent } from '../support/harness.ts';
import { pvc, restoreCr, restoreJob, restorePod } from '../support/objects.ts';

/** completion → labeling, as the Broker would chain them. */
async function chain(h: ReturnType<typeof harness>, obj: KubeObject) {
  const c = await h.post('/completion', apiEvent(obj));
  assert.is(c.status, 200, c.text);
  const ev = restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!);
  return { completion: c, labeling: await h.post('/labeling', ev), event: ev };
}

test('placed: an anchor on the same node repelling what the pod repels but its own member, owned by the Job', async () => {
  const h = harness();
  const pod = restorePod({ restore: 'running', phase: 'Pending' });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  const r = await chain(h, pod);
  assert.is(r.completion.reply!.type, EventType.placed);
  assert.is(r.labeling.status, 202);
  const anchor = await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor');
  assert.ok(anchor, 'anchor exists');
  const spec = anchor!.spec as Record<string, any>;
  // The labels the group's selectors look at (never the Job controller's), ours, the constraint and
  // the member; and its own anti-affinity, which excludes its member (the hand-over).
  const { 'restoreguard.dev/constraint': constraint, ...labels } = anchor!.metadata.labels!;
  assert.equal(labels, {
    'app.kubernetes.io/instance': 'mysql',
    'dataprotection.kubeblocks.io/restore': 'mysql-restore',
    'restoreguard.dev/anchor-for': 'restore-0-abcde',
    'restoreguard.dev/group': 'mysql-restore',
    'restoreguard.dev/anchor-member': 'restore-0',
  });
  assert.match(constraint ?? '', /^[0-9a-f]{16}$/, 'the constraint it holds, for groups that share it');
  assert.equal(spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution, [
    {
      labelSelector: {
        matchLabels: { 'app.kubernetes.io/instance': 'mysql' },
        matchExpressions: [
          { key: 'dataprotection.kubeblocks.io/restore', operator: 'Exists' },
          { key: 'batch.kubernetes.io/job-name', operator: 'NotIn', values: ['restore-0'] },
        ],
      },
      topologyKey: 'kubernetes.io/hostname',
    },
  ]);
  assert.is(spec.nodeName, 'node-1');
  assert.is(spec.priorityClassName, 'high');
  assert.equal(spec.tolerations, pod.spec.tolerations);
  assert.is(spec.activeDeadlineSeconds, 600, 'a lease of 10 minutes, renewed by resync while the group runs');
  assert.equal(spec.containers[0].resources.requests, { cpu: '1m', memory: '8Mi' });
  assert.is(spec.containers[0].securityContext.allowPrivilegeEscalation, false);
  assert.equal(spec.containers[0].securityContext.capabilities, { drop: ['ALL'] });
  assert.is(spec.securityContext.runAsNonRoot, true);
  assert.is(spec.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(anchor!.metadata.ownerReferences, [
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      name: 'restore-0',
      uid: 'uid-restore-0',
      controller: false,
      blockOwnerDeletion: false,
    },
  ]);
});

test("placed: RG_ANCHOR_PRIORITY_CLASS gives anchors their own PriorityClass instead of the restore pod's", async () => {
  const h = harness({ RG_ANCHOR_PRIORITY_CLASS: 'restore-anchors' });
  const pod = restorePod({ restore: 'running', phase: 'Pending' });
  assert.is(pod.spec.priorityClassName, 'high', "the restore pod's own class, which anchors take by default");
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  const r = await chain(h, pod);
  assert.is(r.labeling.status, 202, r.labeling.text);
  const anchor = await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor');
  assert.is((anchor!.spec as Record<string, any>).priorityClassName, 'restore-anchors');
});

test('placed: the Restore owns the anchor as controller when it exists (KubeBlocks)', async () => {
  const h = harness();
  const pod = restorePod({ phase: 'Pending' });
  const restore = restoreCr();
  await h.seed(pod, restoreJob(), restore);
  await chain(h, pod);
  const anchor = await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor');
  assert.is(anchor!.metadata.ownerReferences![0]!.kind, 'Restore');
  assert.is(anchor!.metadata.ownerReferences![0]!.controller, true);
});

test("succeeded (KubeBlocks): the Restore, the anchor's owner, is read only when an anchor must be made", async () => {
  const h = harness();
  const restore = restoreCr();
  const placed = restorePod({ phase: 'Pending' });
  await h.seed(placed, restoreJob(), pvc('data-mysql-0'), restore);
  await chain(h, placed);
  assert.ok(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'));
  const done = { ...restorePod({ restore: { exit: 0 } }), metadata: placed.metadata };
  h.cluster.observe(done as KubeObject);
  h.cluster.reads.length = 0;
  assert.is((await chain(h, done as KubeObject)).labeling.reply?.type, EventType.recorded);
  const restoreReads = () => h.cluster.reads.filter((r) => r.kind === 'Restore').length;
  assert.is(restoreReads(), 0, 'its anchor stands: the Restore is not read');
  // A finished pod whose anchor is gone gets one, owned by the Restore as at placement.
  const h2 = harness();
  const pod = restorePod({ restore: { exit: 0 } });
  await h2.seed(pod, restoreJob(), pvc('data-mysql-0'), restore);
  await chain(h2, pod);
  const anchor = await h2.cluster.get('Pod', 'db', 'restore-0-abcde-anchor');
  assert.is(anchor?.metadata.ownerReferences?.[0]?.kind, 'Restore');
  assert.is(h2.cluster.reads.filter((r) => r.kind === 'Restore').length, 1);
});

test('placed again and again: one anchor, and the repeats write nothing', async () => {
  const h = harness();
  const pod = restorePod({ phase: 'Pending' });
  await h.seed(pod, restoreJob());
  await chain(h, pod);
  const before = h.cluster.writes.filter((w) => w.changed).length;
  await chain(h, pod);
  await chain(h, { ...pod, metadata: { ...pod.metadata, resourceVersion: '99' } });
  assert.is(h.cluster.writes.filter((w) => w.changed).length, before);
  assert.is(h.cluster.all('Pod').filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for']).length, 1);
});

test('no inter-pod rules: no anchor', async () => {
  const h = harness();
  const pod = restorePod({ antiAffinity: false, phase: 'Pending' });
  await h.seed(pod, restoreJob());
  await chain(h, pod);
  assert.is(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), null);
});

test('a late succeeded event for a pod its Job already records makes no anchor again (its group may be complete, its anchors released)', async () => {
  // Found by the chaos suite (npm run chaos): the Job and PVC records landed, the pod's own label
  // write was refused by the API server, release completed the group and deleted its anchors, and a
  // redelivered event then anchored the finished pod again, holding its node after the group.
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 } });
  const job = restoreJob();
  job.metadata.annotations = {
    ...job.metadata.annotations,
    'restoreguard.dev/history': JSON.stringify([
      {
        pod: pod.metadata.name,
        uid: pod.metadata.uid,
        scope: 'pod',
        state: 'succeeded',
        reason: null,
        node: 'node-1',
        attempt: 1,
      },
    ]),
  };
  await h.seed(pod, job, pvc('data-mysql-0'));
  const r = await chain(h, pod);
  assert.is(r.completion.reply!.type, EventType.succeeded);
  assert.is(r.labeling.status, 200, r.labeling.text);
  assert.is(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), null, 'no anchor made again');
  const live = await h.cluster.get('Pod', 'db', pod.metadata.name);
  assert.is(live!.metadata.labels!['restoreguard.dev/state'], 'succeeded', 'the pod still gets its record');
});

test('succeeded while the sidecar runs: anchor, records on Pod, Job and PVC, an Event, then the early stop', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  const r = await chain(h, pod);
  assert.is(r.completion.reply!.type, EventType.succeeded);
  assert.is(r.labeling.status, 200);
  assert.is(r.labeling.reply!.type, EventType.recorded);
  const live = await h.cluster.get('Pod', 'db', pod.metadata.name);
  assert.is(live!.metadata.labels!['restoreguard.dev/state'], 'succeeded');
  assert.is(live!.metadata.annotations!['dataprotection.kubeblocks.io/stop-restore-manager'], 'true');
  const outcome = JSON.parse(live!.metadata.annotations!['restoreguard.dev/outcome']!);
  assert.is(outcome.state, 'succeeded');
  assert.is(outcome.node, 'node-1');
  assert.is(outcome.durationSeconds, 5);
  assert.equal(
    outcome.containers.map((c: { name: string; exitCode: number }) => [c.name, c.exitCode]),
    [['restore', 0]],
  );
  const job = await h.cluster.get('Job', 'db', 'restore-0');
  assert.is(job!.metadata.labels!['restoreguard.dev/state'], 'succeeded');
  assert.is(JSON.parse(job!.metadata.annotations!['restoreguard.dev/history']!)[0].uid, pod.metadata.uid);
  const claim = await h.cluster.get('PersistentVolumeClaim', 'db', 'data-mysql-0');
  assert.is(JSON.parse(claim!.metadata.annotations!['restoreguard.dev/outcome']!).pod, pod.metadata.name);
  // Two Events on the Job: the anchor made for the pod (RG_ANCHOR_EVENTS), then the outcome.
  const events = h.cluster.all('Event') as Record<string, any>[];
  assert.equal(events.map((e) => e.reason).sort(), ['AnchorCreated', 'RestoreSucceeded']);
  assert.equal(
    events.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}`),
    ['Job/restore-0', 'Job/restore-0'],
  );
  const anchorEvent = events.find((e) => e.reason === 'AnchorCreated')!;
  assert.match(anchorEvent.message, /anchor restore-0-abcde-anchor holds node node-1 for restore pod restore-0-abcde/);
  assert.ok(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), 'anchor created before the stop');
  // The order matters: the anchor exists before the stop annotation lets the pod finish.
  const order = h.cluster.writes.filter((w) => w.changed).map((w) => `${w.verb} ${w.kind}`);
  assert.ok(order.indexOf('create Pod') < order.lastIndexOf('patch Pod'), order.join(', '));
});

test('RG_ANCHOR_EVENTS=false: the anchor is made and tells no Event', async () => {
  const h = harness({ RG_ANCHOR_EVENTS: 'false' });
  const pod = restorePod({ restore: { exit: 0 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  await chain(h, pod);
  assert.ok(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'));
  assert.equal(
    (h.cluster.all('Event') as Record<string, any>[]).map((e) => e.reason),
    ['RestoreSucceeded'],
  );
});

test('succeeded twice (redelivery, fresh memory): converges with no new writes', async () => {
  const h = harness({ RG_DEDUP_SIZE: '0' });
  const pod = restorePod({ restore: { exit: 0 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  await chain(h, pod);
  const n = h.cluster.writes.filter((w) => w.changed).length;
  const again = await chain(h, pod);
  assert.is(again.labeling.status, 200);
  assert.is(h.cluster.writes.filter((w) => w.changed).length, n);
});

test('the same outcome delivered concurrently is recorded once; exact repeats answer nothing', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  const c = await h.post('/completion', apiEvent(pod));
  const ev = restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!);
  const answers = await Promise.all([h.post('/labeling', ev), h.post('/labeling', ev), h.post('/labeling', ev)]);
  assert.equal(answers.map((a) => a.status).sort(), [200, 202, 202], 'one answer, two repeats');
  assert.is(
    h.cluster.writes.filter(
      (w) => w.verb === 'create' && w.kind === 'Event' && (w.body as { reason?: string }).reason === 'RestoreSucceeded',
    ).length,
    1,
    'one outcome Event create attempted',
  );
  assert.is(
    h.cluster.writes.filter(
      (w) => w.verb === 'patch' && w.kind === 'Pod' && JSON.stringify(w.body).includes('stop-restore-manager'),
    ).length,
    1,
    'one stop',
  );
  assert.is((await h.post('/labeling', ev)).status, 202, 'a later repeat too');
});

test('failed: stop at once, no anchor, the reason recorded', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 1 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  const r = await chain(h, pod);
  assert.is(r.completion.reply!.type, EventType.failed);
  assert.is(r.completion.reply!.data.reason, 'Error');
  assert.is(r.completion.reply!.data.retryable, true);
  const live = await h.cluster.get('Pod', 'db', pod.metadata.name);
  assert.is(live!.metadata.annotations!['dataprotection.kubeblocks.io/stop-restore-manager'], 'true');
  assert.is(live!.metadata.labels!['restoreguard.dev/state'], 'failed');
  assert.is(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), null);
  assert.is((h.cluster.all('Event')[0] as Record<string, any>).type, 'Warning');
});

test('log tail: read, redacted and bounded when configured', async () => {
  const h = harness({ RG_LOG_TAIL_LINES: '5', RG_LOG_TAIL_BYTES: '200' });
  const pod = restorePod({ restore: { exit: 2 } });
  await h.seed(pod, restoreJob());
  h.cluster.logText.set(
    `db/${pod.metadata.name}/restore`,
    'line1\nconnecting with password=hunter2 to mysql://root:s3cret@db:3306\nERROR: checksum mismatch',
  );
  await chain(h, pod);
  const live = await h.cluster.get('Pod', 'db', pod.metadata.name);
  const tail = JSON.parse(live!.metadata.annotations!['restoreguard.dev/outcome']!).logTail as string;
  assert.match(tail, /checksum mismatch/);
  assert.not.match(tail, /hunter2|s3cret/);
  assert.match(tail, /password=\[REDACTED\]/);
});

test('a pod that is not a restore object gets no write, even named in a forged event', async () => {
  const h = harness();
  const stranger = restorePod({ name: 'web-1', labels: {} });
  delete stranger.metadata.labels!['dataprotection.kubeblocks.io/restore'];
  delete stranger.metadata.labels!['app.kubernetes.io/managed-by'];
  await h.seed(stranger);
  const c = await h.post('/completion', apiEvent(stranger));
  assert.is(c.status, 202);
  assert.is(c.text, '');
  const forged = restoreEvent(EventType.succeeded, {
    namespace: 'db',
    group: 'g',
    profile: 'kubeblocks',
    job: null,
    pod: 'web-1',
    uid: stranger.metadata.uid,
    node: 'node-1',
    scope: 'pod',
    state: 'succeeded',
    reason: null,
    retryable: false,
    exitCode: 0,
    containers: [],
    message: null,
    attempt: 1,
    startedAt: null,
    finishedAt: null,
  });
  const r = await h.post('/labeling', forged);
  assert.is(r.status, 422, r.text);
  assert.match(r.text, /refused/);
  assert.is(h.cluster.writes.filter((w) => w.changed).length, 0);
});

test('labeling without a cluster answers 503 with what to configure', async () => {
  const { createServer } = await import('../../functions/server.ts');
  const { loadConfig } = await import('../../functions/core/config.ts');
  const { memoryLogger } = await import('../../functions/core/log.ts');
  const s = createServer({ config: loadConfig({ RG_AUTH: 'none' }), log: memoryLogger() });
  const ev = restoreEvent(EventType.placed, {
    namespace: 'db',
    group: 'g',
    profile: 'generic',
    job: null,
    pod: 'p',
    uid: 'u',
    node: 'n',
    scope: 'pod',
    state: 'placed',
    reason: null,
    retryable: false,
    exitCode: null,
    containers: [],
    message: null,
    attempt: 1,
    startedAt: null,
    finishedAt: null,
  });
  const { toBinary } = await import('../../functions/core/http/cloudevent.ts');
  const m = toBinary(ev);
  const res = await s.app.request('/labeling', { method: 'POST', headers: m.headers, body: m.body });
  assert.is(res.status, 503);
  assert.match(await res.text(), /KUBECONFIG/);
});

const STATE = 'restoreguard.dev/state';
const OUTCOME = 'restoreguard.dev/outcome';
const HISTORY = 'restoreguard.dev/history';

test("a write landing between labeling's read of the Job and its patch: no history entry lost, retry's verdict kept", async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 1 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  // Another writer (an older pod's record, retry's verdict) gets in first: before labeling's first
  // Job patch, and after labeling read the Job.
  const older = {
    pod: 'restore-0-older',
    uid: 'uid-older',
    scope: 'pod',
    state: 'failed',
    reason: 'Error',
    exitCode: 1,
    retryable: true,
    node: 'node-2',
    attempt: 1,
    finishedAt: '2026-11-29T10:00:01Z',
  };
  const patch = h.cluster.patch.bind(h.cluster);
  let raced = 0;
  h.cluster.patch = async (kind, namespace, name, body, opts) => {
    if (kind === 'Job' && name === 'restore-0' && raced++ === 0) {
      await patch('Job', namespace, name, {
        metadata: { labels: { [STATE]: 'retried' }, annotations: { [HISTORY]: JSON.stringify([older]) } },
      });
    }
    return patch(kind, namespace, name, body, opts);
  };
  const r = await chain(h, pod);
  assert.is(r.completion.reply!.type, EventType.failed);
  assert.is(r.labeling.status, 200, r.labeling.text);
  assert.ok(raced > 0, 'the concurrent write happened');
  const job = (await h.cluster.get('Job', 'db', 'restore-0'))!;
  const history = JSON.parse(job.metadata.annotations![HISTORY]!) as { uid: string; state: string }[];
  assert.equal(
    history.map((e) => [e.uid, e.state]),
    [
      ['uid-older', 'failed'],
      [pod.metadata.uid, 'failed'],
    ],
    'both entries, the concurrent one first',
  );
  assert.is(job.metadata.labels![STATE], 'retried', "a pod's failure never overwrites retry's verdict");
  assert.is(JSON.parse(job.metadata.annotations![OUTCOME]!).uid, pod.metadata.uid, 'the record itself is written');
});

test("the Job controller's status update between labeling's read of the Job and its patch is no conflict: one patch", async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 }, helperRunning: false, phase: 'Succeeded' });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  const patch = h.cluster.patch.bind(h.cluster);
  let raced = 0;
  h.cluster.patch = async (kind, namespace, name, body, opts) => {
    if (kind === 'Job' && name === 'restore-0' && raced++ === 0)
      await patch('Job', namespace, name, { status: { succeeded: 1, uncountedTerminatedPods: {} } });
    return patch(kind, namespace, name, body, opts);
  };
  const r = await chain(h, pod);
  assert.is(r.labeling.reply?.type, EventType.recorded, r.labeling.text);
  const jobPatches = h.cluster.writes.filter((w) => w.verb === 'patch' && w.kind === 'Job');
  assert.is(jobPatches.length, 2, "the controller's status write, then the record, once");
  assert.ok(jobPatches.every((w) => w.changed));
  const job = (await h.cluster.get('Job', 'db', 'restore-0'))!;
  assert.is(JSON.parse(job.metadata.annotations![HISTORY]!)[0].uid, pod.metadata.uid);
  assert.equal(job.status, { ...(restoreJob().status ?? {}), succeeded: 1, uncountedTerminatedPods: {} });
});

test("a Job that failed before its pod's failure reached its history: its live pod decides whether it is retryable", async () => {
  // The Job controller marks the Job Failed (BackoffLimitExceeded) as the pod fails: the Job's event
  // can reach labeling before the pod's, and judged alone it looks retryable (BackoffLimitExceeded).
  const h = harness();
  const pod = restorePod({ restore: { exit: 127 } });
  const job = restoreJob({ condition: { type: 'Failed', reason: 'BackoffLimitExceeded' } });
  await h.seed(pod, job, pvc('data-mysql-0'));
  const c = await h.post('/completion', apiEvent(job));
  assert.is(c.reply?.type, EventType.failed, c.text);
  assert.is(c.reply!.data.retryable, true, 'the Job judged alone');
  const r = await h.post('/labeling', restoreEvent(EventType.failed, c.reply!.data));
  assert.is(r.status, 200, r.text);
  const outcome = JSON.parse((await h.cluster.get('Job', 'db', 'restore-0'))!.metadata.annotations![OUTCOME]!);
  assert.is(outcome.scope, 'job');
  assert.is(outcome.retryable, false, 'exit code 127 is not retryable');
  assert.is(outcome.exitCode, 127);
  assert.is(r.reply?.data.retryable, false, 'the answer (to retry) says so too');
});

test("an event whose group or profile is not the live Job's answers 422 and writes nothing", async () => {
  const h = harness();
  const job = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0',
    condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
  });
  await h.seed(job, pvc('data-mysql-0'));
  const c = await h.post('/completion', apiEvent(job));
  assert.is(c.reply?.type, EventType.failed, c.text);
  assert.is(c.reply!.data.group, 'pg');
  for (const wrong of [
    { group: 'other' },
    { profile: 'kubeblocks' },
    { profile: 'kubeblocks', group: 'mysql-restore' },
  ]) {
    const r = await h.post('/labeling', restoreEvent(EventType.failed, { ...c.reply!.data, ...wrong }));
    assert.is(r.status, 422, `${JSON.stringify(wrong)}: ${r.text}`);
    assert.match(r.text, /refused/);
  }
  assert.equal(
    h.cluster.writes.filter((w) => w.changed).map((w) => `${w.verb} ${w.kind}/${w.name}`),
    [],
  );
  const live = (await h.cluster.get('Job', 'db', 'pg-0'))!;
  assert.is(live.metadata.labels?.[STATE], undefined);
  assert.is(live.metadata.annotations?.[OUTCOME], undefined);
  assert.is(
    (await h.cluster.get('PersistentVolumeClaim', 'db', 'data-mysql-0'))!.metadata.annotations?.[OUTCOME],
    undefined,
  );
  assert.equal(h.cluster.all('Event'), []);
  // The same event with the right group is recorded: the refusal was about the group only.
  const ok = await h.post('/labeling', restoreEvent(EventType.failed, c.reply!.data));
  assert.is(ok.status, 200, ok.text);
  assert.is((await h.cluster.get('Job', 'db', 'pg-0'))!.metadata.labels?.[STATE], 'failed');
});

test('a Job made again under the same name is another Job: the old pod is recorded on itself and its PVC, never on the new Job', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 1 }, helperRunning: false, phase: 'Failed' }); // owned by uid-restore-0
  const successor = restoreJob(); // same name, another uid, another group
  successor.metadata.uid = 'uid-restore-0-again';
  successor.metadata.labels = { ...successor.metadata.labels, 'dataprotection.kubeblocks.io/restore': 'other-restore' };
  await h.seed(pod, successor, pvc('data-mysql-0'));
  const r = await chain(h, pod);
  assert.is(r.labeling.status, 200, r.labeling.text);
  assert.is((await h.cluster.get('Pod', 'db', pod.metadata.name))!.metadata.labels![STATE], 'failed');
  assert.ok((await h.cluster.get('PersistentVolumeClaim', 'db', 'data-mysql-0'))!.metadata.annotations![OUTCOME]);
  const job = (await h.cluster.get('Job', 'db', 'restore-0'))!;
  assert.is(job.metadata.labels?.[STATE], undefined, 'the new Job carries nothing of the old pod');
  assert.is(job.metadata.annotations?.['restoreguard.dev/history'], undefined);
});

test('the Event is best effort: its failure (the Job gone meanwhile) never fails a recorded outcome', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  const create = h.cluster.create.bind(h.cluster);
  h.cluster.create = async (kind, ns, obj) => {
    if (kind === 'Event') throw new Error('events is forbidden');
    return create(kind, ns, obj);
  };
  const r = await chain(h, pod);
  assert.is(r.labeling.status, 200, r.labeling.text);
  assert.is(r.labeling.reply!.type, EventType.recorded);
  assert.is((await h.cluster.get('Job', 'db', 'restore-0'))!.metadata.labels![STATE], 'succeeded');
  assert.ok(
    h.log.lines.some((l) => l.msg === 'event not created'),
    'and says so in the log',
  );
});

test("a late failure of an older pod that is gone never replaces a newer pod's record on the PVC", async () => {
  const h = harness();
  const newer = JSON.stringify({
    namespace: 'db',
    group: 'mysql-restore',
    job: 'restore-0',
    pod: 'restore-0-fghij',
    uid: 'uid-restore-0-fghij',
    node: 'node-2',
    scope: 'pod',
    state: 'succeeded',
    reason: null,
    retryable: false,
    exitCode: 0,
    containers: [],
    message: null,
    attempt: 1,
    startedAt: '2026-11-29T10:01:00Z',
    finishedAt: '2026-11-29T10:02:00Z',
    durationSeconds: 60,
    recordedAt: '2026-11-29T10:02:01Z',
  });
  await h.seed(restoreJob(), pvc('data-mysql-0', 'db', { [OUTCOME]: newer }));
  // The older pod (finished 10:00:05) is gone: its failure arrives late, naming the PVC.
  const gone = restorePod({ restore: { exit: 1 }, helperRunning: false, phase: 'Failed' });
  const c = await h.post('/completion', apiEvent(gone, 'delete'));
  assert.is(c.reply?.type, EventType.failed, c.text);
  assert.equal(c.reply!.data.claims, ['data-mysql-0']);
  assert.is(c.reply!.data.finishedAt, '2026-11-29T10:00:05Z');
  const r = await h.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!));
  assert.is(r.status, 200, r.text);
  const claim = (await h.cluster.get('PersistentVolumeClaim', 'db', 'data-mysql-0'))!;
  assert.is(claim.metadata.annotations![OUTCOME], newer, 'the newer record stays as it was');
  assert.equal(
    h.cluster.writes.filter((w) => w.kind === 'PersistentVolumeClaim' && w.changed),
    [],
  );
});

test('a forged succeeded for a running pod records nothing and sends no stop signal: the live pod decides', async () => {
  const h = harness();
  const running = restorePod({ restore: 'running', phase: 'Pending' });
  await h.seed(running, restoreJob(), pvc('data-mysql-0'));
  const placed = await h.post('/completion', apiEvent(running));
  assert.is(placed.reply?.type, EventType.placed);
  const forged = {
    ...placed.reply!.data,
    state: 'succeeded',
    exitCode: 0,
    containers: [{ name: 'restore', exitCode: 0, reason: 'Completed', startedAt: null, finishedAt: null }],
  };
  const r = await h.post('/labeling', restoreEvent(EventType.succeeded, forged));
  assert.is(r.status, 202, r.text);
  const live = (await h.cluster.get('Pod', 'db', running.metadata.name))!;
  assert.is(live.metadata.labels!['restoreguard.dev/state'], undefined, 'not labelled succeeded');
  assert.is(live.metadata.annotations!['dataprotection.kubeblocks.io/stop-restore-manager'], undefined, 'not stopped');
  assert.is(
    (await h.cluster.get('Job', 'db', 'restore-0'))!.metadata.annotations!['restoreguard.dev/history'],
    undefined,
  );
  assert.is(
    (await h.cluster.get('PersistentVolumeClaim', 'db', 'data-mysql-0'))!.metadata.annotations![
      'restoreguard.dev/outcome'
    ],
    undefined,
  );
});

test('a succeeded event for a pod whose restore exited 1 records the live failure, never a success', async () => {
  const h = harness();
  const failed = restorePod({ restore: { exit: 1 } }); // the sidecar still runs
  await h.seed(failed, restoreJob(), pvc('data-mysql-0'));
  const c = await h.post('/completion', apiEvent(failed));
  assert.is(c.reply?.type, EventType.failed);
  const forged = { ...c.reply!.data, state: 'succeeded', reason: null, exitCode: 0, retryable: false };
  const r = await h.post('/labeling', restoreEvent(EventType.succeeded, forged));
  assert.is(r.reply?.type, EventType.recorded, r.text);
  assert.is(r.reply!.data.state, 'failed', 'the answer is the live judgement');
  const live = (await h.cluster.get('Pod', 'db', failed.metadata.name))!;
  assert.is(live.metadata.labels!['restoreguard.dev/state'], 'failed');
  const outcome = JSON.parse(live.metadata.annotations!['restoreguard.dev/outcome']!);
  assert.is(outcome.state, 'failed');
  assert.is(outcome.exitCode, 1);
  assert.is(h.cluster.all('Pod').filter((p) => p.metadata.name.endsWith('-anchor')).length, 0, 'no anchor for it');
});

test('only PVCs the live pod or Job mounts get a record: an event naming other claims (even in kube-system) writes none', async () => {
  const h = harness();
  const failed = restorePod({ restore: { exit: 1 } });
  await h.seed(failed, restoreJob(), pvc('data-mysql-0'), pvc('other-data'), pvc('etcd-data', 'kube-system'));
  const c = await h.post('/completion', apiEvent(failed));
  const told = { ...c.reply!.data, claims: ['data-mysql-0', 'other-data'] };
  const r = await h.post('/labeling', restoreEvent(EventType.failed, told));
  assert.is(r.reply?.type, EventType.recorded, r.text);
  const outcome = async (ns: string, name: string) =>
    (await h.cluster.get('PersistentVolumeClaim', ns, name))!.metadata.annotations?.['restoreguard.dev/outcome'];
  assert.ok(await outcome('db', 'data-mysql-0'), 'the mounted PVC is recorded');
  assert.is(await outcome('db', 'other-data'), undefined, 'a PVC it does not mount is not');
  // An event about a pod that is gone, in kube-system, naming a PVC there: nothing mounts it.
  const forged = {
    ...c.reply!.data,
    namespace: 'kube-system',
    pod: 'gone-0',
    uid: 'uid-gone-0',
    claims: ['etcd-data'],
  };
  const k = await h.post('/labeling', restoreEvent(EventType.failed, forged));
  assert.ok(k.status === 202 || k.status === 200 || k.status === 422, k.text);
  assert.is(await outcome('kube-system', 'etcd-data'), undefined, 'never a PVC that no live restore object mounts');
});

test('a pod name over 63 characters (a pod not made by a Job) still gets an anchor: its labels are valid label values', async () => {
  const { LABEL_VALUE } = await import('../../functions/core/kube/names.ts');
  const h = harness();
  const name = `restore-${'x'.repeat(70)}`;
  const pod = restorePod({ name, restore: 'running', phase: 'Pending' });
  await h.seed(pod, restoreJob());
  await chain(h, pod);
  const anchors = h.cluster.all('Pod').filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for']);
  assert.is(anchors.length, 1, 'anchored');
  const a = anchors[0]!;
  assert.ok(a.metadata.name.length <= 63, a.metadata.name);
  for (const [key, v] of Object.entries(a.metadata.labels!)) assert.ok(LABEL_VALUE.test(v), `${key}=${v}`);
  assert.is(a.metadata.annotations!['restoreguard.dev/anchor-for-pod'], name, 'the full name is kept in an annotation');
});

test("a pending successor of a member (its next backup set) takes the node over: its member's anchors lose the selected labels, other members' keep them", async () => {
  const h = harness();
  const member = { 'apps.kubeblocks.io/pod-name': 'pg-mysql-0' };
  const first = restorePod({
    name: 'set0-x',
    job: 'set0',
    labels: member,
    restore: { exit: 0 },
    helperRunning: false,
    phase: 'Succeeded',
  });
  const other = restorePod({
    name: 'set0b-x',
    job: 'set0b',
    node: 'node-2',
    labels: { 'apps.kubeblocks.io/pod-name': 'pg-mysql-1' },
  });
  await h.seed(first, other, restoreJob({ name: 'set0' }), restoreJob({ name: 'set0b' }), pvc('data-mysql-0'));
  // anchors as labeling made them at placement
  for (const p of [first, other]) {
    const placed = {
      ...p,
      status: { ...p.status, phase: 'Pending', containerStatuses: [{ name: 'restore', state: { running: {} } }] },
    };
    await h.cluster.patch('Pod', 'db', p.metadata.name, { status: placed.status });
    await chain(h, (await h.cluster.get('Pod', 'db', p.metadata.name))!);
  }
  const labelsOf = async (n: string) => (await h.cluster.get('Pod', 'db', n))!.metadata.labels!;
  assert.is((await labelsOf('set0-x-anchor'))['app.kubernetes.io/instance'], 'mysql');
  // the member's next backup set: a new pod, same member, not bound yet
  const next = restorePod({
    name: 'set1-x',
    job: 'set1',
    labels: member,
    node: null,
    restore: 'waiting',
    phase: 'Pending',
    // kube-scheduler found no node: its member's anchors repel it
    status: { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] },
  });
  await h.seed(next, restoreJob({ name: 'set1' }));
  const r = await chain(h, next);
  assert.is(r.completion.reply!.type, EventType.pending);
  assert.is(r.labeling.status, 202, r.labeling.text);
  const handed = await labelsOf('set0-x-anchor');
  assert.is(handed['app.kubernetes.io/instance'], undefined, 'handed over: no label the successor avoids');
  assert.is(handed['dataprotection.kubeblocks.io/restore'], undefined);
  assert.is(handed['restoreguard.dev/anchor-for'], 'set0-x', 'still our anchor');
  const term = ((await h.cluster.get('Pod', 'db', 'set0-x-anchor'))!.spec as any).affinity.podAntiAffinity
    .requiredDuringSchedulingIgnoredDuringExecution[0];
  assert.equal(
    term.labelSelector.matchExpressions.at(-1),
    {
      key: 'apps.kubeblocks.io/pod-name',
      operator: 'NotIn',
      values: ['pg-mysql-0'],
    },
    'its own anti-affinity still repels every other member',
  );
  assert.is(
    (await labelsOf('set0b-x-anchor'))['app.kubernetes.io/instance'],
    'mysql',
    "another member's anchor is untouched",
  );
  // the guard lets only anchors lose labels that are not ours
  const guard = await h.server.deps.cluster();
  try {
    await guard.patch('Pod', 'db', 'set0b-x', { metadata: { labels: { 'app.kubernetes.io/instance': null } } });
    assert.unreachable('refused');
  } catch (e) {
    assert.match((e as Error).message, /only anchors may lose labels/);
  }
});

test('KubeBlocks deleted the Job and its pod with the Completed Restore before the record: the live Restore names the PVCs, and only those get it', async () => {
  const h = harness();
  const restore = {
    apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'mysql-restore', namespace: 'db', uid: 'uid-r' },
    spec: {
      prepareDataConfig: {
        volumeClaimsTemplate: { replicas: 2, templates: [{ metadata: { name: 'data-mysql' } }] },
      },
    },
    status: { phase: 'Completed' },
  };
  await h.seed(restore as KubeObject, pvc('data-mysql-0'), pvc('data-mysql-9'));
  // completion judged the pod while it lived; by now the pod and its Job are gone
  const gone = restorePod({ claims: ['data-mysql-0'], restore: { exit: 0 }, helperRunning: false, phase: 'Succeeded' });
  const c = await h.post('/completion', apiEvent(gone));
  const data = { ...c.reply!.data, claims: ['data-mysql-0', 'data-mysql-9'] };
  const l = await h.post('/labeling', restoreEvent(c.reply!.type!, data, c.reply!.id!));
  assert.is(l.status, 200, l.text);
  const rec = (n: string) =>
    h.cluster.get('PersistentVolumeClaim', 'db', n).then((p) => p!.metadata.annotations?.['restoreguard.dev/outcome']);
  assert.ok(await rec('data-mysql-0'), "the Restore's own PVC has the record");
  assert.is(await rec('data-mysql-9'), undefined, 'a claim the Restore does not name gets nothing');
});

test("a Job's verdict never overwrites its pod's record that lands on the PVC in between (resourceVersion precondition)", async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 }, helperRunning: false, phase: 'Succeeded' });
  const job = restoreJob({ condition: { type: 'Complete' } });
  await h.seed(pod, job, pvc('data-mysql-0'));
  // The Job's verdict reads the PVC; before it patches, the pod's record lands (another labeling call).
  const podEvent = await h.post('/completion', apiEvent(pod));
  const jobEvent = await h.post('/completion', apiEvent(job));
  const get = h.cluster.get.bind(h.cluster);
  let raced = false;
  h.cluster.get = (async (kind: string, ns: string, name: string) => {
    const o = await get(kind as 'Pod', ns, name);
    if (kind === 'PersistentVolumeClaim' && !raced) {
      raced = true;
      const l = await h.post(
        '/labeling',
        restoreEvent(podEvent.reply!.type!, podEvent.reply!.data, podEvent.reply!.id!),
      );
      assert.is(l.status, 200, l.text);
    }
    return o;
  }) as typeof h.cluster.get;
  const l = await h.post('/labeling', restoreEvent(jobEvent.reply!.type!, jobEvent.reply!.data, jobEvent.reply!.id!));
  assert.is(l.status, 200, l.text);
  assert.ok(raced, 'the race happened');
  const rec = JSON.parse(
    (await get('PersistentVolumeClaim', 'db', 'data-mysql-0'))!.metadata.annotations!['restoreguard.dev/outcome']!,
  );
  assert.is(rec.scope, 'pod', "the pod's record stays");
  assert.is(rec.node, 'node-1');
});

test('a placement event that arrives after the pod failed anchors nothing (a late or redelivered event)', async () => {
  const h = harness();
  const bound = restorePod({ phase: 'Pending' });
  const failed = restorePod({ restore: { exit: 1 }, helperRunning: false, phase: 'Failed' });
  await h.seed(failed, restoreJob(), pvc('data-mysql-0'));
  // completion judged the bind; by the time labeling reads the live pod, it has failed
  const c = await h.post('/completion', apiEvent(bound));
  assert.is(c.reply!.type, EventType.placed);
  const l = await h.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!));
  assert.is(l.status, 202, l.text);
  assert.equal(
    h.cluster.all('Pod').filter((p) => p.metadata.labels?.['restoreguard.dev/anchor-for']),
    [],
    'no anchor for a failed pod',
  );
});

test.run();
