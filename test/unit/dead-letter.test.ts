/**
 * The dead-letter sink (functions/core/http/dead-letter.ts): every Trigger's deadLetterSink is the
 * server's POST /dead-letter; each event is counted by the function it failed to reach and logged
 * with its id, type and trace. The local broker hands it the same events Knative would.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { toBinary, toStructured } from '../../functions/core/http/cloudevent.ts';
import { failedFunction } from '../../functions/core/http/dead-letter.ts';
import { createBroker } from '../../functions/core/http/local-broker.ts';
import { memoryLogger } from '../../functions/core/log.ts';
import { EventType } from '../../functions/core/restore/events.ts';
import { loadConfig } from '../../functions/core/config.ts';
import { createServer } from '../../functions/server.ts';
import { apiEvent, harness } from '../support/harness.ts';
import { restorePod } from '../support/objects.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const lost = (extra: Record<string, unknown>): CloudEvent => ({
  specversion: '1.0',
  id: 'lost-1',
  source: 'restore-guard/completion',
  type: EventType.succeeded,
  subject: 'db/restore-0-abcde',
  datacontenttype: 'application/json',
  data: { namespace: 'db' },
  traceparent: `00-${TRACE}-00f067aa0ba902b7-01`,
  ...extra,
});

test('POST /dead-letter: 202, counted by function, type and last status, logged with id, type and trace', async () => {
  const h = harness();
  const ev = lost({
    knativeerrordest: 'http://restore-guard.restore-guard.svc.cluster.local/labeling',
    knativeerrorcode: '503',
    knativeerrordata: '{"error":"cluster_unavailable"}',
  });
  for (const { headers, body } of [toBinary(ev), toStructured(ev)]) {
    const res = await h.server.app.request('/dead-letter', { method: 'POST', headers, body });
    assert.is(res.status, 202);
  }
  const m = h.server.deps.metrics;
  assert.is(m.deadLetters.get({ function: 'labeling', type: EventType.succeeded, code: '503' }), 2);
  assert.match(m.render(), /restoreguard_dead_letters_total\{function="labeling",type="[^"]+",code="503"\} 2/);
  const lines = h.log.lines.filter((l) => l.msg === 'event dead-lettered: delivery failed for good');
  assert.is(lines.length, 2);
  assert.is(lines[0]!.level, 'error');
  assert.is(lines[0]!.eventId, 'lost-1');
  assert.is(lines[0]!.eventType, EventType.succeeded);
  assert.is(lines[0]!.traceId, TRACE);
  assert.is(lines[0]!.failedFunction, 'labeling');
  assert.is(lines[0]!.subject, 'db/restore-0-abcde');
  assert.is(lines[0]!.errorData, '{"error":"cluster_unavailable"}');
});

test('label values stay in known sets: an unknown destination, type or code is other/none', async () => {
  const h = harness();
  const ev = lost({ type: 'made.up', knativeerrordest: 'http://evil/x?y', knativeerrorcode: 'boom' });
  const { headers, body } = toBinary(ev);
  assert.is((await h.server.app.request('/dead-letter', { method: 'POST', headers, body })).status, 202);
  assert.is(h.server.deps.metrics.deadLetters.get({ function: 'other', type: 'other', code: 'none' }), 1);
  assert.is(failedFunction('/resync/', ['resync']), 'resync');
  assert.is(failedFunction(42, ['resync']), 'other');
  assert.is(failedFunction('http://[bad', ['resync']), 'other');
});

test('a request that is not a CloudEvent is a 400, not counted', async () => {
  const h = harness();
  const res = await h.server.app.request('/dead-letter', { method: 'POST', body: 'hello' });
  assert.is(res.status, 400);
  assert.not.match(h.server.deps.metrics.render(), /restoreguard_dead_letters_total\{/);
});

test('the local broker hands a delivery that failed for good to the Trigger’s dead-letter sink, as Knative would', async () => {
  const got: { path: string; ev: CloudEvent }[] = [];
  const broker = createBroker({
    triggers: [
      {
        name: 't',
        attributes: { type: 'x' },
        filters: [],
        path: '/labeling',
        retry: 1,
        backoffDelayMs: 1,
        backoffPolicy: 'exponential',
        deadLetterPath: '/dead-letter',
      },
    ],
    deliver: async () => ({ status: 500, headers: {}, body: 'it broke' }),
    deadLetter: (path, ev) => got.push({ path, ev }),
    ttl: 10,
    log: memoryLogger(),
    sleep: async () => {},
  });
  await broker.send({ specversion: '1.0', id: 'e1', source: 's', type: 'x' });
  assert.is(got.length, 1);
  assert.is(got[0]!.path, '/dead-letter');
  assert.equal(
    {
      dest: got[0]!.ev.knativeerrordest,
      code: got[0]!.ev.knativeerrorcode,
      data: got[0]!.ev.knativeerrordata,
      id: got[0]!.ev.id,
    },
    { dest: '/labeling', code: '500', data: 'it broke', id: 'e1' },
  );
});

test('in a local-broker server, eventing/’s Triggers send dead letters to /dead-letter, which counts them', async () => {
  // No cluster: labeling answers 503; its Trigger (eventing/triggers.yaml) retries, then dead-letters.
  const log = memoryLogger();
  const server = createServer({
    config: loadConfig({ RG_LOCAL_BROKER: 'true', RG_EVENTING_DIR: 'eventing' }),
    log,
    sleep: async () => {},
    backoffScale: 0,
  });
  const trig = server.broker!.triggers.find((t) => t.path === '/labeling');
  assert.is(trig?.deadLetterPath, '/dead-letter', 'read from eventing/triggers.yaml');
  // completion (pure) answers succeeded; labeling cannot reach a cluster.
  await server.broker!.send({ ...apiEvent(restorePod({ restore: { exit: 0 } })), traceparent: lost({}).traceparent });
  const m = server.deps.metrics;
  assert.is(m.deadLetters.get({ function: 'labeling', type: EventType.succeeded, code: '503' }), 1, m.render());
  assert.is(m.brokerDeliveries.get({ trigger: trig!.name, status: '503' }), trig!.retry + 1, 'after every retry');
  const line = log.lines.find((l) => l.msg === 'event dead-lettered: delivery failed for good');
  assert.is(line?.traceId, TRACE, 'the dead letter is logged in the lost event’s trace');
});

test.run();
