// Failures on the real control plane: a retryable one (an eviction) gets a replacement Job that runs
// on another node; a non-retryable one (exit code 127) is recorded on the Job and not retried; the
// attempt bound holds (RG_RETRY_MAX_ATTEMPTS=2 with a pod that always fails: one retry, then
// exhausted).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ANNOTATIONS } from '../rig/index.ts';
import { L, condition, placement, recordingDir, startChain, waitFor, type Chain } from '../support/chain.ts';

let guard: Chain;

async function running(c: Chain, job: string): Promise<any> {
  return waitFor(`a Running pod of ${job}`, async () =>
    (await c.pods(`job-name=${job}`)).find((p) => p.status.phase === 'Running'),
  );
}

test.before(async () => {
  guard = await startChain({
    mode: 'guard',
    env: { RG_RETRY_MAX_ATTEMPTS: '2', RG_RETRY_BASE_MS: '200' },
    recordDir: recordingDir('retry'),
  });
});

test.after(async () => {
  await guard?.teardown();
});

test('an evicted restore gets a replacement Job <job>-retry-1 whose pod runs on another node', async () => {
  // runs 3 s unless evicted first; its replacement runs the same 3 s and succeeds
  const g = await guard.createRestoreGroup({ name: 'evicted', replicas: 1, retry: true, backoffLimit: 0, runMs: 3000 });
  const job = g.jobNames[0]!;
  const pod = await running(guard, job);
  const node = pod.spec.nodeName as string;
  // the kubelet under memory pressure evicts this one pod (not its template: the retry must not inherit it)
  const evictedAt = Date.now();
  await guard.kube.patch(`/api/v1/namespaces/${guard.ns}/pods/${pod.metadata.name}`, {
    metadata: { annotations: { [ANNOTATIONS.evict]: 'true', [ANNOTATIONS.finishAt]: new Date().toISOString() } },
  });
  const replacement = await running(guard, `${job}-retry-1`);
  const runningAfter = Date.now() - evictedAt;
  assert.is.not(replacement.spec.nodeName, node, `replacement on another node than ${node}`);
  const r = await guard.job(`${job}-retry-1`);
  assert.is(r.metadata.annotations[L.attempt], '2');
  assert.is(r.metadata.annotations[`${L.group.split('/')[0]}/retry-of`], job);
  const original = await waitFor('original Job labelled retried', async () => {
    const j = await guard.job(job);
    return j.metadata.labels[L.state] === 'retried' ? j : undefined;
  });
  // the Job controller sets FailureTarget first, Failed once the pods are gone: either is the Job's failure
  assert.ok(condition(original, 'Failed') ?? condition(original, 'FailureTarget'), 'original Job failed');
  const outcome = JSON.parse(original.metadata.annotations[L.outcome]);
  assert.is(outcome.state, 'failed');
  assert.is(outcome.retryable, true);
  assert.ok(!(await guard.pod(`${pod.metadata.name}-anchor`)), 'the failed attempt left no anchor');
  await waitFor('replacement Complete', async () => condition(await guard.job(`${job}-retry-1`), 'Complete'));
  await waitFor(
    'group released: no anchor left',
    async () => (await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length === 0,
  );
  assert.is((await guard.job(`${job}-retry-1`)).metadata.labels[L.state], 'succeeded');
  console.log(`  evicted on ${node} → ${job}-retry-1 Running on ${replacement.spec.nodeName} after ${runningAfter} ms`);
});

test('a non-retryable failure (exit code 127) is recorded on the Job and not retried', async () => {
  const g = await guard.createRestoreGroup({
    name: 'notfound',
    replicas: 1,
    retry: true,
    backoffLimit: 0,
    runMs: 0,
    exitCode: 127,
  });
  const job = g.jobNames[0]!;
  const j = await waitFor('Job failure recorded', async () => {
    const x = await guard.job(job);
    const o = x.metadata.annotations?.[L.outcome];
    return condition(x, 'Failed') && o && JSON.parse(o).scope === 'job' ? x : undefined;
  });
  await guard.settle(1000);
  const outcome = JSON.parse(j.metadata.annotations[L.outcome]);
  assert.is(outcome.state, 'failed');
  assert.is(outcome.retryable, false, 'not retryable');
  assert.is(outcome.exitCode, 127);
  const history = JSON.parse(j.metadata.annotations[L.history]);
  assert.ok(
    history.some((e: any) => e.scope === 'pod' && e.state === 'failed' && e.reason === 'Error'),
    "the pod's failure is in the history",
  );
  assert.is((await guard.job(job)).metadata.labels[L.state], 'failed');
  const names = (await guard.jobs()).map((x) => x.metadata.name);
  assert.not.ok(names.includes(`${job}-retry-1`), 'no retry Job');
});

test('the attempt bound holds: RG_RETRY_MAX_ATTEMPTS=2 and a pod that always fails → one retry, then exhausted', async () => {
  const g = await guard.createRestoreGroup({
    name: 'flaky',
    replicas: 1,
    retry: true,
    backoffLimit: 0,
    runMs: 0,
    exitCode: 1,
  });
  const job = g.jobNames[0]!;
  const retryJob = await waitFor('retry Job exhausted', async () => {
    const x = (await guard.jobs()).find((y) => y.metadata.name === `${job}-retry-1`);
    return x?.metadata.labels?.[L.state] === 'exhausted' ? x : undefined;
  });
  assert.ok(condition(retryJob, 'Failed') ?? condition(retryJob, 'FailureTarget'), 'retry Job failed');
  await guard.settle(1500);
  const names = (await guard.jobs()).map((x) => x.metadata.name).filter((n) => n.startsWith(job));
  assert.equal(names.sort(), [job, `${job}-retry-1`], `exactly one retry (${names.join(', ')})`);
  assert.is((await guard.job(job)).metadata.labels[L.state], 'retried');
  const nodes = guard.observer.groupPods(g.name).map((h) => placement(h)?.node);
  console.log(`  attempts on ${nodes.join(', ')}`);
});

test.run();
