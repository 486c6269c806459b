import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventType } from '../../functions/core/restore/events.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { apiEvent, harness, restoreEvent } from '../support/harness.ts';
import { pvc, restoreJob, restorePod } from '../support/objects.ts';

type H = ReturnType<typeof harness>;

/** A generic Job that failed for good, whose last pod failed with `reason` on node-1. */
async function failedJob(
  h: H,
  opts: {
    podReason: string;
    podRetryable?: boolean;
    exitCode?: number | null;
    attempt?: number;
    labels?: Record<string, string>;
    name?: string;
    annotations?: Record<string, string>;
  },
) {
  const name = opts.name ?? 'pg-0';
  const outcome = {
    namespace: 'db',
    group: 'pg',
    job: name,
    pod: `${name}-x`,
    uid: `uid-${name}-x`,
    node: 'node-1',
    scope: 'pod',
    state: 'failed',
    reason: opts.podReason,
    retryable: opts.podRetryable ?? true,
    exitCode: opts.exitCode ?? null,
    containers: [],
    message: null,
    attempt: opts.attempt ?? 1,
    startedAt: null,
    finishedAt: '2026-11-29T10:00:05Z',
  };
  const job = restoreJob({
    profile: 'generic',
    group: 'pg',
    name,
    condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
    labels: { 'restoreguard.dev/retry': 'true', ...opts.labels },
    annotations: {
      'restoreguard.dev/outcome': JSON.stringify(outcome),
      ...(opts.attempt ? { 'restoreguard.dev/attempt': String(opts.attempt) } : {}),
      ...opts.annotations,
    },
  });
  await h.seed(job, pvc('data-mysql-0'));
  const c = await h.post('/completion', apiEvent(job));
  assert.is(c.reply?.type, EventType.failed, c.text);
  return {
    job,
    failed: c.reply!.data,
    retry: await h.post('/retry', restoreEvent(EventType.failed, c.reply!.data, c.reply!.id!)),
  };
}

test('an evicted restore: a replacement Job at once, deterministic name, avoiding the failed node', async () => {
  const h = harness();
  const { retry } = await failedJob(h, { podReason: 'Evicted' });
  assert.is(retry.reply!.type, EventType.retryScheduled, retry.text);
  assert.is(retry.reply!.data.retryJob, 'pg-0-retry-1');
  assert.is(retry.reply!.data.attempt, 2);
  assert.equal(h.slept, [], 'infrastructure failures retry at once');
  const r = (await h.cluster.get('Job', 'db', 'pg-0-retry-1')) as KubeObject & { spec: Record<string, any> };
  assert.ok(r);
  assert.is(r.metadata.annotations!['restoreguard.dev/attempt'], '2');
  assert.is(r.metadata.annotations!['restoreguard.dev/retry-of'], 'pg-0');
  assert.is(r.spec.selector, undefined, 'the API server generates a fresh selector');
  const tl = r.spec.template.metadata.labels;
  assert.is(tl['controller-uid'], undefined);
  assert.is(tl['batch.kubernetes.io/controller-uid'], undefined);
  assert.is(tl['job-name'], undefined);
  assert.is(tl['restoreguard.dev/group'], 'pg', 'stays in its group');
  assert.is(r.spec.template.metadata.annotations['restoreguard.dev/attempt'], '2');
  assert.equal(r.spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution, [
    {
      weight: 100,
      preference: { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['node-1'] }] },
    },
  ]);
  assert.ok(r.spec.template.spec.affinity.podAntiAffinity, 'the original rules stay');
  assert.is((await h.cluster.get('Job', 'db', 'pg-0'))!.metadata.labels!['restoreguard.dev/state'], 'retried');
  // Told where an operator looks: a Normal Event on the failed Job.
  const ev = h.cluster.all('Event').filter((e: any) => e.reason === 'RetryScheduled');
  assert.is(ev.length, 1);
  assert.is((ev[0] as any).involvedObject.name, 'pg-0');
  assert.match((ev[0] as any).message, /retry pg-0-retry-1, attempt 2, avoiding node-1/);
});

test('redelivery creates no second Job', async () => {
  const h = harness();
  const { failed } = await failedJob(h, { podReason: 'Evicted' });
  const again = await h.post('/retry', restoreEvent(EventType.failed, failed));
  assert.is(again.reply!.type, EventType.retryScheduled);
  assert.is(h.cluster.all('Job').length, 2);
});

test('an application error backs off 1 s doubling per attempt, capped', async () => {
  const h = harness({}, new Date('2026-11-29T10:00:05Z'));
  await failedJob(h, { podReason: 'Error', exitCode: 1 });
  assert.equal(h.slept, [1000], 'attempt 1 waits 1 s from the failure');
  const late = harness({}, new Date('2026-11-29T10:00:05.400Z'));
  await failedJob(late, { podReason: 'Error', exitCode: 1 });
  assert.equal(late.slept, [600], 'time already passed since the failure counts');
  const h2 = harness({}, new Date('2026-11-29T10:00:05Z'));
  await failedJob(h2, { podReason: 'Error', exitCode: 1, attempt: 2, annotations: {} });
  assert.equal(h2.slept, [2000], 'attempt 2 waits 2 s (jitter 0 with random 0.5)');
  const h3 = harness({ RG_RETRY_MAX_ATTEMPTS: '10' }, new Date('2026-11-29T10:00:05Z'));
  await failedJob(h3, { podReason: 'Error', exitCode: 1, attempt: 8 });
  assert.equal(h3.slept, [30000], 'capped at 30 s');
});

test('required avoidance when configured; none when the volume is bound to a node', async () => {
  const h = harness({ RG_RETRY_AVOID: 'required' });
  await failedJob(h, { podReason: 'NodeLost' });
  const r = (await h.cluster.get('Job', 'db', 'pg-0-retry-1')) as KubeObject & { spec: Record<string, any> };
  assert.equal(
    r.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]
      .matchExpressions,
    [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['node-1'] }],
  );
  const h2 = harness();
  await h2.seed(pvc('data-mysql-0', 'db', { 'volume.kubernetes.io/selected-node': 'node-1' }));
  await failedJob(h2, { podReason: 'Evicted' });
  const r2 = (await h2.cluster.get('Job', 'db', 'pg-0-retry-1')) as KubeObject & { spec: Record<string, any> };
  assert.is(r2.spec.template.spec.affinity.nodeAffinity, undefined, 'bound volumes: never steer away from their node');
});

test('not retryable, not opted in, attempts used up: skipped or exhausted, and no Job', async () => {
  const oom = harness();
  const a = await failedJob(oom, { podReason: 'OOMKilled', podRetryable: false });
  assert.is(a.retry.reply!.type, EventType.retrySkipped);
  assert.is(oom.cluster.all('Job').length, 1);

  const notIn = harness();
  const b = await failedJob(notIn, { podReason: 'Evicted', labels: { 'restoreguard.dev/retry': 'false' } });
  assert.is(b.retry.reply!.type, EventType.retrySkipped);
  assert.match(b.retry.reply!.data.message, /not enabled/);

  const last = harness();
  const c = await failedJob(last, { podReason: 'Evicted', attempt: 3 });
  assert.is(c.retry.reply!.type, EventType.retryExhausted);
  assert.is(last.cluster.all('Job').length, 1);
  assert.is((await last.cluster.get('Job', 'db', 'pg-0'))!.metadata.labels!['restoreguard.dev/state'], 'exhausted');
  const warned = last.cluster.all('Event').filter((e: any) => e.reason === 'RetryExhausted');
  assert.is(warned.length, 1, 'a Warning Event on the Job');
  assert.is((warned[0] as any).type, 'Warning');
  assert.is(oom.cluster.all('Event').filter((e: any) => e.reason?.startsWith('Retry')).length, 0, 'skipped: no Event');
});

test('a retry of a retry: named from the root Job, avoiding every node that failed', async () => {
  const h = harness();
  const { retry } = await failedJob(h, {
    name: 'pg-0-retry-1',
    podReason: 'Evicted',
    attempt: 2,
    annotations: { 'restoreguard.dev/root-job': 'pg-0', 'restoreguard.dev/failed-nodes': 'node-0' },
  });
  assert.is(retry.reply!.data.retryJob, 'pg-0-retry-2');
  assert.equal(retry.reply!.data.avoidNodes, ['node-0', 'node-1']);
});

const anchorOf = (podUid: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'restore-0-abcde-anchor',
    namespace: 'db',
    labels: { 'restoreguard.dev/anchor-for': 'restore-0-abcde', 'restoreguard.dev/group': 'mysql-restore' },
    annotations: { 'restoreguard.dev/anchor-for-uid': podUid },
  },
  spec: {},
});

test('pod-level failure: the failed pod is let go (stop annotation) and its anchor removed', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 1 } });
  await h.seed(pod, restoreJob(), anchorOf(pod.metadata.uid!));
  const c = await h.post('/completion', apiEvent(pod));
  const r = await h.post('/retry', restoreEvent(EventType.failed, c.reply!.data));
  assert.is(r.status, 202);
  assert.is(
    (await h.cluster.get('Pod', 'db', pod.metadata.name))!.metadata.annotations![
      'dataprotection.kubeblocks.io/stop-restore-manager'
    ],
    'true',
  );
  assert.is(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), null);
});

test('a late failure of a predecessor pod never removes the anchor of its successor with the same name', async () => {
  const h = harness();
  const predecessor = restorePod({ restore: { exit: 1 }, uid: 'uid-predecessor' });
  const successor = restorePod({ restore: 'running', uid: 'uid-successor' });
  await h.seed(successor, restoreJob(), anchorOf('uid-successor'));
  const c = await h.post('/completion', apiEvent(predecessor, 'delete'));
  assert.is(c.reply?.type, EventType.failed, c.text);
  const r = await h.post('/retry', restoreEvent(EventType.failed, c.reply!.data));
  assert.is(r.status, 202);
  const anchor = await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor');
  assert.is(
    anchor?.metadata.annotations?.['restoreguard.dev/anchor-for-uid'],
    'uid-successor',
    'the successor keeps its anchor',
  );
  assert.is(
    (await h.cluster.get('Pod', 'db', successor.metadata.name))!.metadata.annotations![
      'dataprotection.kubeblocks.io/stop-restore-manager'
    ],
    undefined,
    'and is not stopped',
  );
});

test("the Job's failure arrives before its pod's is recorded: the live pod still steers the retry", async () => {
  const h = harness();
  const job = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0',
    condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
    labels: { 'restoreguard.dev/retry': 'true' },
  });
  const evicted = restorePod({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0-x',
    job: 'pg-0',
    node: 'node-3',
    phase: 'Failed',
    restore: { exit: 137 },
    labels: { 'batch.kubernetes.io/controller-uid': 'uid-pg-0' },
    status: { reason: 'Evicted', message: 'low on memory' },
  });
  await h.seed(job, evicted);
  const c = await h.post('/completion', apiEvent(job));
  const r = await h.post('/retry', restoreEvent(EventType.failed, c.reply!.data));
  assert.is(r.reply!.type, EventType.retryScheduled, r.text);
  assert.equal(r.reply!.data.avoidNodes, ['node-3']);
  assert.equal(h.slept, [], 'evicted: at once, although no record says so yet');
});

test("a non-retryable exit is not retried even when the Job's failure is judged before the pod's record lands", async () => {
  const h = harness();
  const job = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0',
    condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
    labels: { 'restoreguard.dev/retry': 'true' },
  });
  const broken = restorePod({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0-x',
    job: 'pg-0',
    node: 'node-3',
    phase: 'Failed',
    restore: { exit: 127 },
    labels: { 'batch.kubernetes.io/controller-uid': 'uid-pg-0' },
  });
  await h.seed(job, broken);
  const c = await h.post('/completion', apiEvent(job));
  assert.is(c.reply!.data.retryable, true, 'the Job alone looks retryable');
  const r = await h.post('/retry', restoreEvent(EventType.failed, c.reply!.data));
  assert.is(r.reply!.type, EventType.retrySkipped, r.text);
  assert.match(r.reply!.data.message, /127|not retryable/);
  assert.is(h.cluster.all('Job').length, 1);
});

test("the Job's history decides retryability, whichever record the Job carries last", async () => {
  const h = harness();
  const history = JSON.stringify([
    {
      pod: 'pg-0-x',
      uid: 'u',
      scope: 'pod',
      state: 'failed',
      reason: 'Error',
      exitCode: 127,
      retryable: false,
      node: 'node-1',
      attempt: 1,
      finishedAt: null,
    },
  ]);
  const jobRecord = JSON.stringify({
    scope: 'job',
    state: 'failed',
    reason: 'BackoffLimitExceeded',
    retryable: true,
    exitCode: null,
    node: null,
    pod: null,
    containers: [],
  });
  const job = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0',
    condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
    labels: { 'restoreguard.dev/retry': 'true' },
    annotations: { 'restoreguard.dev/history': history, 'restoreguard.dev/outcome': jobRecord },
  });
  await h.seed(job);
  const c = await h.post('/completion', apiEvent(job));
  assert.is(c.reply!.data.retryable, false);
});

test('a Job-scope failure of an opted-in Job that is still running (forged or stale) creates no retry Job', async () => {
  const h = harness();
  const { failed } = await failedJob(h, { podReason: 'Evicted' });
  const running = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-1',
    labels: { 'restoreguard.dev/retry': 'true' },
  });
  await h.seed(running);
  const forged = { ...failed, job: 'pg-1', uid: 'uid-pg-1', pod: null };
  const r = await h.post('/retry', restoreEvent(EventType.failed, forged));
  assert.is(r.status, 202, r.text);
  assert.is(await h.cluster.get('Job', 'db', 'pg-1-retry-1'), null, 'no replacement beside a running Job');
  assert.is((await h.cluster.get('Job', 'db', 'pg-1'))!.metadata.labels!['restoreguard.dev/state'], undefined);
});

test("retry's wait is bounded: a finishedAt in the future (forged, or a skewed clock) never waits past the backoff", async () => {
  const h = harness({}, new Date('2026-11-29T10:00:05Z'));
  const { failed } = await failedJob(h, { podReason: 'Error', exitCode: 1, name: 'pg-9' });
  assert.equal(h.slept, [1000]);
  // The same failure told again with finishedAt a day ahead: the live Job's time counts, and it is never later than now.
  await h.cluster.delete('Job', 'db', 'pg-9-retry-1');
  const ahead = { ...failed, finishedAt: '2026-11-30T10:00:06Z' };
  await h.post('/retry', restoreEvent(EventType.failed, ahead));
  assert.ok(
    h.slept.every((ms) => ms <= 30_000),
    `slept ${h.slept.join(', ')} ms: within RG_RETRY_MAX_MS`,
  );
  // The live Job's own condition a day ahead (a skewed clock): waits the backoff from now, no more.
  const h2 = harness({}, new Date('2026-11-29T10:00:05Z'));
  const skewed = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-2',
    condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
    labels: { 'restoreguard.dev/retry': 'true' },
  }) as unknown as KubeObject & { status: { conditions: { lastTransitionTime: string }[] } };
  skewed.status.conditions[0]!.lastTransitionTime = '2026-11-30T10:00:05Z';
  await h2.seed(skewed);
  const c = await h2.post('/completion', apiEvent(skewed));
  const r = await h2.post('/retry', restoreEvent(EventType.failed, c.reply!.data));
  assert.is(r.reply?.type, EventType.retryScheduled, r.text);
  assert.ok(
    h2.slept.length === 1 && h2.slept[0]! <= 1_000,
    `slept ${h2.slept.join(', ')} ms: the backoff of attempt 1 at most`,
  );
});

test('a pod-scope failure of a pod that is still running (forged or stale) neither stops it nor removes its anchor', async () => {
  const h = harness();
  const running = restorePod({ restore: 'running', phase: 'Pending' });
  await h.seed(running, restoreJob(), anchorOf(running.metadata.uid!));
  const failedLater = restorePod({
    restore: 'running',
    status: { reason: 'Evicted', message: 'low on memory' },
    phase: 'Failed',
  });
  const c = await h.post('/completion', apiEvent(failedLater));
  assert.is(c.reply?.type, EventType.failed, c.text);
  assert.ok(c.reply!.data.retryable);
  const r = await h.post('/retry', restoreEvent(EventType.failed, c.reply!.data));
  assert.is(r.status, 202, r.text);
  assert.ok(await h.cluster.get('Pod', 'db', 'restore-0-abcde-anchor'), 'the running pod keeps its anchor');
  assert.is(
    (await h.cluster.get('Pod', 'db', running.metadata.name))!.metadata.annotations![
      'dataprotection.kubeblocks.io/stop-restore-manager'
    ],
    undefined,
    'and is not stopped',
  );
});

test.run();
