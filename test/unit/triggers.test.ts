/**
 * The Triggers in eventing/, as the local broker reads them (functions/core/http/local-broker.ts loadTriggers):
 * every event type of the design reaches exactly its function(s), unrelated types reach none, and
 * the delivery specs are read as written. The same files are what `kubectl apply -k` installs, so
 * this is also the check that the cluster routes as the design says.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { createBroker, loadTriggers, matchTrigger } from '../../functions/core/http/local-broker.ts';
import type { Hop, TriggerRoute } from '../../functions/core/http/local-broker.ts';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { EventType } from '../../functions/core/restore/events.ts';
import { createLogger } from '../../functions/core/log.ts';
import { FUNCTIONS } from '../../functions/server.ts';

const EVENTING = resolve(import.meta.dirname, '../../eventing');
const PING_SOURCE = '/apis/v1/namespaces/restore-guard/pingsources/restore-guard-resync';
const APISERVER_SOURCE = 'https://10.96.0.1:443';

/**
 * The routing table (README, Routes and events): event type → the function paths that take it; plus
 * retry's final word on a failed Job to release (a group with an opted-in failed Job waits for it).
 */
const DESIGN: Record<string, string[]> = {
  [EventType.apiAdd]: ['/completion'],
  [EventType.apiUpdate]: ['/completion'],
  [EventType.apiDelete]: ['/completion'],
  [EventType.gated]: ['/labeling'],
  [EventType.pending]: ['/labeling'],
  [EventType.placed]: ['/labeling'],
  [EventType.succeeded]: ['/labeling'],
  [EventType.failed]: ['/labeling', '/retry'],
  [EventType.anchorLost]: ['/labeling'],
  [EventType.recorded]: ['/release'],
  [EventType.retryExhausted]: ['/release'],
  [EventType.retrySkipped]: ['/release'],
  [EventType.ping]: ['/resync'],
};

/** Types that exist but end a chain, and near-misses a sloppy filter would take. */
const UNROUTED = [
  EventType.groupCompleted,
  EventType.retryScheduled,
  'dev.knative.apiserver.ref.add', // ApiServerSource in Reference mode
  'dev.knative.apiserver.resource.add.extra',
  'dev.knative.apiserver.resource',
  'dev.restoreguard.restore',
  'dev.restoreguard.restore.placed.v2',
  'dev.restoreguard.restore.recorded2',
  'dev.restoreguard.group.completed.retry',
  'com.example.restore.failed',
  'dev.knative.kafka.event',
  '',
];

function sourceFor(type: string): string {
  if (type === EventType.ping) return PING_SOURCE;
  if (type.startsWith('dev.knative.apiserver.')) return APISERVER_SOURCE;
  return 'restore-guard/test';
}

function event(type: string, source = sourceFor(type)): CloudEvent {
  return { specversion: '1.0', id: `id-${type}`, source, type, datacontenttype: 'application/json', data: {} };
}

function routes(triggers: TriggerRoute[], ev: CloudEvent): string[] {
  return triggers
    .filter((t) => matchTrigger(t, ev))
    .map((t) => t.path)
    .sort();
}

/** Every difference between where the Triggers send each type and where the design says. */
function routingProblems(triggers: TriggerRoute[]): string[] {
  const problems: string[] = [];
  for (const [type, want] of Object.entries(DESIGN)) {
    const got = routes(triggers, event(type));
    if (got.join() !== [...want].sort().join()) problems.push(`${type}: routed to [${got}], design says [${want}]`);
  }
  // KubeBlocks' Restore objects (ApiServerSource extension kind=Restore) reach release only, which
  // removes a group's anchors the moment its Restore is Completed; completion never sees them.
  for (const type of [EventType.apiAdd, EventType.apiUpdate, EventType.apiDelete]) {
    const got = routes(triggers, { ...event(type), kind: 'Restore' });
    if (got.join() !== '/release')
      problems.push(`${type} of a Restore: routed to [${got}], should reach /release only`);
  }
  for (const type of UNROUTED) {
    const got = routes(triggers, event(type));
    if (got.length) problems.push(`${type || '(empty)'}: routed to [${got}], should reach nothing`);
  }
  return problems;
}

const triggers = loadTriggers(EVENTING);

test('eventing/ holds one Trigger per function, each at its function path', () => {
  assert.equal(triggers.map((t) => t.path).sort(), FUNCTIONS.map((f) => `/${f.name}`).sort());
  assert.equal(triggers.map((t) => t.name).sort(), FUNCTIONS.map((f) => `restore-guard-${f.name}`).sort());
});

test('every event type of the design reaches exactly its function(s); unrelated types reach none', () => {
  assert.equal(routingProblems(triggers), []);
});

test("the routing agrees with each function's own list of types it takes", () => {
  for (const fn of FUNCTIONS) {
    for (const type of fn.types) {
      const restore = fn.name === 'release' && type.startsWith('dev.knative.apiserver.');
      const ev = restore ? { ...event(type), kind: 'Restore' } : event(type);
      assert.ok(routes(triggers, ev).includes(`/${fn.name}`), `${type} does not reach /${fn.name}`);
    }
  }
  for (const [type, paths] of Object.entries(DESIGN)) {
    for (const path of paths) {
      const fn = FUNCTIONS.find((f) => `/${f.name}` === path);
      assert.ok(fn?.types.includes(type), `${path} is routed ${type} but does not take it (it would answer 400)`);
    }
  }
});

test('resync takes only the pings of its own PingSource', () => {
  assert.equal(routes(triggers, event(EventType.ping, PING_SOURCE)), ['/resync']);
  assert.equal(routes(triggers, event(EventType.ping, '/apis/v1/namespaces/other/pingsources/restore-guard-resync')), [
    '/resync',
  ]);
  assert.equal(
    routes(triggers, event(EventType.ping, '/apis/v1/namespaces/restore-guard/pingsources/nightly-report')),
    [],
  );
  assert.equal(
    routes(triggers, event(EventType.ping, '/apis/v1/namespaces/restore-guard/pingsources/restore-guard-resync-2')),
    [],
  );
});

test('the routing check fails when a filter is too broad or too narrow', () => {
  const broad = triggers.map((t) =>
    t.path === '/labeling' ? { ...t, filters: [{ prefix: { type: 'dev.restoreguard.restore.' } }] } : t,
  );
  const problems = routingProblems(broad);
  assert.ok(
    problems.some((p) => p.startsWith(`${EventType.recorded}:`)),
    problems.join('\n'),
  );
  const narrow = triggers.map((t) => (t.path === '/retry' ? { ...t, attributes: { type: EventType.succeeded } } : t));
  assert.ok(routingProblems(narrow).some((p) => p.startsWith(`${EventType.failed}:`)));
});

test('delivery specs are read as written: retries, exponential backoff, ISO 8601 delays', () => {
  const raw = new Map<
    string,
    { retry: number; backoffDelay: string; backoffPolicy: string; deadLetterSink?: unknown }
  >();
  for (const doc of parseAllDocuments(readFileSync(join(EVENTING, 'triggers.yaml'), 'utf8'))) {
    const o = doc.toJS() as { kind?: string; metadata: { name: string }; spec: { delivery: never } } | null;
    if (o?.kind === 'Trigger') raw.set(o.metadata.name, o.spec.delivery);
  }
  assert.is(raw.size, triggers.length);
  const seconds = (iso: string) => Number(iso.match(/^PT(\d+(?:\.\d+)?)S$/)?.[1] ?? NaN);
  for (const t of triggers) {
    const d = raw.get(t.name)!;
    assert.ok(d.deadLetterSink, `${t.name} has no dead-letter sink`);
    assert.is(d.backoffPolicy, 'exponential', t.name);
    assert.is(t.backoffPolicy, 'exponential', t.name);
    assert.ok(t.retry >= 2 && t.retry === d.retry, `${t.name} retry ${t.retry}`);
    // broker.ts falls back to 100 ms on a delay it cannot parse: make sure it parsed ours.
    assert.is(t.backoffDelayMs, Math.round(seconds(d.backoffDelay) * 1000), `${t.name} ${d.backoffDelay}`);
  }
});

test('the local broker runs the chain through these Triggers, and it ends', async () => {
  // Canned replies, as each function answers in a failed-restore story.
  const replies: Record<string, (ev: CloudEvent) => CloudEvent | null> = {
    '/completion': () => event(EventType.failed, 'restore-guard/completion'),
    '/labeling': (ev) => (ev.type === EventType.failed ? event(EventType.recorded, 'restore-guard/labeling') : null),
    '/retry': () => event(EventType.retryExhausted, 'restore-guard/retry'),
    '/release': () => event(EventType.groupCompleted, 'restore-guard/release'),
    '/resync': () => null,
  };
  const hops: Hop[] = [];
  const broker = createBroker({
    triggers,
    ttl: 10,
    log: createLogger({ sink: () => {} }),
    sleep: async () => {},
    onHop: (h) => hops.push(h),
    deliver: async (path, ev) => {
      const reply = replies[path]!(ev);
      return { status: reply ? 200 : 202, headers: {}, body: '', reply };
    },
  });
  await broker.send(event(EventType.apiUpdate));
  const seen = hops.map((h) => `${h.event.type} -> ${h.path}`).sort();
  assert.equal(
    seen,
    [
      `${EventType.apiUpdate} -> /completion`,
      `${EventType.failed} -> /labeling`,
      `${EventType.failed} -> /retry`,
      `${EventType.recorded} -> /release`,
      `${EventType.retryExhausted} -> /release`,
    ].sort(),
  );
});

test('the local broker retries a 5xx as the Trigger says, then gives up', async () => {
  const completion = triggers.find((t) => t.path === '/completion')!;
  const delays: number[] = [];
  let calls = 0;
  const broker = createBroker({
    triggers: [completion],
    ttl: 10,
    log: createLogger({ sink: () => {} }),
    sleep: async (ms) => void delays.push(ms),
    deliver: async () => {
      calls++;
      return { status: 503, headers: {}, body: 'unavailable' };
    },
  });
  await broker.send(event(EventType.apiAdd));
  assert.is(calls, completion.retry + 1);
  assert.equal(
    delays,
    Array.from({ length: completion.retry }, (_, i) => completion.backoffDelayMs * 2 ** i),
  );
});

test.run();
