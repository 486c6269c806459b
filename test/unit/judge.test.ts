/**
 * judgePod / judgeJob over the recorded-style ApiServerSource events in test/fixtures/events:
 * the full answer for each (README, Routes and events: reasons and data), and the retry policy.
 * Pure: no cluster, no server.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { judgeJob, judgePod } from '../../functions/core/restore/judge.ts';
import type { JudgeContext } from '../../functions/core/restore/judge.ts';
import type { Config } from '../../functions/core/config.ts';
import { loadConfig } from '../../functions/core/config.ts';
import type { RestoreData } from '../../functions/core/restore/events.ts';
import { ResourceDataSchema, RestoreDataSchema, EventType } from '../../functions/core/restore/events.ts';
import { isRetryable } from '../../functions/core/restore/reasons.ts';
import { createSelector } from '../../functions/core/restore/selection.ts';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'events');
const DEFAULTS = loadConfig({});

interface Fixture {
  type: string;
  time: string;
  data: Record<string, any>;
}
function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Fixture;
}

/** Judges an event as completion does: selection by profile, then the pure judgement. */
function judgeEvent(ev: Fixture, config: Config = DEFAULTS): RestoreData | null | 'unselected' {
  const obj = ResourceDataSchema.parse(ev.data);
  const selector = createSelector(config);
  const ctx: JudgeContext = {
    policy: config,
    domain: config.RG_DOMAIN,
    imagePullGraceSeconds: config.RG_IMAGE_PULL_GRACE_SECONDS,
    deleted: ev.type === EventType.apiDelete,
    now: new Date(ev.time),
  };
  if (obj.kind === 'Pod') {
    const sel = selector.selectPod(obj);
    return sel ? judgePod(obj, sel, ctx) : 'unselected';
  }
  const sel = selector.selectJob(obj);
  return sel ? judgeJob(obj, sel, ctx) : 'unselected';
}
function judgeFixture(name: string, config: Config = DEFAULTS): RestoreData | null | 'unselected' {
  return judgeEvent(fixture(name), config);
}

const at = (s: number) => new Date(Date.parse('2025-11-04T09:12:30Z') + s * 1000).toISOString().replace('.000Z', 'Z');
const KB = { namespace: 'demo', group: 'pg-cluster-postgresql-9e2b1a7c-preparedata', profile: 'kubeblocks' } as const;
const GEN = { namespace: 'demo', group: 'orders-db-restore-20251104', profile: 'generic' } as const;
const kbJob = (i: number) => `restore-preparedata-9e2b1a7c-pg-cluster-postgresql-${i}`;
const c = (
  name: string,
  exitCode: number | null,
  reason: string | null,
  startedAt: string | null,
  finishedAt: string | null,
) => ({
  name,
  exitCode,
  reason,
  startedAt,
  finishedAt,
});

type Expected = Omit<RestoreData, 'uid' | 'claims' | 'phase'>;

/** The PVCs an object mounts, as the answer must carry them (checked on its own below). */
/** The restore's own PVCs: every claim but KubeBlocks' shared backup repository volume (dp-backup-data). */
function claimsIn(data: { kind: string; spec: Record<string, any>; metadata?: Record<string, any> }): string[] {
  const spec = data.kind === 'Job' ? data.spec.template.spec : data.spec;
  const kb = !!(
    data.metadata?.labels?.['dataprotection.kubeblocks.io/restore'] ??
    data.spec.template?.metadata?.labels?.['dataprotection.kubeblocks.io/restore']
  );
  return (spec.volumes ?? []).flatMap((v: { name: string; persistentVolumeClaim?: { claimName: string } }) =>
    v.persistentVolumeClaim && !(kb && v.name === 'dp-backup-data') ? [v.persistentVolumeClaim.claimName] : [],
  );
}

/** Asserts the whole answer (uid taken from the fixture's object), and that it is valid event data. */
function expectAnswer(name: string, expected: Expected | null | 'unselected', config: Config = DEFAULTS): void {
  const ev = fixture(name);
  const got = judgeEvent(ev, config);
  if (expected === null || expected === 'unselected') {
    assert.equal(got, expected, name);
    return;
  }
  const phase = ev.data.kind === 'Pod' ? { phase: (ev.data.status as { phase?: string }).phase ?? null } : {};
  assert.equal(got, { ...expected, uid: ev.data.metadata.uid, claims: claimsIn(ev.data as never), ...phase }, name);
  assert.ok(RestoreDataSchema.safeParse(got).success, `${name}: answer is valid RestoreData`);
}

// ---------------------------------------------------------------- KubeBlocks restore pods

test("kubeblocks: a pod not yet bound to a node → pending (its member's earlier anchors hand the node over)", () => {
  assert.is(fixture('kb-restore-pod-pending.add').data.spec.nodeName, undefined);
  expectAnswer('kb-restore-pod-pending.add', {
    ...KB,
    job: kbJob(0),
    pod: `${kbJob(0)}-x2k9q`,
    node: null,
    scope: 'pod',
    attempt: 1,
    state: 'pending',
    reason: null,
    retryable: false,
    exitCode: null,
    containers: [c('restore', null, null, null, null)],
    message: null,
    startedAt: null,
    finishedAt: null,
  });
});

const kbPod0 = {
  ...KB,
  job: kbJob(0),
  pod: `${kbJob(0)}-x2k9q`,
  node: 'kwok-node-0',
  scope: 'pod',
  attempt: 1,
} as const;

test('kubeblocks: bound to a node, containers still being created → placed', () => {
  expectAnswer('kb-restore-pod-bound.update', {
    ...kbPod0,
    state: 'placed',
    reason: null,
    retryable: false,
    exitCode: null,
    containers: [c('restore', null, 'ContainerCreating', null, null)],
    message: null,
    startedAt: at(2),
    finishedAt: null,
  });
});

test('kubeblocks: running → placed; only the restore container is reported, never restore-manager', () => {
  expectAnswer('kb-restore-pod-running.update', {
    ...kbPod0,
    state: 'placed',
    reason: null,
    retryable: false,
    exitCode: null,
    containers: [c('restore', null, null, at(4), null)],
    message: null,
    startedAt: at(4),
    finishedAt: null,
  });
});

const kbSucceeded: Expected = {
  ...kbPod0,
  state: 'succeeded',
  reason: null,
  retryable: false,
  exitCode: 0,
  containers: [c('restore', 0, 'Completed', at(4), at(41))],
  message: null,
  startedAt: at(4),
  finishedAt: at(41),
};

test('kubeblocks: restore exited 0 while restore-manager keeps the pod Running → succeeded (per container, not phase)', () => {
  const ev = fixture('kb-restore-succeeded-manager-running.update');
  assert.is(ev.data.status.phase, 'Running');
  assert.ok(ev.data.status.containerStatuses.find((s: any) => s.name === 'restore-manager').state.running);
  expectAnswer('kb-restore-succeeded-manager-running.update', kbSucceeded);
});

test('kubeblocks: the same pod Succeeded, and its delete event after release → the same succeeded answer', () => {
  expectAnswer('kb-restore-pod-succeeded.update', kbSucceeded);
  expectAnswer('kb-restore-pod-succeeded.delete', kbSucceeded);
});

test('kubeblocks: restore exit 1 → failed Error, retryable', () => {
  expectAnswer('kb-restore-exit1-manager-running.update', {
    ...KB,
    job: kbJob(1),
    pod: `${kbJob(1)}-p7w2m`,
    node: 'kwok-node-1',
    scope: 'pod',
    attempt: 1,
    state: 'failed',
    reason: 'Error',
    retryable: true,
    exitCode: 1,
    containers: [c('restore', 1, 'Error', at(4), at(19))],
    message: 'datasafed: pull pg-cluster-backup-20251103.tar.zst: connection reset by peer',
    startedAt: at(4),
    finishedAt: at(19),
  });
});

const kbOom: Expected = {
  ...KB,
  job: kbJob(2),
  pod: `${kbJob(2)}-b4n8z`,
  node: 'kwok-node-2',
  scope: 'pod',
  attempt: 1,
  state: 'failed',
  reason: 'OOMKilled',
  retryable: false,
  exitCode: 137,
  containers: [c('restore', 137, 'OOMKilled', at(4), at(77))],
  message: 'container restore exited 137 (OOMKilled)',
  startedAt: at(4),
  finishedAt: at(77),
};

test('kubeblocks: restore OOMKilled → failed OOMKilled, not retryable by default', () => {
  expectAnswer('kb-restore-oomkilled.update', kbOom);
});

test('kubeblocks: an OOMKilled pod deleted later (by release) keeps its verdict, not Deleted', () => {
  const ev = fixture('kb-restore-oomkilled-finished.delete');
  assert.is(ev.type, EventType.apiDelete);
  assert.is(ev.data.status.phase, 'Failed');
  expectAnswer('kb-restore-oomkilled-finished.delete', kbOom);
});

test('kubeblocks: restore exit 127 → failed Error, not retryable (127 is in RG_NON_RETRYABLE_EXIT_CODES); attempt from the annotation', () => {
  expectAnswer('kb-restore-exit127.update', {
    ...KB,
    job: kbJob(1),
    pod: `${kbJob(1)}-r5t3v`,
    node: 'kwok-node-1',
    scope: 'pod',
    attempt: 2,
    state: 'failed',
    reason: 'Error',
    retryable: false,
    exitCode: 127,
    containers: [c('restore', 127, 'Error', at(4), at(5))],
    message: 'bash: line 4: datasafed: command not found',
    startedAt: at(4),
    finishedAt: at(5),
  });
});

// ---------------------------------------------------------------- KubeBlocks Jobs

const kbJobScope = {
  ...KB,
  pod: null,
  node: null,
  scope: 'job' as const,
  containers: [] as RestoreData['containers'],
  attempt: 1,
  startedAt: at(1),
};

test('kubeblocks Job: still active → nothing to say', () => {
  expectAnswer('kb-restore-job-active.update', null);
});

test('kubeblocks Job: Complete → succeeded, scope job', () => {
  expectAnswer('kb-restore-job-complete.update', {
    ...kbJobScope,
    job: kbJob(0),
    state: 'succeeded',
    reason: null,
    retryable: false,
    exitCode: 0,
    message: 'Reached expected number of succeeded pods',
    finishedAt: at(45),
  });
});

test('kubeblocks Job: Failed BackoffLimitExceeded → failed, scope job, retryable', () => {
  expectAnswer('kb-restore-job-backofflimit.update', {
    ...kbJobScope,
    job: kbJob(1),
    state: 'failed',
    reason: 'BackoffLimitExceeded',
    retryable: true,
    exitCode: null,
    message: 'Job has reached the specified backoff limit',
    finishedAt: at(140),
  });
});

test('Job: the outcome recorded for its last pod supplies pod, node, containers and exit code, and its retryability', () => {
  const ev = fixture('kb-restore-job-backofflimit.update');
  const record = { ...kbOom, uid: 'pod-uid' };
  ev.data.metadata.annotations['restoreguard.dev/outcome'] = JSON.stringify(record);
  const got = judgeEvent(ev);
  assert.ok(got && got !== 'unselected');
  assert.equal(
    {
      pod: got.pod,
      node: got.node,
      containers: got.containers,
      exitCode: got.exitCode,
      reason: got.reason,
      retryable: got.retryable,
      scope: got.scope,
    },
    {
      pod: kbOom.pod,
      node: 'kwok-node-2',
      containers: kbOom.containers,
      exitCode: 137,
      reason: 'BackoffLimitExceeded',
      retryable: false,
      scope: 'job',
    },
  );
  // The same Job whose last pod failed with a retryable Error is retryable.
  ev.data.metadata.annotations['restoreguard.dev/outcome'] = JSON.stringify({
    ...record,
    reason: 'Error',
    exitCode: 1,
    retryable: true,
  });
  const again = judgeEvent(ev);
  assert.ok(again && again !== 'unselected' && again.retryable === true);
  // An unreadable record is ignored, not fatal.
  ev.data.metadata.annotations['restoreguard.dev/outcome'] = '{not json';
  const broken = judgeEvent(ev);
  assert.ok(broken && broken !== 'unselected');
  assert.is(broken.pod, null);
  assert.is(broken.retryable, true);
});

// ---------------------------------------------------------------- generic restore pods

const gen = (job: string, suffix: string, node: string) =>
  ({ ...GEN, job, pod: `${job}-${suffix}`, node, scope: 'pod', attempt: 1 }) as const;

test('generic: single container exited 0 → succeeded', () => {
  expectAnswer('generic-restore-succeeded.update', {
    ...gen('orders-db-restore-0', 'h8j2k', 'kwok-node-0'),
    state: 'succeeded',
    reason: null,
    retryable: false,
    exitCode: 0,
    containers: [c('restore', 0, 'Completed', at(4), at(63))],
    message: null,
    startedAt: at(4),
    finishedAt: at(63),
  });
});

test('generic: single container exited 2 → failed Error retryable, with the termination message', () => {
  expectAnswer('generic-restore-failed.update', {
    ...gen('orders-db-restore-1', 'm3q7d', 'kwok-node-1'),
    state: 'failed',
    reason: 'Error',
    retryable: true,
    exitCode: 2,
    containers: [c('restore', 2, 'Error', at(4), at(12))],
    message: 'pg_restore: error: could not open input file: checksum mismatch',
    startedAt: at(4),
    finishedAt: at(12),
  });
});

test('generic: the restore-containers annotation names the container that decides; others do not count', () => {
  expectAnswer('generic-restore-named-containers.update', {
    ...gen('orders-db-restore-2', 'w9e4r', 'kwok-node-2'),
    state: 'succeeded',
    reason: null,
    retryable: false,
    exitCode: 0,
    containers: [c('restore', 0, 'Completed', at(4), at(50))],
    message: null,
    startedAt: at(4),
    finishedAt: at(50),
  });
});

test('generic: without the annotation every regular container counts, unless it is a configured helper', () => {
  const ev = fixture('generic-restore-named-containers.update');
  delete ev.data.metadata.annotations;
  const got = judgeEvent(ev);
  assert.ok(got && got !== 'unselected');
  assert.is(got.state, 'failed');
  assert.is(got.reason, 'Error');
  assert.is(got.exitCode, 1);
  assert.equal(
    got.containers.map((x) => x.name),
    ['restore', 'metrics'],
  );
  const helpers = judgeEvent(ev, loadConfig({ RG_HELPER_CONTAINERS: 'restore-manager,metrics' }));
  assert.ok(helpers && helpers !== 'unselected');
  assert.is(helpers.state, 'succeeded');
  assert.equal(
    helpers.containers.map((x) => x.name),
    ['restore'],
  );
  const named = judgeEvent(ev, loadConfig({ RG_GENERIC_RESTORE_CONTAINERS: 'restore' }));
  assert.ok(named && named !== 'unselected' && named.state === 'succeeded');
});

test('generic: evicted (phase Failed, reason Evicted, container killed) → failed Evicted, retryable', () => {
  expectAnswer('generic-evicted.update', {
    ...gen('orders-db-restore-0', 'v6c1x', 'kwok-node-0'),
    state: 'failed',
    reason: 'Evicted',
    retryable: true,
    exitCode: 137,
    containers: [c('restore', 137, 'Error', at(4), at(30))],
    message:
      'The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 524Ki. Container restore was using 8Gi, request is 0, has larger consumption of ephemeral-storage. ',
    startedAt: at(4),
    finishedAt: at(30),
  });
});

test('generic: evicted variants: status.reason alone (older kubelets), and the Eviction API on a running pod', () => {
  const bare = fixture('generic-evicted.update');
  bare.data.status.conditions = bare.data.status.conditions.filter((x: any) => x.type !== 'DisruptionTarget');
  const a = judgeEvent(bare);
  assert.ok(a && a !== 'unselected');
  assert.equal([a.state, a.reason, a.retryable, a.exitCode], ['failed', 'Evicted', true, 137]);

  const api = fixture('generic-preempted.update');
  api.data.status.conditions.find((x: any) => x.type === 'DisruptionTarget').reason = 'EvictionByEvictionAPI';
  const b = judgeEvent(api);
  assert.ok(b && b !== 'unselected');
  assert.equal([b.state, b.reason, b.retryable, b.exitCode], ['failed', 'Evicted', true, null]);

  // The condition without a deletion yet: the pod still runs, so it is still placed.
  delete api.data.metadata.deletionTimestamp;
  const c = judgeEvent(api);
  assert.ok(c && c !== 'unselected');
  assert.is(c.state, 'placed');
});

test('generic: preempted (DisruptionTarget PreemptionByScheduler, deletionTimestamp) → failed Preempted, retryable', () => {
  expectAnswer('generic-preempted.update', {
    ...gen('orders-db-restore-1', 'z2d5f', 'kwok-node-1'),
    state: 'failed',
    reason: 'Preempted',
    retryable: true,
    exitCode: null,
    containers: [c('restore', null, null, at(4), null)],
    message: 'default-scheduler: preempting to accommodate a higher priority pod',
    startedAt: at(4),
    finishedAt: null,
  });
});

test('generic: node lost (DisruptionTarget DeletionByTaintManager) → failed NodeLost, retryable', () => {
  expectAnswer('generic-node-lost.update', {
    ...gen('orders-db-restore-2', 'k4s8n', 'kwok-node-2'),
    state: 'failed',
    reason: 'NodeLost',
    retryable: true,
    exitCode: null,
    containers: [c('restore', null, null, at(4), null)],
    message: 'Taint manager: deleting due to NoExecute taint',
    startedAt: at(4),
    finishedAt: null,
  });
});

test('generic: activeDeadlineSeconds exceeded (status.reason DeadlineExceeded, container killed) → failed DeadlineExceeded', () => {
  expectAnswer('generic-deadline-exceeded.update', {
    ...gen('orders-db-restore-0', 'q1w2e', 'kwok-node-0'),
    state: 'failed',
    reason: 'DeadlineExceeded',
    retryable: true,
    exitCode: 137,
    containers: [c('restore', 137, 'Error', at(4), at(603))],
    message: 'Pod was active on the node longer than the specified deadline',
    startedAt: at(4),
    finishedAt: at(603),
  });
});

const pullMsg =
  'Back-off pulling image "ghcr.io/example/pg-restore:16.4-typo": ErrImagePull: failed to pull and unpack image "ghcr.io/example/pg-restore:16.4-typo": failed to resolve reference "ghcr.io/example/pg-restore:16.4-typo": ghcr.io/example/pg-restore:16.4-typo: not found';

test('generic: ErrImagePull within the grace period → still placed', () => {
  expectAnswer('generic-image-pull-within-grace.update', {
    ...gen('orders-db-restore-1', 'g7h3j', 'kwok-node-1'),
    state: 'placed',
    reason: null,
    retryable: false,
    exitCode: null,
    containers: [c('restore', null, 'ErrImagePull', null, null)],
    message: null,
    startedAt: at(2),
    finishedAt: null,
  });
});

const pullFailed: Expected = {
  ...gen('orders-db-restore-1', 'g7h3j', 'kwok-node-1'),
  state: 'failed',
  reason: 'ImagePullFailed',
  retryable: false,
  exitCode: null,
  containers: [c('restore', null, 'ImagePullBackOff', null, null)],
  message: `restore: ImagePullBackOff: ${pullMsg}`,
  startedAt: at(2),
  finishedAt: null,
};

test('generic: ImagePullBackOff beyond the grace period → failed ImagePullFailed, not retryable', () => {
  expectAnswer('generic-image-pull-beyond-grace.update', pullFailed);
});

test('generic: a pod stuck on its image and then deleted stays ImagePullFailed (not Deleted)', () => {
  expectAnswer('generic-image-pull-stuck-deleted.delete', pullFailed);
});

test('generic: the grace period is configuration', () => {
  const short = judgeFixture(
    'generic-image-pull-within-grace.update',
    loadConfig({ RG_IMAGE_PULL_GRACE_SECONDS: '30' }),
  );
  assert.ok(short && short !== 'unselected');
  assert.is(short.state, 'failed');
  assert.is(short.reason, 'ImagePullFailed');
  const long = judgeFixture(
    'generic-image-pull-beyond-grace.update',
    loadConfig({ RG_IMAGE_PULL_GRACE_SECONDS: '3600' }),
  );
  assert.ok(long && long !== 'unselected');
  assert.is(long.state, 'placed');
});

test('generic: InvalidImageName → failed ImagePullFailed at once', () => {
  expectAnswer('generic-invalid-image-name.update', {
    ...gen('orders-db-restore-2', 'c5v6b', 'kwok-node-2'),
    state: 'failed',
    reason: 'ImagePullFailed',
    retryable: false,
    exitCode: null,
    containers: [c('restore', null, 'InvalidImageName', null, null)],
    message:
      'restore: InvalidImageName: Failed to apply default image tag "ghcr.io/Example/PG-Restore:16.4": couldn\'t parse image name "ghcr.io/Example/PG-Restore:16.4": invalid reference format: repository name (Example/PG-Restore) must be lowercase',
    startedAt: at(2),
    finishedAt: null,
  });
});

test('generic: CreateContainerConfigError beyond the grace period → failed ConfigError, not retryable', () => {
  expectAnswer('generic-create-container-config-error.update', {
    ...gen('orders-db-restore-0', 'f8g9h', 'kwok-node-0'),
    state: 'failed',
    reason: 'ConfigError',
    retryable: false,
    exitCode: null,
    containers: [c('restore', null, 'CreateContainerConfigError', null, null)],
    message: 'restore: CreateContainerConfigError: secret "orders-db-backup-credentials" not found',
    startedAt: at(2),
    finishedAt: null,
  });
});

test('generic: init container failed → failed InitFailed with its exit code and message', () => {
  expectAnswer('generic-init-failed.update', {
    ...gen('orders-db-restore-1', 'n2m4l', 'kwok-node-1'),
    state: 'failed',
    reason: 'InitFailed',
    retryable: false,
    exitCode: 1,
    containers: [c('restore', null, 'PodInitializing', null, null)],
    message: 'init container fetch-backup exited 1: AccessDenied: Access Denied (Service: S3, Status Code: 403)',
    startedAt: at(2),
    finishedAt: null,
  });
});

test('generic: a native sidecar (init, restartPolicy Always) still running does not hold the verdict → succeeded', () => {
  const ev = fixture('generic-native-sidecar-succeeded.update');
  assert.is(ev.data.spec.initContainers[0].restartPolicy, 'Always');
  assert.ok(ev.data.status.initContainerStatuses[0].state.running);
  expectAnswer('generic-native-sidecar-succeeded.update', {
    ...gen('orders-db-restore-2', 's1d2f', 'kwok-node-2'),
    state: 'succeeded',
    reason: null,
    retryable: false,
    exitCode: 0,
    containers: [c('restore', 0, 'Completed', at(5), at(70))],
    message: null,
    startedAt: at(5),
    finishedAt: at(70),
  });
});

test('generic: a native sidecar that failed does not count either', () => {
  const ev = fixture('generic-native-sidecar-succeeded.update');
  ev.data.status.initContainerStatuses[0].state = {
    terminated: { exitCode: 1, reason: 'Error', startedAt: at(3), finishedAt: at(20) },
  };
  const got = judgeEvent(ev);
  assert.ok(got && got !== 'unselected');
  assert.is(got.state, 'succeeded');
});

test('generic: deleted while running → failed Deleted, retryable', () => {
  expectAnswer('generic-deleted-running.delete', {
    ...gen('orders-db-restore-0', 't3y4u', 'kwok-node-0'),
    state: 'failed',
    reason: 'Deleted',
    retryable: true,
    exitCode: null,
    containers: [c('restore', null, null, at(4), null)],
    message: 'the pod was deleted before its restore containers finished',
    startedAt: at(4),
    finishedAt: null,
  });
});

test('generic: deleted while running, container stopped by the deletion (143 after the request) → failed Deleted', () => {
  expectAnswer('generic-deleted-terminated.delete', {
    ...gen('orders-db-restore-1', 'e5r6t', 'kwok-node-1'),
    state: 'failed',
    reason: 'Deleted',
    retryable: true,
    exitCode: 143,
    containers: [c('restore', 143, 'Error', at(4), at(51))],
    message: 'the pod was deleted before its restore containers finished',
    startedAt: at(4),
    finishedAt: at(51),
  });
});

const killed: Expected = {
  ...gen('orders-db-restore-2', 'j6k7l', 'kwok-node-2'),
  state: 'failed',
  reason: 'Error',
  retryable: true,
  exitCode: 137,
  containers: [c('restore', 137, 'Error', at(4), at(12))],
  message: 'container restore exited 137',
  startedAt: at(4),
  finishedAt: at(12),
};

test('generic: a container killed (137) before the pod was deleted keeps its own verdict on the delete event', () => {
  expectAnswer('generic-killed-137.update', killed);
  expectAnswer('generic-killed-137-finished.delete', killed);
});

test('generic: the same delete event without deletionTimestamp cannot be timed → the kill is put down to the deletion', () => {
  const ev = fixture('generic-killed-137-finished.delete');
  delete ev.data.metadata.deletionTimestamp;
  const got = judgeEvent(ev);
  assert.ok(got && got !== 'unselected');
  assert.is(got.reason, 'Deleted');
});

// ---------------------------------------------------------------- generic Jobs

const genJobScope = {
  ...GEN,
  pod: null,
  node: null,
  scope: 'job' as const,
  containers: [] as RestoreData['containers'],
  attempt: 1,
  startedAt: at(1),
};

test('generic Job: Complete (label only on the pod template) → succeeded, scope job', () => {
  const ev = fixture('generic-job-complete.update');
  assert.is(ev.data.metadata.labels['restoreguard.dev/group'], undefined);
  expectAnswer('generic-job-complete.update', {
    ...genJobScope,
    job: 'orders-db-restore-0',
    state: 'succeeded',
    reason: null,
    retryable: false,
    exitCode: 0,
    message: 'Reached expected number of succeeded pods',
    finishedAt: at(64),
  });
});

test('generic Job: SuccessCriteriaMet (success policy, before Complete) → succeeded, scope job', () => {
  expectAnswer('generic-job-success-criteria-met.update', {
    ...genJobScope,
    job: 'orders-db-restore-shards',
    state: 'succeeded',
    reason: null,
    retryable: false,
    exitCode: 0,
    message: 'Matched rules at index 0',
    finishedAt: at(90),
  });
});

test('generic Job: Failed DeadlineExceeded → failed DeadlineExceeded, scope job', () => {
  expectAnswer('generic-job-failed-deadline.update', {
    ...genJobScope,
    job: 'orders-db-restore-1',
    state: 'failed',
    reason: 'DeadlineExceeded',
    retryable: true,
    exitCode: null,
    message: 'Job was active longer than specified deadline',
    finishedAt: at(601),
  });
});

test('generic Job: Failed PodFailurePolicy → failed, never retryable', () => {
  expectAnswer('generic-job-failed-pod-failure-policy.update', {
    ...genJobScope,
    job: 'orders-db-restore-2',
    state: 'failed',
    reason: 'PodFailurePolicy',
    retryable: false,
    exitCode: null,
    message:
      'Container restore for pod demo/orders-db-restore-2-l0k9j failed with exit code 42 matching FailJob rule at index 0',
    finishedAt: at(13),
  });
  const all = loadConfig({ RG_RETRYABLE_REASONS: 'Error,PodFailurePolicy,BackoffLimitExceeded' });
  const got = judgeFixture('generic-job-failed-pod-failure-policy.update', all);
  assert.ok(got && got !== 'unselected');
  assert.is(got.retryable, false);
});

test('generic Job: FailureTarget (before Failed) → failed with the condition reason, scope job', () => {
  expectAnswer('generic-job-failure-target.update', {
    ...genJobScope,
    job: 'orders-db-restore-3',
    state: 'failed',
    reason: 'BackoffLimitExceeded',
    retryable: true,
    exitCode: null,
    message: 'Job has reached the specified backoff limit',
    finishedAt: at(77),
  });
});

// ---------------------------------------------------------------- not ours

test('an unselected pod (no restore labels) is not judged', () => {
  expectAnswer('unselected-pod.update', 'unselected');
});

test('an anchor pod (restoreguard.dev/anchor-for) is never a restore object, although it carries the group label', () => {
  assert.ok(fixture('anchor-pod.add').data.metadata.labels['restoreguard.dev/group']);
  expectAnswer('anchor-pod.add', 'unselected');
});

test('profiles are configuration: kubeblocks only leaves generic restores unselected, and the reverse', () => {
  const kbOnly = loadConfig({ RG_PROFILES: 'kubeblocks' });
  assert.is(judgeFixture('generic-restore-failed.update', kbOnly), 'unselected');
  assert.is(judgeFixture('generic-job-complete.update', kbOnly), 'unselected');
  const kbAnswer = judgeFixture('kb-restore-exit1-manager-running.update', kbOnly);
  assert.ok(kbAnswer && kbAnswer !== 'unselected' && kbAnswer.profile === 'kubeblocks');
  const genericOnly = loadConfig({ RG_PROFILES: 'generic' });
  assert.is(judgeFixture('kb-restore-exit1-manager-running.update', genericOnly), 'unselected');
  assert.is(judgeFixture('kb-restore-job-complete.update', genericOnly), 'unselected');
});

test('the label domain is configuration: restoreguard.dev labels are not ours under another domain', () => {
  const other = loadConfig({ RG_DOMAIN: 'rg.example.com' });
  assert.is(judgeFixture('generic-restore-failed.update', other), 'unselected');
  // ... and the attempt annotation is read under that domain only.
  const kb = judgeFixture('kb-restore-exit127.update', other);
  assert.ok(kb && kb !== 'unselected');
  assert.is(kb.attempt, 1);
});

// ---------------------------------------------------------------- policy

test('policy defaults: OOMKilled, ImagePullFailed, ConfigError not retryable; infrastructure retryable; Error unless 126/127', () => {
  const p = DEFAULTS;
  assert.equal(p.RG_NON_RETRYABLE_EXIT_CODES, [126, 127]);
  for (const r of ['OOMKilled', 'ImagePullFailed', 'ConfigError', 'PodFailurePolicy'] as const)
    assert.is(isRetryable(p, r, null), false, r);
  for (const r of ['Evicted', 'Preempted', 'NodeLost', 'Deleted'] as const) assert.is(isRetryable(p, r, 137), true, r);
  assert.is(isRetryable(p, 'Error', 1), true);
  assert.is(isRetryable(p, 'Error', 137), true);
  assert.is(isRetryable(p, 'Error', 126), false);
  assert.is(isRetryable(p, 'Error', 127), false);
  assert.is(isRetryable(p, 'Error', null), true);
  // OOMKilled with an exit code in no list is still not retryable: the reason decides first.
  assert.is(isRetryable(p, 'OOMKilled', 137), false);
});

test('policy is configurable: non-retryable exit codes', () => {
  const cfg = loadConfig({ RG_NON_RETRYABLE_EXIT_CODES: '1,2' });
  const exit1 = judgeFixture('kb-restore-exit1-manager-running.update', cfg);
  assert.ok(exit1 && exit1 !== 'unselected');
  assert.is(exit1.reason, 'Error');
  assert.is(exit1.retryable, false);
  const exit127 = judgeFixture('kb-restore-exit127.update', cfg);
  assert.ok(exit127 && exit127 !== 'unselected');
  assert.is(exit127.retryable, true);
});

test('policy is configurable: retryable reasons', () => {
  const cfg = loadConfig({ RG_RETRYABLE_REASONS: 'Error,OOMKilled,ImagePullFailed' });
  const oom = judgeFixture('kb-restore-oomkilled.update', cfg);
  assert.ok(oom && oom !== 'unselected' && oom.retryable === true);
  const pull = judgeFixture('generic-invalid-image-name.update', cfg);
  assert.ok(pull && pull !== 'unselected' && pull.retryable === true);
  const evicted = judgeFixture('generic-evicted.update', cfg);
  assert.ok(evicted && evicted !== 'unselected');
  assert.is(evicted.reason, 'Evicted');
  assert.is(evicted.retryable, false);
  const job = judgeFixture('kb-restore-job-backofflimit.update', cfg);
  assert.ok(job && job !== 'unselected' && job.retryable === false);
});

test('a bad policy is refused at load, naming the variable', () => {
  assert.throws(() => loadConfig({ RG_RETRYABLE_REASONS: 'Error,Flaky' }), /RG_RETRYABLE_REASONS/);
  assert.throws(() => loadConfig({ RG_NON_RETRYABLE_EXIT_CODES: '1,x' }), /RG_NON_RETRYABLE_EXIT_CODES/);
});

// ---------------------------------------------------------------- purity

test('judging is pure: same input, same answer, and the object is not changed', () => {
  for (const name of [
    'kb-restore-succeeded-manager-running.update',
    'generic-preempted.update',
    'kb-restore-job-backofflimit.update',
  ]) {
    const ev = fixture(name);
    const before = JSON.stringify(ev);
    const a = judgeEvent(ev);
    const b = judgeEvent(ev);
    assert.equal(a, b, name);
    assert.is(JSON.stringify(ev), before, name);
  }
});

test('the answer names the PVCs the pod mounts, so records reach them after the pod and Job are gone', () => {
  const names = readdirSync(DIR).filter((f) => f.endsWith('.json'));
  let withClaims = 0;
  let withRepo = 0;
  for (const n of names) {
    const ev = fixture(n.replace(/\.json$/, ''));
    const got = judgeEvent(ev, DEFAULTS);
    if (!got || typeof got !== 'object') continue;
    const want = claimsIn(ev.data as never);
    assert.equal(got.claims, want, n);
    if (want.length) withClaims++;
    if (JSON.stringify(ev.data).includes('"dp-backup-data"')) {
      withRepo++;
      assert.not.ok(
        got.claims?.some((c) => c.startsWith('pvc-backuprepo')),
        `${n}: the shared repository PVC is not the restore's`,
      );
    }
  }
  assert.ok(withClaims > 5, `fixtures with PVCs: ${withClaims}`);
  assert.ok(withRepo > 0, 'a fixture mounts a Mount-type backup repository');
});

// Its speed is the benchmark's business (figure 5), not a timed test's: a busy CI machine must not fail it.
test('30,000 containers (a 1 MiB event): every one judged, init containers included', async () => {
  const { judgeObject } = await import('../../functions/core/restore/judge.ts');
  const { restorePod } = await import('../support/objects.ts');
  const n = 30_000;
  const names = Array.from({ length: n }, (_, i) => `c${i}`);
  const pod = restorePod({ profile: 'generic', group: 'g', restore: 'waiting' }) as any;
  pod.metadata.annotations = { 'restoreguard.dev/restore-containers': names.join(',') };
  pod.spec.containers = names.map((name) => ({ name, image: 'x' }));
  pod.spec.initContainers = names.slice(0, n / 2).map((name) => ({ name: `i${name}`, image: 'x' }));
  pod.status.containerStatuses = names.map((name) => ({ name, state: { waiting: { reason: 'ContainerCreating' } } }));
  pod.status.initContainerStatuses = names
    .slice(0, n / 2)
    .map((name) => ({ name: `i${name}`, state: { terminated: { exitCode: 0 } } }));
  const deps = { config: DEFAULTS, selector: createSelector(DEFAULTS) };
  const d = judgeObject(pod, deps, false, new Date('2026-11-29T10:00:10Z'));
  const failedPod = { ...pod, status: { ...pod.status, phase: 'Failed' } };
  const f = judgeObject(failedPod, deps, false, new Date('2026-11-29T10:00:10Z'));
  assert.is(d?.state, 'placed');
  assert.is(d?.containers.length, n);
  assert.is(f?.state, 'failed');
});

test('isNews: the bind, an unschedulable pending pod and an unrecorded outcome are news; repeats are not', async () => {
  const { isNews, judgeObject } = await import('../../functions/core/restore/judge.ts');
  const { restorePod } = await import('../support/objects.ts');
  const deps = { config: DEFAULTS, selector: createSelector(DEFAULTS) };
  const at = new Date('2026-11-29T10:00:10Z');
  const news = (p: any, deleted = false) => {
    const d = judgeObject(p, deps, deleted, at)!;
    return isNews(p, d, deleted);
  };
  assert.ok(news(restorePod({ phase: 'Pending' })), 'the bind');
  assert.not.ok(news(restorePod({ phase: 'Running' })), 'a running pod repeats its bind');
  const waiting = restorePod({ node: null, phase: 'Pending', restore: 'waiting' });
  assert.not.ok(news(waiting), 'a pending pod that schedules at once needs no hand-over');
  const repelled = restorePod({
    node: null,
    phase: 'Pending',
    restore: 'waiting',
    status: { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] },
  });
  assert.ok(news(repelled), 'unschedulable: the hand-over may be needed');
  const done = restorePod({ restore: { exit: 0 }, helperRunning: false, phase: 'Succeeded' });
  assert.ok(news(done), 'an unrecorded outcome');
  const recorded = {
    ...done,
    metadata: {
      ...done.metadata,
      labels: { ...done.metadata.labels, 'restoreguard.dev/state': 'succeeded' },
      annotations: {
        'restoreguard.dev/outcome': JSON.stringify({ state: 'succeeded', scope: 'pod', uid: done.metadata.uid }),
      },
    },
  };
  assert.is(judgeObject(recorded as any, deps, false, at)?.recorded, true);
  assert.ok(news(recorded), 'recorded and ended: release deletes it');
  assert.not.ok(news(recorded, true), 'recorded and deleted: nothing left');
  const sidecar = { ...recorded, status: { ...restorePod({ restore: { exit: 0 } }).status } };
  assert.not.ok(news(sidecar), 'recorded, the sidecar still runs: nothing until it ends');
});

test.run();
