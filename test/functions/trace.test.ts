/**
 * Trace context through the functions (README, Operations): an event's W3C traceparent (the
 * CloudEvents distributed-tracing extension, or the HTTP header in binary mode) reaches every log
 * line written while it is handled, wherever in the code, with the event's id and type, and its
 * reply carries the same trace on with this handling's span as the parent.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { toBinary } from '../../functions/core/http/cloudevent.ts';
import { parseTraceparent } from '../../functions/core/trace.ts';
import { EventType } from '../../functions/core/restore/events.ts';
import { apiEvent, harness, restoreEvent } from '../support/harness.ts';
import { pvc, restoreJob, restorePod } from '../support/objects.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE}-${PARENT}-01`;

type H = ReturnType<typeof harness>;

/** Posts in binary mode with extra headers; answers the reply's attributes from its ce-* headers. */
async function post(h: H, path: string, ev: CloudEvent, extra: Record<string, string> = {}) {
  const { headers, body } = toBinary(ev);
  const res = await h.server.app.request(path, { method: 'POST', headers: { ...headers, ...extra }, body });
  await res.text();
  return {
    status: res.status,
    type: res.headers.get('ce-type'),
    id: res.headers.get('ce-id'),
    traceparent: res.headers.get('ce-traceparent'),
    tracestate: res.headers.get('ce-tracestate'),
  };
}

const linesOf = (h: H, eventId: string) => h.log.lines.filter((l) => l.eventId === eventId);

test('completion: the reply keeps the trace id with a new span; every line of the event carries trace, id and type', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 } });
  const ev = { ...apiEvent(pod), traceparent: TRACEPARENT, tracestate: 'vendor=abc' };
  const r = await post(h, '/completion', ev);
  assert.is(r.status, 200);
  assert.is(r.type, EventType.succeeded);
  const tp = parseTraceparent(r.traceparent ?? undefined);
  assert.ok(tp, `the reply carries a valid traceparent: ${r.traceparent}`);
  assert.is(tp!.traceId, TRACE, 'same trace');
  assert.is.not(tp!.spanId, PARENT, 'a span of its own (W3C: the parent id is the sender span)');
  assert.is(tp!.flags, '01', 'the sampled flag passes on');
  assert.is(r.tracestate, 'vendor=abc', 'tracestate passes on unchanged');
  const lines = linesOf(h, ev.id);
  assert.ok(
    lines.some((l) => l.msg === 'answered'),
    'the answer is logged',
  );
  for (const l of lines) {
    assert.is(l.traceId, TRACE, `${l.msg}: trace id`);
    assert.is(l.spanId, tp!.spanId, `${l.msg}: span id is the reply's parent`);
    assert.is(l.eventType, ev.type, `${l.msg}: event type`);
    assert.is(l.fn, 'completion');
  }
});

test('labeling: lines written deep in the code (anchor, record) carry the trace of the HTTP traceparent header', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  // completion's reply, sent on to labeling in binary mode with a transport traceparent header only
  // (no ce-traceparent attribute): what a tracing Knative data plane adds.
  const completed = await h.post('/completion', apiEvent(pod));
  assert.is(completed.status, 200);
  const ev = restoreEvent(completed.reply!.type!, completed.reply!.data, 'labeling-1');
  const r = await post(h, '/labeling', ev, { traceparent: TRACEPARENT });
  assert.is(r.status, 200);
  assert.is(r.type, EventType.recorded);
  assert.is(parseTraceparent(r.traceparent ?? undefined)?.traceId, TRACE);
  const lines = linesOf(h, 'labeling-1');
  const msgs = lines.map((l) => l.msg);
  for (const m of ['anchor created', 'outcome recorded', 'answered'])
    assert.ok(msgs.includes(m), `"${m}" is among the event's lines: ${JSON.stringify(msgs)}`);
  for (const l of lines) {
    assert.is(l.traceId, TRACE, `${l.msg}: trace id`);
    assert.match(String(l.spanId), /^[0-9a-f]{16}$/);
    assert.is(l.eventType, EventType.succeeded);
  }
  // Nothing of this event is logged without its context.
  const loose = h.log.lines.filter(
    (l) => !l.eventId && ['anchor created', 'outcome recorded', 'answered'].includes(String(l.msg)),
  );
  assert.equal(loose, []);
});

test('an event without trace context starts a trace; a bad traceparent is not trusted, its tracestate dropped', async () => {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 } });
  const fresh = await post(h, '/completion', apiEvent(pod));
  const tp = parseTraceparent(fresh.traceparent ?? undefined);
  assert.ok(tp, 'a new, valid traceparent');
  assert.is(tp!.flags, '00', 'not sampled: restore-guard records no spans');
  const bad = { ...apiEvent(pod), traceparent: `00-${'0'.repeat(32)}-${PARENT}-01`, tracestate: 'x=1' };
  const r = await post(h, '/completion', bad);
  const tp2 = parseTraceparent(r.traceparent ?? undefined);
  assert.ok(tp2);
  assert.is.not(tp2!.traceId, '0'.repeat(32));
  assert.is(r.tracestate, null, 'tracestate of an unparsable traceparent is ignored (W3C 3.3)');
  const line = linesOf(h, bad.id).find((l) => l.msg === 'answered');
  assert.is(line?.traceId, tp2!.traceId, 'logs carry the trace the reply carries');
});

test('through the local broker, a whole chain shares the first event’s trace', async () => {
  const h = harness({ RG_LOCAL_BROKER: 'true' });
  const pod = restorePod({ restore: { exit: 0 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  await h.server.broker!.send({ ...apiEvent(pod), traceparent: TRACEPARENT });
  const answered = h.log.lines.filter((l) => l.msg === 'answered');
  assert.ok(answered.length >= 2, `completion and labeling answered: ${answered.map((l) => l.fn).join(', ')}`);
  assert.ok(new Set(answered.map((l) => l.fn)).has('labeling'));
  for (const l of answered) assert.is(l.traceId, TRACE, `${l.fn}: same trace`);
  assert.is(new Set(answered.map((l) => l.spanId)).size, answered.length, 'one span per handling');
});

test.run();
