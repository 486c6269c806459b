/**
 * completion through the HTTP app, in process (README, Routes and events): every recorded-style fixture in binary
 * and structured mode, built with the CloudEvents SDK; replies are binary-mode CloudEvents with
 * deterministic ids and valid data; nothing to say is 202 with an empty body; bad input on every
 * route is a 400/413 JSON error and writes nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudEvent as SdkEvent, HTTP } from 'cloudevents';
import type { CloudEventV1 } from 'cloudevents';
import { judgeObject } from '../../functions/core/restore/judge.ts';
import { loadConfig } from '../../functions/core/config.ts';
import type { Config } from '../../functions/core/config.ts';
import type { RestoreData } from '../../functions/core/restore/events.ts';
import { ResourceDataSchema, RestoreDataSchema, EventType, podEnded } from '../../functions/core/restore/events.ts';
import { memoryLogger } from '../../functions/core/log.ts';
import { MemoryCluster } from '../../functions/core/kube/memory-cluster.ts';
import { createServer } from '../../functions/server.ts';
import type { Server } from '../../functions/server.ts';

const ROOT = join(import.meta.dirname, '..', 'fixtures');
type Json = Record<string, any>;
const fixture = (name: string, dir = 'events'): Json =>
  JSON.parse(readFileSync(join(ROOT, dir, `${name}.json`), 'utf8')) as Json;
const FIXTURES = readdirSync(join(ROOT, 'events'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

function server(opts: { connect?: boolean; env?: Record<string, string> } = {}) {
  const cluster = new MemoryCluster();
  let connects = 0;
  const config: Config = loadConfig({ RG_AUTH: 'none', ...opts.env });
  const s: Server = createServer({
    config,
    log: memoryLogger(),
    ...(opts.connect
      ? {
          connect: async () => {
            connects++;
            return cluster;
          },
        }
      : {}),
  });
  return { s, cluster, connects: () => connects };
}

type Mode = 'binary' | 'structured';
/** An HTTP request for the event, built by the CloudEvents SDK. */
function encode(ev: Json, mode: Mode): { headers: Record<string, string>; body: string } {
  const sdk = new SdkEvent(ev as Partial<CloudEventV1<unknown>>);
  const m = mode === 'binary' ? HTTP.binary(sdk) : HTTP.structured(sdk);
  const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, String(v)]));
  return { headers, body: String(m.body) };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}
async function post(s: Server, path: string, req: { headers: Record<string, string>; body: string }): Promise<Answer> {
  const res = await s.app.request(path, { method: 'POST', headers: req.headers, body: req.body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** What completion answers for each fixture: 202, or the reply's state, reason and retryable. */
const EXPECTED: Record<string, 202 | [RestoreData['state'], RestoreData['reason'], boolean]> = {
  'anchor-pod.add': 202,
  'unselected-pod.update': 202,
  'kb-restore-pod-pending.add': 202, // not news: a pod that schedules at once needs no hand-over
  'kb-restore-job-active.update': 202,
  'kb-restore-pod-bound.update': ['placed', null, false],
  'kb-restore-pod-running.update': 202, // not news: the bind (Pending) was
  'kb-restore-succeeded-manager-running.update': ['succeeded', null, false],
  'kb-restore-pod-succeeded.update': ['succeeded', null, false],
  'kb-restore-pod-succeeded.delete': ['succeeded', null, false],
  'kb-restore-exit1-manager-running.update': ['failed', 'Error', true],
  'kb-restore-oomkilled.update': ['failed', 'OOMKilled', false],
  'kb-restore-oomkilled-finished.delete': ['failed', 'OOMKilled', false],
  'kb-restore-exit127.update': ['failed', 'Error', false],
  'kb-restore-job-complete.update': ['succeeded', null, false],
  'kb-restore-job-backofflimit.update': ['failed', 'BackoffLimitExceeded', true],
  'generic-restore-succeeded.update': ['succeeded', null, false],
  'generic-restore-failed.update': ['failed', 'Error', true],
  'generic-restore-named-containers.update': ['succeeded', null, false],
  'generic-evicted.update': ['failed', 'Evicted', true],
  'generic-preempted.update': ['failed', 'Preempted', true],
  'generic-node-lost.update': ['failed', 'NodeLost', true],
  'generic-deadline-exceeded.update': ['failed', 'DeadlineExceeded', true],
  'generic-image-pull-within-grace.update': ['placed', null, false],
  'generic-image-pull-beyond-grace.update': ['failed', 'ImagePullFailed', false],
  'generic-image-pull-stuck-deleted.delete': ['failed', 'ImagePullFailed', false],
  'generic-invalid-image-name.update': ['failed', 'ImagePullFailed', false],
  'generic-create-container-config-error.update': ['failed', 'ConfigError', false],
  'generic-init-failed.update': ['failed', 'InitFailed', false],
  'generic-native-sidecar-succeeded.update': ['succeeded', null, false],
  'generic-deleted-running.delete': ['failed', 'Deleted', true],
  'generic-deleted-terminated.delete': ['failed', 'Deleted', true],
  'generic-killed-137.update': ['failed', 'Error', true],
  'generic-killed-137-finished.delete': ['failed', 'Error', true],
  'generic-job-complete.update': ['succeeded', null, false],
  'generic-job-success-criteria-met.update': 202, // not news yet: Complete follows (see isNews)
  'generic-job-failed-deadline.update': ['failed', 'DeadlineExceeded', true],
  'generic-job-failed-pod-failure-policy.update': ['failed', 'PodFailurePolicy', false],
  'generic-job-failure-target.update': ['failed', 'BackoffLimitExceeded', true],
};

test('every fixture has an expected answer here, and every expectation a fixture', () => {
  assert.equal(Object.keys(EXPECTED).sort(), FIXTURES);
});

const TYPE_OF = {
  gated: EventType.gated,
  pending: EventType.pending,
  placed: EventType.placed,
  succeeded: EventType.succeeded,
  failed: EventType.failed,
} as const;

/** Checks a 200 reply against the contract; returns its id and data. */
function checkReply(name: string, ev: Json, a: Answer, s: Server): { id: string; data: RestoreData } {
  const want = EXPECTED[name]!;
  assert.is(a.status, 200, `${name}: ${a.text}`);
  assert.ok(Array.isArray(want), `${name}: expected ${String(want)}`);
  const [state, reason, retryable] = want;
  // Binary mode: attributes in ce-* headers, the data as the JSON body.
  assert.is(a.headers.get('content-type'), 'application/json');
  assert.is(a.headers.get('ce-specversion'), '1.0');
  assert.is(a.headers.get('ce-type'), TYPE_OF[state]);
  assert.is(a.headers.get('ce-source'), 'restore-guard/completion');
  assert.is(a.headers.get('ce-subject'), `demo/${ev.data.metadata.name}`);
  const id = a.headers.get('ce-id') ?? '';
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.ok(!Number.isNaN(Date.parse(a.headers.get('ce-time') ?? '')), 'ce-time');
  // A consumer's SDK reads it as a valid CloudEvent.
  const back = HTTP.toEvent({ headers: Object.fromEntries(a.headers.entries()), body: a.text }) as SdkEvent<unknown>;
  assert.is(back.id, id);
  assert.ok(back.validate());
  const parsed = RestoreDataSchema.safeParse(JSON.parse(a.text));
  assert.ok(parsed.success, `${name}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}`);
  const data = parsed.data!;
  assert.equal([data.state, data.reason, data.retryable], [state, reason, retryable], name);
  assert.is(data.scope, ev.data.kind === 'Job' ? 'job' : 'pod');
  assert.is(data.uid, ev.data.metadata.uid);
  // The data is exactly the judgement of the object the event carries.
  const obj = ResourceDataSchema.parse(ev.data);
  assert.equal(
    data,
    judgeObject(obj, s.deps, ev.type === EventType.apiDelete, new Date(ev.time)),
    `${name}: data = judgeObject(object)`,
  );
  return { id, data };
}

for (const mode of ['binary', 'structured'] as const) {
  test(`${mode} mode: every fixture gets its answer per the contract; completion calls no API`, async () => {
    const { s, cluster, connects } = server({ connect: true });
    for (const name of FIXTURES) {
      const ev = fixture(name);
      const a = await post(s, '/completion', encode(ev, mode));
      if (EXPECTED[name] === 202) {
        assert.is(a.status, 202, `${name}: ${a.text}`);
        assert.is(a.text, '', `${name}: 202 has an empty body`);
        assert.is(a.headers.get('ce-id'), null);
        assert.is(a.headers.get('ce-type'), null);
      } else {
        checkReply(name, ev, a, s);
      }
    }
    assert.is(connects(), 0, 'completion never connects to the API server');
    assert.equal(cluster.writes, []);
  });
}

/** Replies to every fixture that has something to say, by fixture name. */
async function replies(mode: Mode): Promise<Map<string, { id: string; data: RestoreData }>> {
  const { s } = server();
  const out = new Map<string, { id: string; data: RestoreData }>();
  for (const name of FIXTURES) {
    if (EXPECTED[name] === 202) continue;
    const ev = fixture(name);
    out.set(name, checkReply(name, ev, await post(s, '/completion', encode(ev, mode)), s));
  }
  return out;
}

test('ids are deterministic: the same input twice, and in either mode, gives the same id', async () => {
  const a = await replies('binary');
  const b = await replies('binary');
  const c = await replies('structured');
  assert.ok(a.size >= 30);
  for (const [name, r] of a) {
    assert.is(b.get(name)!.id, r.id, name);
    assert.is(c.get(name)!.id, r.id, name);
  }
});

test('ids name the outcome: equal for the same object, outcome and pod end, different otherwise', async () => {
  const r = await replies('binary');
  const outcome = (d: RestoreData) =>
    [
      d.uid,
      d.scope,
      d.state,
      d.state === 'placed' ? d.node : d.reason,
      d.state !== 'placed' && d.scope === 'pod' ? podEnded(d) : '',
    ].join('|');
  const byOutcome = new Map<string, string>();
  const byId = new Map<string, string>();
  for (const [name, { id, data }] of r) {
    const key = outcome(data);
    if (byOutcome.has(key)) assert.is(id, byOutcome.get(key), `${name}: same outcome, same id`);
    if (byId.has(id)) assert.is(key, byId.get(id), `${name}: same id, same outcome`);
    byOutcome.set(key, id);
    byId.set(id, key);
  }
  // The pairs the fixtures were made for.
  const id = (n: string) => r.get(n)!.id;
  // A running pod's update repeats its bind: no answer at all (see isNews).
  assert.is(r.get('kb-restore-pod-running.update'), undefined);
  // The restore ended while the sidecar kept the pod Running, then the pod ended: two pieces of news.
  assert.is.not(id('kb-restore-succeeded-manager-running.update'), id('kb-restore-pod-succeeded.update'));
  assert.is(id('kb-restore-pod-succeeded.update'), id('kb-restore-pod-succeeded.delete'));
  assert.is.not(id('kb-restore-oomkilled.update'), id('kb-restore-oomkilled-finished.delete')); // sidecar Running, then the pod ended
  assert.is(id('generic-killed-137.update'), id('generic-killed-137-finished.delete'));
  assert.is(id('generic-image-pull-beyond-grace.update'), id('generic-image-pull-stuck-deleted.delete'));
  assert.is.not(id('kb-restore-pod-bound.update'), id('kb-restore-pod-succeeded.update'));
  assert.is.not(id('generic-image-pull-within-grace.update'), id('generic-image-pull-beyond-grace.update'));
});

test('a different outcome of one object gets a different id', async () => {
  const { s } = server();
  const failed = fixture('kb-restore-exit1-manager-running.update');
  const a = checkReply(
    'kb-restore-exit1-manager-running.update',
    failed,
    await post(s, '/completion', encode(failed, 'binary')),
    s,
  );
  const oom = structuredClone(failed);
  oom.id = 'another-delivery';
  const t = oom.data.status.containerStatuses[0].state.terminated;
  Object.assign(t, { exitCode: 137, reason: 'OOMKilled' });
  delete t.message;
  const b = await post(s, '/completion', encode(oom, 'binary'));
  assert.is(b.status, 200);
  assert.is(JSON.parse(b.text).reason, 'OOMKilled');
  assert.is.not(b.headers.get('ce-id'), a.id);
  // A redelivery (new event id, same object) answers with the same id.
  const again = structuredClone(failed);
  again.id = 'redelivered';
  again.time = '2025-11-04T09:20:00Z';
  assert.is((await post(s, '/completion', encode(again, 'binary'))).headers.get('ce-id'), a.id);
});

test('add, update and delete of a selected object are all judged', async () => {
  const { s } = server();
  const base = fixture('generic-restore-succeeded.update');
  const ids = new Set<string | null>();
  for (const verb of ['add', 'update', 'delete']) {
    const ev = { ...base, id: `e-${verb}`, type: `dev.knative.apiserver.resource.${verb}` };
    const a = await post(s, '/completion', encode(ev, 'structured'));
    assert.is(a.status, 200, verb);
    assert.is(a.headers.get('ce-type'), EventType.succeeded, verb);
    ids.add(a.headers.get('ce-id'));
  }
  assert.is(ids.size, 1, 'a finished pod has one outcome whatever the verb');
});

// ---------------------------------------------------------------- bad input, every route

const ROUTES = {
  '/completion': { type: EventType.apiUpdate, wrong: EventType.ping },
  '/labeling': { type: EventType.placed, wrong: EventType.apiUpdate },
  '/release': { type: EventType.recorded, wrong: EventType.placed },
  '/retry': { type: EventType.failed, wrong: EventType.placed },
  '/resync': { type: EventType.ping, wrong: EventType.apiUpdate },
} as const;

const deployment = fixture('deployment.add', 'invalid');
const binaryHeaders = (type: string): Record<string, string> => ({
  'ce-specversion': '1.0',
  'ce-id': 'bad-1',
  'ce-source': 'https://10.96.0.1:443',
  'ce-type': type,
  'content-type': 'application/json',
});

function badInputs(
  route: keyof typeof ROUTES,
): [string, { headers: Record<string, string>; body: string }, number, RegExp][] {
  const { type, wrong } = ROUTES[route];
  const big: Json = { ...fixture('kb-restore-pod-running.update'), type };
  big.data = { ...big.data, metadata: { ...big.data.metadata, annotations: { padding: 'x'.repeat(2 * 1024 * 1024) } } };
  // A Deployment where a Pod/Job (completion) or restore data (the others) belongs; resync takes
  // no API events at all, so for it the Deployment event is a wrong type.
  const deploymentEvent = route === '/completion' || route === '/resync' ? deployment : { ...deployment, type };
  return [
    [
      'not a CloudEvent',
      { headers: { 'content-type': 'application/json' }, body: '{"hello":"world"}' },
      400,
      /not a CloudEvent/,
    ],
    ['invalid JSON (binary)', { headers: binaryHeaders(type), body: '{"kind": "Pod", oops' }, 400, /not valid JSON/],
    [
      'invalid JSON (structured)',
      { headers: { 'content-type': 'application/cloudevents+json' }, body: '{"specversion":"1.0",' },
      400,
      /not valid JSON/,
    ],
    [
      'missing attributes',
      { headers: { 'ce-specversion': '1.0', 'ce-type': type, 'content-type': 'application/json' }, body: '{}' },
      400,
      /id is required.*source is required|source is required.*id is required/,
    ],
    [
      'missing attributes (structured)',
      {
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({ specversion: '1.0', id: 'x', type, data: {} }),
      },
      400,
      /source is required/,
    ],
    ['a 2 MB body', encode(big, 'structured'), 413, /over the limit/],
    [
      'wrong event type for the route',
      encode({ ...fixture('kb-restore-pod-running.update'), type: wrong }, 'binary'),
      400,
      /does not take events of type/,
    ],
    [
      'an unexpected kind (Deployment)',
      encode(deploymentEvent, 'binary'),
      400,
      route === '/resync' ? /does not take events/ : /Deployment|invalid data/,
    ],
  ];
}

for (const route of Object.keys(ROUTES) as (keyof typeof ROUTES)[]) {
  test(`${route}: bad input is a 400/413 JSON error and writes nothing`, async () => {
    const { s, cluster, connects } = server({ connect: true });
    for (const [what, req, status, message] of badInputs(route)) {
      const a = await post(s, route, req);
      assert.is(a.status, status, `${route} ${what}: ${a.text.slice(0, 300)}`);
      assert.match(a.headers.get('content-type') ?? '', /^application\/json/, `${route} ${what}`);
      assert.is(a.headers.get('ce-id'), null, `${route} ${what}: no CloudEvent headers`);
      const body = JSON.parse(a.text) as Json;
      assert.type(body.error, 'string', `${route} ${what}`);
      assert.type(body.message, 'string', `${route} ${what}`);
      if ('hint' in body) assert.type(body.hint, 'string', `${route} ${what}`);
      assert.is(body.error, status === 413 ? 'payload_too_large' : 'invalid_event', `${route} ${what}`);
      assert.match(body.message, message, `${route} ${what}`);
    }
    assert.equal(cluster.writes, [], `${route}: no write`);
    assert.is(connects(), 0, `${route}: bad input never reaches the API server`);
  });
}

// ---------------------------------------------------------------- no cluster configured

test('without a cluster, completion still answers and the others answer 503 saying what to configure', async () => {
  const { s } = server();
  const placed = fixture('kb-restore-pod-bound.update');
  const failed = fixture('kb-restore-exit1-manager-running.update');
  const p = await post(s, '/completion', encode(placed, 'binary'));
  const f = await post(s, '/completion', encode(failed, 'binary'));
  assert.is(p.status, 200);
  assert.is(f.status, 200);
  const reply = (a: Answer, type: string) => ({
    specversion: '1.0',
    id: a.headers.get('ce-id')!,
    source: a.headers.get('ce-source')!,
    type,
    subject: a.headers.get('ce-subject')!,
    datacontenttype: 'application/json',
    data: JSON.parse(a.text) as unknown,
  });
  const events: Record<string, Json> = {
    '/labeling': reply(p, EventType.placed),
    '/release': reply(f, EventType.recorded),
    '/retry': reply(f, EventType.failed),
    '/resync': {
      specversion: '1.0',
      id: 'ping-1',
      source: '/apis/v1/namespaces/restore-guard/pingsources/resync',
      type: EventType.ping,
      datacontenttype: 'application/json',
      data: {},
    },
  };
  for (const [route, ev] of Object.entries(events)) {
    const a = await post(s, route, encode(ev, 'binary'));
    assert.is(a.status, 503, `${route}: ${a.text}`);
    const body = JSON.parse(a.text) as Json;
    assert.is(body.error, 'cluster_unavailable', route);
    assert.match(body.message, /no Kubernetes API server/, route);
    assert.match(body.hint, /KUBECONFIG/, route);
  }
});

test.run();
