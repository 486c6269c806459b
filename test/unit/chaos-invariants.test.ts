/**
 * The chaos suite's invariant checks (test/chaos/invariants.ts): a clean history reports 0 on every
 * one, and each check reports the history that breaks its property.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkInvariants,
  memoryProblems,
  parseAudit,
  type AuditEvent,
  type CheckInput,
  type MemoryInput,
} from '../chaos/invariants.ts';
import type { Change } from '../support/chain.ts';

const NS = 'chaos';
const D = 'restoreguard.dev';
let rv = 100;

type Obj = Record<string, any>;
function pod(
  name: string,
  o: {
    group?: string;
    job?: string;
    node?: string;
    phase?: string;
    claim?: string;
    anchorFor?: string;
    uid?: string;
    ann?: Record<string, string>;
  } = {},
): Obj {
  return {
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      uid: o.uid ?? `uid-${name}`,
      labels: {
        ...(o.group ? { [`${D}/group`]: o.group } : {}),
        ...(o.job ? { 'batch.kubernetes.io/job-name': o.job } : {}),
        ...(o.anchorFor ? { [`${D}/anchor-for`]: o.anchorFor } : {}),
      },
      annotations: { ...(o.anchorFor ? { [`${D}/anchor-for-pod`]: o.anchorFor } : {}), ...o.ann },
    },
    spec: {
      ...(o.node ? { nodeName: o.node } : {}),
      containers: [{ name: 'restore' }],
      ...(o.claim ? { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: o.claim } }] } : {}),
    },
    status: { phase: o.phase ?? 'Pending' },
  };
}
function job(
  name: string,
  o: {
    group: string;
    terminal?: 'Complete' | 'Failed';
    history?: { pod: string; uid: string }[];
    labels?: Record<string, string>;
  },
): Obj {
  return {
    kind: 'Job',
    metadata: {
      name,
      namespace: NS,
      uid: `uid-${name}`,
      labels: { [`${D}/group`]: o.group, ...o.labels },
      annotations: o.history
        ? { [`${D}/history`]: JSON.stringify(o.history.map((h) => ({ ...h, scope: 'pod', state: 'succeeded' }))) }
        : {},
    },
    status: { conditions: o.terminal ? [{ type: o.terminal, status: 'True' }] : [] },
  };
}
function claim(name: string, recordFor?: { pod: string; uid: string }): Obj {
  return {
    kind: 'PersistentVolumeClaim',
    metadata: {
      name,
      namespace: NS,
      uid: `uid-${name}`,
      annotations: recordFor
        ? {
            [`${D}/outcome`]: JSON.stringify({
              scope: 'pod',
              state: 'succeeded',
              pod: recordFor.pod,
              uid: recordFor.uid,
            }),
          }
        : {},
    },
  };
}

/** A watch: objects are added in the order given (each a change with the next resourceVersion). */
class Watch {
  readonly changes = new Map<string, Change[]>();
  at = 1_000_000;
  put(obj: Obj, type: Change['type'] = 'MODIFIED', atMs?: number): number {
    const key = `${obj.kind}/${obj.metadata.name}/${obj.metadata.uid}`;
    const list = this.changes.get(key) ?? [];
    if (!list.length && type === 'MODIFIED') type = 'ADDED';
    rv++;
    this.at = atMs ?? this.at + 100;
    list.push({ at: this.at, type, rv, obj: structuredClone(obj) });
    this.changes.set(key, list);
    return rv;
  }
}

function deleteEvent(name: string, atMs: number, resource = 'pods', ns = NS): AuditEvent {
  return {
    verb: 'delete',
    stage: 'ResponseComplete',
    user: { username: 'rg' },
    objectRef: { resource, namespace: ns, name },
    responseStatus: { code: 200 },
    requestReceivedTimestamp: new Date(atMs).toISOString(),
  };
}

/** One group "g" of two members on two nodes, restored, recorded, released; anchors made and gone. */
function cleanRun() {
  const w = new Watch();
  const audit: AuditEvent[] = [];
  for (const [i, node] of ['n1', 'n2'].entries()) {
    const name = `g-${i}-abc`;
    const uid = `uid-${name}`;
    const jobName = `g-${i}`;
    w.put(claim(`data-${i}`));
    w.put(job(jobName, { group: 'g' }));
    const p = pod(name, { group: 'g', job: jobName, claim: `data-${i}` });
    w.put(p);
    p.spec.nodeName = node;
    w.put(p);
    const a = pod(`${name}-anchor`, { group: 'g', anchorFor: name, node });
    w.put(a);
    p.status.phase = 'Succeeded';
    w.put(p);
    w.put(job(jobName, { group: 'g', history: [{ pod: name, uid }] }));
    w.put(claim(`data-${i}`, { pod: name, uid }));
    w.put(job(jobName, { group: 'g', terminal: 'Complete', history: [{ pod: name, uid }] }));
    audit.push(deleteEvent(name, w.at + 50));
    w.put(p, 'DELETED');
    audit.push(deleteEvent(`${name}-anchor`, w.at + 50));
    w.put(a, 'DELETED');
  }
  return { w, audit };
}

/**
 * A replica's memory over a 600 s run sampled every second (the faults phase: the first 540 s):
 * rss(t) in kB, the live heap after a GC at the start and the end.
 */
function memory(o: { rss?: (t: number) => number; heapKb?: [number, number] } = {}): MemoryInput {
  const rss = o.rss ?? ((t: number) => 80_000 + Math.min(t, 120) * 500); // warm-up to 140 MB, then flat
  const [h0, h1] = o.heapKb ?? [19_000, 19_500];
  return {
    limitKb: 256 * 1024,
    rss: Array.from({ length: 600 }, (_, t) => ({ at: 1_000_000 + t * 1000, kb: rss(t) })),
    heap: [
      { at: 999_000, usedKb: h0 },
      { at: 1_600_000, usedKb: h1 },
    ],
    heapGrowthLimitKb: 8 * 1024,
    windowEndAt: 1_540_000,
    lateRiseLimitKb: 24 * 1024,
  };
}

function input(w: Watch, audit: AuditEvent[], extra: Partial<CheckInput> = {}): CheckInput {
  return {
    changes: w.changes,
    audit,
    namespace: NS,
    domain: D,
    groups: [{ name: 'g', allCreated: true }],
    resyncPeriodMs: 10_000,
    slackMs: 1000,
    maxAttempts: 3,
    lastFaultAt: 0,
    endAt: w.at + 1000,
    memory: memory(),
    ...extra,
  };
}

const count = (inp: CheckInput, startsWith: string) => {
  const r = checkInvariants(inp).invariants.find((i) => i.name.startsWith(startsWith));
  if (!r) throw new Error(`no invariant ${startsWith}`);
  return r.count;
};

test('a clean run reports 0 on every invariant', () => {
  const { w, audit } = cleanRun();
  const r = checkInvariants(input(w, audit));
  for (const i of r.invariants) assert.is(i.count, 0, `${i.name}: ${i.examples.join('; ')}`);
  assert.is(r.restorePods, 2);
  assert.is(r.anchors, 2);
  assert.is(r.convergenceMs.length, 1);
});

test('two members of a group bound on one node at once are reported; one after the other is not', () => {
  const { w, audit } = cleanRun();
  assert.is(count(input(w, audit), 'two members'), 0);
  const intruder = pod('g-9-x', { group: 'g', job: 'g-9', node: 'n1' });
  w.put(job('g-9', { group: 'g', terminal: 'Complete' }));
  // n1's first member and its anchor are gone by now: one after the other, not a violation
  w.put(intruder);
  assert.is(count(input(w, audit), 'two members'), 0);
  assert.is(checkInvariants(input(w, audit)).sequentialReuse, 1);
  // a member of another lineage on n2 while an anchor there is still alive: a violation
  const w2 = new Watch();
  w2.put(pod('g-0-a', { group: 'g', job: 'g-0', node: 'n2' }));
  w2.put(pod('g-1-b', { group: 'g', job: 'g-1', node: 'n2' }));
  assert.is(count(input(w2, []), 'two members'), 1);
});

test('a finished pod without its record on the Job or on a PVC is a lost record', () => {
  const w = new Watch();
  w.put(claim('data-0'));
  w.put(job('g-0', { group: 'g', terminal: 'Complete', history: [{ pod: 'g-0-a', uid: 'uid-g-0-a' }] }));
  w.put(pod('g-0-a', { group: 'g', job: 'g-0', node: 'n1', phase: 'Succeeded', claim: 'data-0' }));
  assert.is(count(input(w, []), 'finished restore pods without'), 1, 'the PVC has no record');
  w.put(claim('data-0', { pod: 'g-0-a', uid: 'uid-g-0-a' }));
  assert.is(count(input(w, []), 'finished restore pods without'), 0);
  w.put(pod('g-0-b', { group: 'g', job: 'g-0', node: 'n1', phase: 'Failed' }));
  assert.is(count(input(w, []), 'finished restore pods without'), 1, 'the Job has no record of the second pod');
});

test('a PVC that holds a newer attempt’s record counts for an older attempt’s late record; an older one does not', () => {
  const w = new Watch();
  const j = job('g-0', { group: 'g', terminal: 'Failed' });
  j.metadata.annotations[`${D}/history`] = JSON.stringify([
    { pod: 'g-0-a', uid: 'uid-g-0-a', scope: 'pod', state: 'failed', finishedAt: '2026-12-01T10:00:00Z' },
  ]);
  w.put(j);
  w.put(pod('g-0-a', { group: 'g', job: 'g-0', node: 'n1', phase: 'Failed', claim: 'data-0' }));
  const newer = claim('data-0');
  newer.metadata.annotations[`${D}/outcome`] = JSON.stringify({
    scope: 'pod',
    state: 'succeeded',
    pod: 'g-0-retry-1-b',
    uid: 'uid-b',
    finishedAt: '2026-12-01T10:01:00Z',
  });
  w.put(newer);
  assert.is(count(input(w, []), 'finished restore pods without'), 0);
  const w2 = new Watch();
  w2.put(j);
  w2.put(pod('g-0-a', { group: 'g', job: 'g-0', node: 'n1', phase: 'Failed', claim: 'data-0' }));
  const older = claim('data-0');
  older.metadata.annotations[`${D}/outcome`] = JSON.stringify({
    scope: 'pod',
    state: 'failed',
    pod: 'g-0-z',
    uid: 'uid-z',
    finishedAt: '2026-12-01T09:59:00Z',
  });
  w2.put(older);
  assert.is(count(input(w2, []), 'finished restore pods without'), 1);
});

test('a restore pod deleted by restore-guard while running, or before its record, is a wrong delete', () => {
  const w = new Watch();
  w.put(job('g-0', { group: 'g' }));
  const running = pod('g-0-a', { group: 'g', job: 'g-0', node: 'n1', phase: 'Running' });
  w.put(running);
  const audit = [deleteEvent('g-0-a', w.at + 10)];
  w.put(running, 'DELETED');
  assert.is(count(input(w, audit), 'restore pods deleted'), 1);

  const w2 = new Watch();
  w2.put(claim('data-0'));
  w2.put(job('g-0', { group: 'g', history: [{ pod: 'g-0-b', uid: 'uid-g-0-b' }] }));
  const done = pod('g-0-b', { group: 'g', job: 'g-0', node: 'n1', phase: 'Succeeded', claim: 'data-0' });
  w2.put(done);
  const audit2 = [deleteEvent('g-0-b', w2.at + 10)];
  w2.put(done, 'DELETED');
  w2.put(claim('data-0', { pod: 'g-0-b', uid: 'uid-g-0-b' })); // recorded only after the delete
  assert.is(count(input(w2, audit2), 'restore pods deleted'), 1);
});

test('a write to an object that is not a restore object, or outside the namespace, is reported', () => {
  const { w, audit } = cleanRun();
  w.put(pod('bystander', { node: 'n3', phase: 'Running' }));
  const patch: AuditEvent = { ...deleteEvent('bystander', w.at), verb: 'patch' };
  assert.is(count(input(w, [...audit, patch]), 'writes by restore-guard'), 1);
  const elsewhere = deleteEvent('g-0-abc', w.at, 'pods', 'other');
  assert.is(count(input(w, [...audit, elsewhere]), 'writes by restore-guard'), 1);
  const event: AuditEvent = { ...deleteEvent('e1', w.at, 'events'), verb: 'create' };
  assert.is(count(input(w, [...audit, event]), 'writes by restore-guard'), 0, 'Events are restore-guard’s own');
});

test('an anchor alive more than one resync period after its group completed is leaked', () => {
  const w = new Watch();
  w.put(job('g-0', { group: 'g', terminal: 'Complete' }), 'ADDED', 1_000_000);
  const a = pod('g-0-a-anchor', { group: 'g', anchorFor: 'g-0-a', node: 'n1' });
  w.put(a, 'ADDED', 1_000_100);
  w.put(a, 'DELETED', 1_000_000 + 10_000 + 900); // within period + slack
  assert.is(count(input(w, []), 'anchors alive'), 0);
  const b = pod('g-0-b-anchor', { group: 'g', anchorFor: 'g-0-b', node: 'n2' });
  w.put(b, 'ADDED', 1_000_200);
  assert.is(count(input(w, [], { endAt: 1_000_000 + 30_000 }), 'anchors alive'), 1, 'still there');
});

test('more Jobs than the attempts, or two retry Jobs for one attempt, are reported', () => {
  const w = new Watch();
  const retryJob = (name: string, attempt: number) =>
    job(name, {
      group: 'g',
      terminal: 'Failed',
      labels: { [`${D}/root-job`]: 'g-0', [`${D}/attempt`]: String(attempt) },
    });
  w.put(job('g-0', { group: 'g', terminal: 'Failed' }));
  w.put(retryJob('g-0-retry-1', 2));
  assert.is(count(input(w, []), 'retries beyond'), 0);
  w.put(retryJob('g-0-retry-1b', 2));
  assert.is(count(input(w, []), 'retries beyond'), 1, 'two Jobs for attempt 2');
  w.put(retryJob('g-0-retry-2', 3));
  assert.is(count(input(w, []), 'retries beyond'), 2, 'and now 4 Jobs for 3 attempts');
});

test('a group with a Job not done, or not every Job created, is not completed', () => {
  const w = new Watch();
  w.put(job('g-0', { group: 'g' }));
  assert.is(count(input(w, []), 'groups not completed'), 1);
  w.put(job('g-0', { group: 'g', terminal: 'Complete' }));
  assert.is(count(input(w, []), 'groups not completed'), 0);
  assert.is(count(input(w, [], { groups: [{ name: 'g', allCreated: false }] }), 'groups not completed'), 1);
  // an opted-in Job that failed waits for retry's word
  w.put(job('g-0', { group: 'g', terminal: 'Failed', labels: { [`${D}/retry`]: 'true' } }));
  assert.is(count(input(w, []), 'groups not completed'), 1);
  w.put(
    job('g-0', { group: 'g', terminal: 'Failed', labels: { [`${D}/retry`]: 'true', [`${D}/state`]: 'exhausted' } }),
  );
  assert.is(count(input(w, []), 'groups not completed'), 0);
});

test('memory: a warm-up rise that levels off is bounded; leaks, a late rise, the pod limit and no figures are not', () => {
  const { w, audit } = cleanRun();
  const mem = (m: MemoryInput) => count(input(w, audit, { memory: m }), 'replica memory');
  // the 11-30 full run's shape: RSS 80 → 200 MB in the first minutes, flat after, live heap flat
  assert.is(mem(memory({ rss: (t) => 80_000 + Math.min(t, 240) * 500 })), 0);
  assert.equal(memoryProblems(memory()), []);
  // a JavaScript leak: the live heap after a GC grew 20 → 60 MB (RSS may well look flat)
  assert.is(mem(memory({ heapKb: [20_000, 60_000] })), 1);
  assert.match(memoryProblems(memory({ heapKb: [20_000, 60_000] }))[0]!, /live heap after a full GC grew/);
  // a steady leak outside the heap: RSS 80 → 200 MB at an even pace, still rising at the end
  assert.is(mem(memory({ rss: (t) => 80_000 + t * 200 })), 1);
  assert.match(memoryProblems(memory({ rss: (t) => 80_000 + t * 200 }))[0]!, /RSS still rising/);
  // flat but over the pod's limit
  assert.is(mem(memory({ rss: () => 270_000 })), 1);
  // a rise after the faults phase (outside the window: idle) does not count; within it, it does
  assert.is(mem(memory({ rss: (t) => (t > 560 ? 150_000 : 100_000) })), 0);
  assert.is(mem(memory({ rss: (t) => (t > 500 ? 150_000 : 100_000) })), 1);
  // no inspector reading, no RSS samples
  assert.is(mem({ ...memory(), heap: [] }), 1);
  assert.is(mem({ ...memory(), rss: [] }), 1);
});

test('parseAudit keeps one identity’s completed requests within the window', () => {
  const line = (user: string, t: string, stage = 'ResponseComplete') =>
    JSON.stringify({
      verb: 'patch',
      stage,
      user: { username: user },
      requestReceivedTimestamp: t,
      objectRef: { resource: 'pods' },
    });
  const text = [
    line('rg', '2026-12-01T10:00:01.000000Z'),
    line('rg', '2026-12-01T10:00:02.000000Z', 'ResponseStarted'),
    line('other', '2026-12-01T10:00:01.000000Z'),
    line('rg', '2026-12-01T11:00:00.000000Z'),
    'not json rg',
  ].join('\n');
  const from = Date.parse('2026-12-01T10:00:00Z');
  assert.is(parseAudit(text, 'rg', from, from + 60_000).length, 1);
});

test.run();
