/**
 * Knative's own Trigger filter implementation (knative.dev/eventing pkg/eventfilter: subscriptionsapi
 * for `filters`, attributes for `filter`, chosen as the broker's filter handler chooses) as the
 * oracle for the local broker's routing (functions/core/http/local-broker.ts): every event type the
 * functions take and answer, from the sources that send them, and near-misses, routed by both
 * through eventing/'s Triggers and through Triggers of every filter dialect; the routing must agree.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolve } from 'node:path';
import { loadTriggers, matchTrigger } from '../../functions/core/http/local-broker.ts';
import type { TriggerRoute } from '../../functions/core/http/local-broker.ts';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { EventType } from '../../functions/core/restore/events.ts';
import { FUNCTIONS } from '../../functions/server.ts';
import { knativeCheck } from '../support/knative.ts';

const EVENTING = resolve(import.meta.dirname, '../../eventing');
const DIALECTS = resolve(import.meta.dirname, 'fixtures');

const APISERVER = 'https://10.96.0.1:443';
const PING = '/apis/v1/namespaces/restore-guard/pingsources/restore-guard-resync';

/** Every type there is: the functions' own (EventType), what each takes, and near-misses. */
const TYPES = [
  ...new Set([
    ...Object.values(EventType),
    ...FUNCTIONS.flatMap((f) => f.types),
    'dev.knative.apiserver.ref.add',
    'dev.knative.apiserver.ref.update',
    'dev.knative.apiserver.ref.delete',
    'dev.knative.apiserver.resource.add.extra',
    'dev.knative.apiserver.resource',
    'dev.knative.sources.ping.v2',
    'dev.restoreguard.restore',
    'dev.restoreguard.restore.placed.v2',
    'dev.restoreguard.restore.recorded2',
    'dev.restoreguard.group.completed.retry',
    'com.example.restore.failed',
  ]),
].sort();

/** The sources that send them: the ApiServerSource, the PingSource (ours and others), each function. */
const SOURCES = [
  APISERVER,
  PING,
  '/apis/v1/namespaces/other/pingsources/restore-guard-resync',
  '/apis/v1/namespaces/restore-guard/pingsources/nightly-report',
  ...FUNCTIONS.map((f) => `restore-guard/${f.name}`),
  'restore-guard/test',
  'https://example.com/restore-guard/',
];

/** Extension and optional attributes as the adapter and the functions set them (kind, subject, none). */
const EXTRAS: Partial<CloudEvent>[] = [
  {},
  { kind: 'Pod', subject: '/apis/v1/namespaces/db/pods/p' },
  { kind: 'Job', subject: '/apis/batch/v1/namespaces/db/jobs/j' },
  { kind: 'Restore', subject: '/apis/dataprotection.kubeblocks.io/v1alpha1/namespaces/db/restores/r' },
  { subject: 'db/x' },
  { subject: '' },
];

function events(): CloudEvent[] {
  const out: CloudEvent[] = [];
  let n = 0;
  for (const type of TYPES)
    for (const source of SOURCES)
      for (const extra of EXTRAS)
        out.push({
          specversion: '1.0',
          id: `e${++n}`,
          source,
          type,
          time: '2026-12-01T10:00:00Z',
          datacontenttype: 'application/json',
          data: {},
          ...extra,
        } as CloudEvent);
  return out;
}

/** id → names of the Triggers that take it, by Knative's filters. */
function knativeRoutes(dir: string, evs: CloudEvent[]): Map<string, string[]> {
  const r = knativeCheck(['route', dir], JSON.stringify(evs));
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { id: string; triggers: string[] }[];
  assert.is(out.length, evs.length);
  return new Map(out.map((o) => [o.id, o.triggers]));
}

function localRoutes(triggers: TriggerRoute[], evs: CloudEvent[]): Map<string, string[]> {
  return new Map(
    evs.map((ev) => [
      ev.id,
      triggers
        .filter((t) => matchTrigger(t, ev))
        .map((t) => t.name)
        .sort(),
    ]),
  );
}

/** Every event the two route differently, one line each. */
function differences(dir: string, evs: CloudEvent[], triggers = loadTriggers(dir)): string[] {
  const knative = knativeRoutes(dir, evs);
  const local = localRoutes(triggers, evs);
  return evs.flatMap((ev) => {
    const k = knative.get(ev.id)!.join(',');
    const l = local.get(ev.id)!.join(',');
    if (k === l) return [];
    const { data: _d, datacontenttype: _c, specversion: _s, id: _i, time: _t, ...attrs } = ev;
    return [`${JSON.stringify(attrs)}: Knative [${k}], local broker [${l}]`];
  });
}

const evs = events();

test('eventing/: Knative’s filters and the local broker route every event alike', () => {
  assert.ok(evs.length > 1000, `${evs.length} events`);
  assert.equal(differences(EVENTING, evs), []);
  // The comparison is not vacuous: every function is reached, and some events reach nothing.
  const k = knativeRoutes(EVENTING, evs);
  const reached = new Set([...k.values()].flat());
  assert.equal([...reached].sort(), FUNCTIONS.map((f) => `restore-guard-${f.name}`).sort());
  assert.ok([...k.values()].some((t) => t.length === 0));
});

test('every filter dialect: Knative’s filters and the local broker route every event alike', () => {
  const triggers = loadTriggers(DIALECTS);
  assert.is(triggers.length, 8);
  assert.equal(differences(DIALECTS, evs, triggers), []);
});

test('the comparison fails when the local broker routes differently', () => {
  // A local broker that ignored `not` would send KubeBlocks' Restore events to completion.
  const broken = loadTriggers(EVENTING).map((t) =>
    t.name === 'restore-guard-completion' ? { ...t, filters: t.filters.filter((f) => !('not' in f)) } : t,
  );
  const d = differences(EVENTING, evs, broken);
  assert.ok(d.length > 0);
  assert.ok(
    d.every((line) => line.includes('"kind":"Restore"') && line.includes('local broker [restore-guard-completion,')),
    d.join('\n'),
  );
});

test.run();
