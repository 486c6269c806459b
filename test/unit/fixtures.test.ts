/**
 * The recorded-style events are what the ApiServerSource adapter sends: every file in
 * test/fixtures/events is a structured CloudEvent that parseCloudEvent accepts, with Pod/Job data
 * that ResourceDataSchema accepts and the attributes the adapter sets in Resource mode. Every file
 * in test/fixtures/invalid fails one of the two.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCloudEvent } from '../../functions/core/http/cloudevent.ts';
import { InvalidEventError } from '../../functions/core/errors.ts';
import { API_TYPES, ResourceDataSchema } from '../../functions/core/restore/events.ts';

const ROOT = join(import.meta.dirname, '..', 'fixtures');
const list = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.json'))
    .sort();
const read = (dir: string, f: string) => readFileSync(join(ROOT, dir, f), 'utf8');
const structured = (body: string) => ({ headers: { 'content-type': 'application/cloudevents+json' }, body });

const valid = list('events');
const invalid = list('invalid');

test('there are fixtures to check', () => {
  assert.ok(valid.length >= 30, `${valid.length} valid fixtures`);
  assert.ok(invalid.length >= 5, `${invalid.length} invalid fixtures`);
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

for (const f of valid) {
  test(`valid: ${f}`, () => {
    const ev = parseCloudEvent(structured(read('events', f)));
    const parsed = ResourceDataSchema.safeParse(ev.data);
    assert.ok(parsed.success, `${f}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues.slice(0, 3))}`);
    const obj = parsed.data!;
    // The adapter's attributes (knative.dev/eventing pkg/adapter/apiserver/events makeEvent).
    assert.ok((API_TYPES as readonly string[]).includes(ev.type), ev.type);
    assert.match(ev.source, /^https:\/\/[0-9.]+:443$/);
    assert.match(ev.id, UUID);
    assert.ok(!Number.isNaN(Date.parse(ev.time ?? '')), 'time');
    assert.is(ev.datacontenttype, 'application/json');
    const plural = obj.kind === 'Pod' ? 'pods' : 'jobs';
    assert.is(
      ev.subject,
      `/apis/${obj.apiVersion}/namespaces/${obj.metadata.namespace}/${plural}/${obj.metadata.name}`,
    );
    assert.is(ev.kind, obj.kind);
    assert.is(ev.apiversion, obj.apiVersion);
    assert.is(ev.name, obj.metadata.name);
    assert.is(ev.namespace, obj.metadata.namespace);
    // The whole object, as the API server serves it.
    assert.ok(obj.metadata.uid && obj.metadata.resourceVersion && obj.metadata.creationTimestamp, 'full metadata');
    assert.is(f.split('.').at(-2), ev.type.split('.').at(-1), 'the file name says the event type');
    if (ev.type.endsWith('.delete') && obj.kind === 'Pod' && obj.metadata.deletionTimestamp) {
      assert.type(obj.metadata.deletionGracePeriodSeconds, 'number');
    }
  });
}

test('event ids are unique; object uids are stable across the events of one object', () => {
  const ids = new Set<string>();
  const uidByName = new Map<string, string>();
  for (const f of valid) {
    const ev = JSON.parse(read('events', f)) as {
      id: string;
      data: { kind: string; metadata: { name: string; uid: string } };
    };
    assert.not.ok(ids.has(ev.id), `duplicate id in ${f}`);
    ids.add(ev.id);
    const key = `${ev.data.kind}/${ev.data.metadata.name}`;
    const seen = uidByName.get(key);
    if (seen) assert.is(ev.data.metadata.uid, seen, `${f}: uid of ${key}`);
    uidByName.set(key, ev.data.metadata.uid);
  }
});

for (const f of invalid) {
  test(`invalid: ${f} fails to validate`, () => {
    let ev: ReturnType<typeof parseCloudEvent>;
    try {
      ev = parseCloudEvent(structured(read('invalid', f)));
    } catch (e) {
      assert.instance(e, InvalidEventError);
      return;
    }
    const parsed = ResourceDataSchema.safeParse(ev.data);
    assert.not.ok(parsed.success, `${f} should not be valid Pod/Job data`);
  });
}

test.run();
