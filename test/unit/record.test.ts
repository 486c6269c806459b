// labeling/record-format.ts: what an outcome record looks like and when it is written. Pure: no cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RestoreData } from '../../functions/core/restore/events.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import {
  RETRY_VERDICTS as VERDICTS,
  hasRecord,
  readHistory,
  historyHas,
  succeededMembers,
} from '../../functions/core/restore/records.ts';
import {
  jobRecordPatch,
  olderThanRecord,
  outcomeRecord,
  recentRecord,
  redactTail,
  withHistory,
} from '../../functions/labeling/record-format.ts';
import { keys } from '../../functions/core/restore/keys.ts';

const k = keys('restoreguard.dev');

const data = (o: Partial<RestoreData> = {}): RestoreData => ({
  namespace: 'db',
  group: 'g',
  profile: 'generic',
  job: 'j',
  pod: 'j-a',
  uid: 'uid-a',
  node: 'n1',
  scope: 'pod',
  state: 'failed',
  reason: 'Error',
  retryable: true,
  exitCode: 1,
  containers: [],
  message: null,
  attempt: 1,
  startedAt: '2026-11-29T10:00:00Z',
  finishedAt: '2026-11-29T10:00:05Z',
  ...o,
});
const obj = (labels: Record<string, string> = {}, annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'j', namespace: 'db', labels, annotations },
});
const NOW = new Date('2026-11-29T10:00:10Z');

test('the record carries the outcome, its duration and when it was recorded, not the profile', () => {
  const r = JSON.parse(outcomeRecord(data(), NOW, 'tail'));
  assert.is(r.state, 'failed');
  assert.is(r.durationSeconds, 5);
  assert.is(r.recordedAt, '2026-11-29T10:00:10.000Z');
  assert.is(r.logTail, 'tail');
  assert.is(r.profile, undefined);
});

test('history: each outcome once, newest last, bounded to 20', () => {
  let h: string | undefined;
  for (let i = 0; i < 25; i++) h = withHistory(h, data({ pod: `p${i}`, uid: `u${i}` }));
  h = withHistory(h, data({ pod: 'p24', uid: 'u24' }));
  const list = readHistory(h);
  assert.is(list.length, 20);
  assert.is(list[0]!.pod, 'p5');
  assert.is(list[19]!.pod, 'p24');
  assert.ok(historyHas(h, 'u24'));
  assert.not.ok(historyHas(h, 'u0'));
});

test('hasRecord: same state and scope, and for pods the same pod', () => {
  const o = obj({}, { [k.outcome]: outcomeRecord(data(), NOW, null) });
  assert.ok(hasRecord(o, k, data()));
  assert.not.ok(hasRecord(o, k, data({ uid: 'uid-b' })));
  assert.not.ok(hasRecord(o, k, data({ state: 'succeeded' })));
  assert.not.ok(hasRecord(obj(), k, data()));
});

test("jobRecordPatch: a pod's outcome labels a Job without an outcome of its own, and adds history", () => {
  const p = jobRecordPatch(obj(), data(), k, 'TEXT', VERDICTS)!;
  // and, for a generic group, its group label (release lists a group's Jobs by it)
  assert.equal(p.labels, { [k.state]: 'failed', [k.group]: 'g' });
  assert.equal(jobRecordPatch(obj(), data({ profile: 'kubeblocks' }), k, 'TEXT', VERDICTS)!.labels, {
    [k.state]: 'failed',
  });
  assert.is(p.annotations[k.outcome], 'TEXT');
  assert.is(readHistory(p.annotations[k.history]).length, 1);
});

test("jobRecordPatch: never over the Job's own final outcome, nor over retry's verdict; null when all is there", () => {
  const own = obj(
    { [k.state]: 'failed', [k.group]: 'g' },
    { [k.outcome]: outcomeRecord(data({ scope: 'job', pod: null, uid: 'uid-j' }), NOW, null) },
  );
  const p = jobRecordPatch(own, data(), k, 'TEXT', VERDICTS)!;
  assert.is(p.labels, undefined);
  assert.is(p.annotations[k.outcome], undefined);
  assert.ok(p.annotations[k.history], 'the pod still goes into the history');
  const retried = obj({ [k.state]: 'retried', [k.group]: 'g' });
  assert.is(jobRecordPatch(retried, data(), k, 'TEXT', VERDICTS)!.labels, undefined);
  const done = obj(
    { [k.state]: 'failed', [k.group]: 'g' },
    { [k.outcome]: outcomeRecord(data(), NOW, null), [k.history]: withHistory(undefined, data()) },
  );
  assert.is(jobRecordPatch(done, data(), k, 'TEXT', VERDICTS), null);
});

test("olderThanRecord: a late event about an older pod does not replace a newer pod's record", () => {
  const newer = obj(
    {},
    {
      [k.outcome]: outcomeRecord(
        data({ uid: 'uid-b', state: 'succeeded', finishedAt: '2026-11-29T10:01:00Z' }),
        NOW,
        null,
      ),
    },
  );
  assert.ok(olderThanRecord(newer, k, data()));
  assert.not.ok(
    olderThanRecord(newer, k, data({ uid: 'uid-c', finishedAt: '2026-11-29T10:02:00Z' })),
    'a later one does',
  );
  assert.not.ok(olderThanRecord(newer, k, data({ uid: 'uid-b' })), 'the same pod may restate its record');
  assert.not.ok(olderThanRecord(obj(), k, data()), 'nothing recorded yet');
  // The Job's own verdict reached the PVC first: its pod's record (exit codes, log tail) is the fuller one.
  const verdict = obj(
    {},
    {
      [k.outcome]: outcomeRecord(
        data({ scope: 'job', pod: null, uid: 'uid-j', finishedAt: '2026-11-29T10:00:06Z' }),
        NOW,
        null,
      ),
    },
  );
  assert.not.ok(olderThanRecord(verdict, k, data()));
  assert.ok(olderThanRecord(verdict, k, data({ job: 'other-job' })), "another Job's later verdict is newer");
});

test('recentRecord: within the window of its recordedAt only', () => {
  const o = obj({}, { [k.outcome]: outcomeRecord(data(), NOW, null) });
  assert.ok(recentRecord(o, k, new Date(NOW.getTime() + 60_000), 10 * 60_000));
  assert.not.ok(recentRecord(o, k, new Date(NOW.getTime() + 11 * 60_000), 10 * 60_000));
  assert.not.ok(recentRecord(obj(), k, NOW, 10 * 60_000));
});

test('redactTail: credentials redacted, the newest bytes kept', () => {
  const t = redactTail('connecting with password=hunter2 and Authorization: Bearer abc.def\nok', 4096);
  assert.not.match(t, /hunter2|abc\.def/);
  assert.match(t, /password=\[REDACTED\]/);
  assert.is(redactTail(`${'x'.repeat(100)}END`, 10), `${'x'.repeat(7)}END`);
});

test.run();

test('succeededMembers: the last word on each pod of a Job, when it is success', () => {
  const k = keys('restoreguard.dev');
  const history = [
    { scope: 'pod', uid: 'a', pod: 'p-a', node: 'n1', state: 'succeeded' },
    { scope: 'pod', uid: 'b', pod: 'p-b', node: 'n2', state: 'succeeded' },
    { scope: 'pod', uid: 'b', pod: 'p-b', node: 'n2', state: 'failed' },
    { scope: 'job', state: 'succeeded' },
    { scope: 'pod', uid: 'c', pod: 'p-c', node: 'n3', state: 'failed' },
    { scope: 'pod', uid: 'c', pod: 'p-c', node: 'n3', state: 'succeeded' },
  ];
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j', annotations: { [k.history]: JSON.stringify(history) } },
  };
  assert.equal(
    succeededMembers(job, k).map((e) => e.uid),
    ['a', 'c'],
  );
  assert.equal(succeededMembers({ ...job, metadata: { name: 'j' } }, k), []);
});
