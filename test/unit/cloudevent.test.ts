import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HTTP, CloudEvent as SdkEvent } from 'cloudevents';
import { parseCloudEvent, toBinary } from '../../functions/core/http/cloudevent.ts';
import { InvalidEventError } from '../../functions/core/errors.ts';

const data = { kind: 'Pod', metadata: { name: 'p' } };
const sdk = new SdkEvent({
  id: 'e1',
  source: '/apis/v1/namespaces/ns/pods/p',
  type: 'dev.knative.apiserver.resource.update',
  data,
});

function asRecord(h: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]));
}

test('binary mode from the SDK parses to the same attributes and data', () => {
  const m = HTTP.binary(sdk);
  const ev = parseCloudEvent({ headers: asRecord(m.headers), body: String(m.body) });
  assert.is(ev.id, 'e1');
  assert.is(ev.type, 'dev.knative.apiserver.resource.update');
  assert.equal(ev.data, data);
});

test('structured mode from the SDK parses to the same attributes and data', () => {
  const m = HTTP.structured(sdk);
  const ev = parseCloudEvent({ headers: asRecord(m.headers), body: String(m.body) });
  assert.is(ev.source, '/apis/v1/namespaces/ns/pods/p');
  assert.equal(ev.data, data);
});

test('our binary reply round-trips through the SDK', () => {
  const { headers, body } = toBinary({
    specversion: '1.0',
    id: 'r',
    source: 'restore-guard/x',
    type: 't',
    subject: 'ns/pod-1',
    data: { a: 1 },
  });
  const back = HTTP.toEvent({ headers, body }) as SdkEvent;
  assert.is(back.id, 'r');
  assert.is(back.subject, 'ns/pod-1');
  assert.equal(back.data, { a: 1 });
});

test('non-ASCII header values are percent-encoded and decoded (HTTP binding 3.1.3.2)', () => {
  const m = toBinary({ specversion: '1.0', id: 'r', source: 's', type: 't', subject: 'ns/ü 100%', data: {} });
  assert.is(m.headers['ce-subject'], 'ns/%C3%BC 100%25');
  assert.is(parseCloudEvent(m).subject, 'ns/ü 100%');
});

for (const [name, msg, pattern] of [
  ['no ce headers', { headers: { 'content-type': 'application/json' }, body: '{}' }, /not a CloudEvent/],
  [
    'missing id',
    { headers: { 'ce-specversion': '1.0', 'ce-source': 's', 'ce-type': 't' }, body: '' },
    /id is required/,
  ],
  [
    'wrong specversion',
    { headers: { 'ce-specversion': '0.3', 'ce-id': '1', 'ce-source': 's', 'ce-type': 't' }, body: '' },
    /specversion/,
  ],
  [
    'invalid JSON data',
    {
      headers: {
        'ce-specversion': '1.0',
        'ce-id': '1',
        'ce-source': 's',
        'ce-type': 't',
        'content-type': 'application/json',
      },
      body: '{oops',
    },
    /not valid JSON/,
  ],
  [
    'structured but not an object',
    { headers: { 'content-type': 'application/cloudevents+json' }, body: '[1]' },
    /JSON object/,
  ],
  ['batch mode', { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: '[]' }, /batched/],
] as const) {
  test(`rejects: ${name}`, () => {
    try {
      parseCloudEvent(msg as { headers: Record<string, string>; body: string });
      assert.unreachable('should have thrown');
    } catch (e) {
      assert.instance(e, InvalidEventError);
      assert.match((e as Error).message, pattern);
      assert.is((e as InvalidEventError).status, 400);
    }
  });
}

test.run();
