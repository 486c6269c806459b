/** W3C Trace Context parsing and the trace of one event's handling (functions/core/trace.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatTraceparent, parseTraceparent, traceAttributes, traceOf } from '../../functions/core/trace.ts';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

test('traceparent: version 00 exactly, later versions with more fields; never ff, zero ids or upper case', () => {
  assert.equal(parseTraceparent(`00-${T}-${S}-01`), { traceId: T, spanId: S, flags: '01' });
  assert.equal(parseTraceparent(` 00-${T}-${S}-00 `), { traceId: T, spanId: S, flags: '00' });
  assert.equal(parseTraceparent(`01-${T}-${S}-01-future`), { traceId: T, spanId: S, flags: '01' });
  for (const bad of [
    undefined,
    '',
    `00-${T}-${S}-01-extra`,
    `ff-${T}-${S}-01`,
    `00-${'0'.repeat(32)}-${S}-01`,
    `00-${T}-${'0'.repeat(16)}-01`,
    `00-${T.toUpperCase()}-${S}-01`,
    `00-${T.slice(1)}-${S}-01`,
    `00-${T}-${S}-1`,
    `00_${T}_${S}_01`,
  ])
    assert.is(parseTraceparent(bad), null, String(bad));
});

let n = 0;
const counter = (k: number) => Buffer.from(Array.from({ length: k }, () => ++n % 256));

test('traceOf: the event attribute first, then the HTTP header, else a new trace; a new span each time', () => {
  const fromEvent = traceOf({ traceparent: `00-${T}-${S}-01`, tracestate: 'a=1' }, {}, counter);
  assert.is(fromEvent.traceId, T);
  assert.is(fromEvent.parentSpanId, S);
  assert.is.not(fromEvent.spanId, S);
  assert.match(fromEvent.spanId, /^[0-9a-f]{16}$/);
  assert.is(fromEvent.tracestate, 'a=1');
  const other = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-00`;
  assert.is(traceOf({ traceparent: `00-${T}-${S}-01` }, { traceparent: other }, counter).traceId, T);
  const fromHeader = traceOf({}, { traceparent: other, tracestate: 'h=2' }, counter);
  assert.is(fromHeader.traceId, '1'.repeat(32));
  assert.is(fromHeader.tracestate, 'h=2');
  const fresh = traceOf({ tracestate: 'orphan=1' }, {}, counter);
  assert.match(fresh.traceId, /^[0-9a-f]{32}$/);
  assert.is(fresh.parentSpanId, null);
  assert.is(fresh.flags, '00');
  assert.is(fresh.tracestate, null, 'a tracestate without a traceparent is dropped');
  assert.is(traceOf({ traceparent: `00-${T}-${S}-01`, tracestate: 'x'.repeat(513) }).tracestate, null, 'bounded');
});

test('an all-zero random id is drawn again', () => {
  let calls = 0;
  const zeroFirst = (k: number) => (calls++ === 0 ? Buffer.alloc(k) : Buffer.alloc(k, 7));
  const t = traceOf({}, {}, zeroFirst);
  assert.is(t.traceId, '07'.repeat(16));
});

test('the reply attributes: this span as the parent, tracestate only when there is one', () => {
  const t = traceOf({ traceparent: `00-${T}-${S}-01` });
  assert.equal(traceAttributes(t), { traceparent: formatTraceparent(t) });
  assert.is(formatTraceparent(t), `00-${T}-${t.spanId}-01`);
  assert.equal(traceAttributes({ ...t, tracestate: 'a=1' }).tracestate, 'a=1');
});

test.run();
