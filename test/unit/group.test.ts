// release/group.ts: when is a group finished and recorded, so its anchors can go? Pure: no cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { groupComplete } from '../../functions/release/group.ts';
import type { GroupView } from '../../functions/release/group.ts';
import { keys } from '../../functions/core/restore/keys.ts';
import { siblingQueries } from '../../functions/release/release.ts';

const k = keys('restoreguard.dev');
const cond = (type: string) => ({ conditions: [{ type, status: 'True' }] });
const outcome = (o: Record<string, unknown>) =>
  JSON.stringify({
    state: 'failed',
    scope: 'job',
    retryable: true,
    attempt: 1,
    finishedAt: '2026-11-29T10:00:05Z',
    ...o,
  });

function job(
  name: string,
  o: {
    status?: string;
    state?: string;
    outcome?: Record<string, unknown>;
    history?: unknown[];
    retry?: boolean;
    annotations?: Record<string, string>;
  } = {},
): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: 'db',
      uid: `uid-${name}`,
      labels: { ...(o.state ? { [k.state]: o.state } : {}), ...(o.retry ? { [k.retry]: 'true' } : {}) },
      annotations: {
        ...(o.outcome ? { [k.outcome]: outcome(o.outcome) } : {}),
        ...(o.history ? { [k.history]: JSON.stringify(o.history) } : {}),
        ...o.annotations,
      },
    },
    status: o.status ? cond(o.status) : {},
  };
}
const anchor = (name: string, annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `${name}-anchor`, namespace: 'db', labels: { [k.anchorFor]: name, [k.group]: 'g' }, annotations },
  status: { phase: 'Running' },
});
const view = (v: Partial<GroupView>): GroupView => ({
  profile: 'generic',
  owner: null,
  jobs: [],
  pods: [],
  anchors: [],
  retryJobs: false,
  ...v,
});

test('every Job finished and recorded, no pod running: complete', () => {
  const v = view({
    jobs: [job('a', { status: 'Complete', state: 'succeeded' }), job('b', { status: 'Complete', state: 'succeeded' })],
    anchors: [anchor('a-x'), anchor('b-x')],
  });
  assert.equal(groupComplete(v, k), { complete: true, why: 'every member finished and recorded' });
});

test('a Job still running, or finished without a record: not complete', () => {
  assert.is(
    groupComplete(view({ jobs: [job('a', { status: 'Complete', state: 'succeeded' }), job('b')] }), k).why,
    'job b is not finished',
  );
  assert.is(groupComplete(view({ jobs: [job('a', { status: 'Complete' })] }), k).why, 'job a is not recorded yet');
});

test("a failed Job with only its pod's failure record is not recorded: a retry may still come", () => {
  // The pod's record reached the Job first (state=failed, pod scope): the Job's own outcome decides.
  const j = job('a', { status: 'Failed', state: 'failed', retry: true, outcome: { scope: 'pod' } });
  const v = view({ jobs: [j, job('b', { status: 'Complete', state: 'succeeded' })], anchors: [anchor('b-x')] });
  assert.equal(groupComplete(v, k), { complete: false, why: 'job a is not recorded yet' });
});

test("a failed, opted-in Job waits for retry's word: retried, exhausted or skipped ends the wait", () => {
  const pending = job('a', { status: 'Failed', state: 'failed', retry: true, outcome: {} });
  assert.equal(groupComplete(view({ jobs: [pending] }), k), { complete: false, why: 'job a has a retry to come' });
  // Even a non-retryable outcome waits: retry writes its decision, and release takes retry's answer.
  assert.is(
    groupComplete(
      view({ jobs: [job('a', { status: 'Failed', state: 'failed', retry: true, outcome: { retryable: false } })] }),
      k,
    ).why,
    'job a has a retry to come',
  );
  assert.ok(
    groupComplete(view({ jobs: [job('a', { status: 'Failed', state: 'exhausted', retry: true, outcome: {} })] }), k)
      .complete,
  );
  assert.ok(
    groupComplete(
      view({
        jobs: [
          job('a', {
            status: 'Failed',
            state: 'failed',
            retry: true,
            outcome: {},
            annotations: { [k.retrySkipped]: 'its last pod failed with Error, which is not retryable' },
          }),
        ],
      }),
      k,
    ).complete,
  );
  // retried: the retry Job is the member now.
  const retried = job('a', { status: 'Failed', state: 'retried', retry: true, outcome: {} });
  assert.is(
    groupComplete(view({ jobs: [retried, job('a-retry-1', { annotations: { [k.rootJob]: 'a' } })] }), k).why,
    'job a-retry-1 is not finished',
  );
  assert.ok(
    groupComplete(
      view({
        jobs: [
          retried,
          job('a-retry-1', { status: 'Complete', state: 'succeeded', annotations: { [k.rootJob]: 'a' } }),
        ],
      }),
      k,
    ).complete,
  );
});

test('a failed Job that is not opted in has no retry to come; configuration opts every Job in', () => {
  const failed = job('a', { status: 'Failed', state: 'failed', outcome: {} });
  assert.ok(groupComplete(view({ jobs: [failed] }), k).complete);
  assert.is(groupComplete(view({ jobs: [failed], retryJobs: true }), k).why, 'job a has a retry to come');
});

test('group-size counts root Jobs (a retry Job is the same member) or anchors, whichever are more', () => {
  const size = { [k.groupSize]: '2' };
  const ok = (name: string, extra: Record<string, string> = {}) =>
    job(name, { status: 'Complete', state: 'succeeded', annotations: { ...size, ...extra } });
  // One member so far (a sequential group): not complete.
  assert.equal(groupComplete(view({ jobs: [ok('a')], anchors: [anchor('a-x', size)] }), k), {
    complete: false,
    why: '1 of 2 members seen',
  });
  // A failed member's anchor was deleted: its Job still counts.
  const failed = job('b', { status: 'Failed', state: 'exhausted', outcome: {}, annotations: size });
  assert.ok(groupComplete(view({ jobs: [ok('a'), failed], anchors: [anchor('a-x', size)] }), k).complete);
  // A retry Job of a is still member a.
  assert.is(
    groupComplete(
      view({
        jobs: [
          job('a', { status: 'Failed', state: 'retried', annotations: size }),
          ok('a-retry-1', { [k.rootJob]: 'a' }),
        ],
        anchors: [anchor('a-y', size)],
      }),
      k,
    ).why,
    '1 of 2 members seen',
  );
  // Finished Jobs deleted (TTL): the anchors count.
  assert.ok(groupComplete(view({ anchors: [anchor('a-x', size), anchor('b-x', size)] }), k).complete);
});

test("KubeBlocks with its Restore: the Restore's phase decides", () => {
  const restore = (phase: string): KubeObject => ({
    apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'r', namespace: 'db' },
    status: { phase },
  });
  assert.equal(
    groupComplete(
      view({
        profile: 'kubeblocks',
        owner: restore('Running'),
        jobs: [job('a', { status: 'Complete', state: 'succeeded' })],
      }),
      k,
    ),
    { complete: false, why: 'Restore r is Running' },
  );
  assert.ok(groupComplete(view({ profile: 'kubeblocks', owner: restore('Completed') }), k).complete);
  assert.ok(groupComplete(view({ profile: 'kubeblocks', owner: restore('Failed') }), k).complete);
  assert.equal(
    groupComplete(
      view({
        profile: 'kubeblocks',
        owner: { ...restore('x'), status: {} },
        jobs: [job('a', { status: 'Complete', state: 'succeeded' })],
      }),
      k,
    ),
    { complete: false, why: 'Restore r is not started' },
  );
  // AsDataSource never ends (the Restore feeds a PVC's dataSourceRef): the Jobs decide.
  const done = [job('a', { status: 'Complete', state: 'succeeded' })];
  assert.ok(groupComplete(view({ profile: 'kubeblocks', owner: restore('AsDataSource'), jobs: done }), k).complete);
  assert.is(
    groupComplete(view({ profile: 'kubeblocks', owner: restore('AsDataSource'), jobs: [job('a')] }), k).why,
    'job a is not finished',
  );
});

test('nothing at all is not a group', () => {
  assert.equal(groupComplete(view({}), k), { complete: false, why: 'no members' });
});

test('siblingQueries: the anchors of one group, which differ only in the member they exclude, need one list; the exact selectors stay', () => {
  const anchor = (member: string, extra: object[] = []) =>
    ({
      metadata: { name: `a-${member}` },
      spec: {
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              {
                labelSelector: {
                  matchLabels: { app: 'db' },
                  matchExpressions: [
                    ...extra,
                    { key: 'apps.kubeblocks.io/pod-name', operator: 'NotIn', values: [member] },
                  ],
                },
                topologyKey: 'kubernetes.io/hostname',
              },
            ],
          },
        },
      },
    }) as unknown as KubeObject;
  const q = siblingQueries([anchor('db-0'), anchor('db-1'), anchor('db-1')], 'restoreguard.dev');
  assert.equal([...q.keys()], ['app=db']);
  assert.equal(q.get('app=db'), [
    'app=db,apps.kubeblocks.io/pod-name notin (db-0)',
    'app=db,apps.kubeblocks.io/pod-name notin (db-1)',
  ]);
  // Another expression is part of the term: kept (only the member exclusion widens).
  const other = siblingQueries(
    [anchor('db-0', [{ key: 'tier', operator: 'NotIn', values: ['cache'] }])],
    'restoreguard.dev',
  );
  assert.equal([...other.keys()], ['app=db,tier notin (cache)']);
  // A term that is nothing but the exclusion is listed whole, never as an empty selector.
  const bare = {
    metadata: { name: 'a' },
    spec: {
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchExpressions: [{ key: 'job-name', operator: 'NotIn', values: ['j'] }] } },
          ],
        },
      },
    },
  } as unknown as KubeObject;
  assert.equal([...siblingQueries([bare], 'restoreguard.dev').keys()], ['job-name notin (j)']);
});

test.run();
