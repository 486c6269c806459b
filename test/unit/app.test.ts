/**
 * The HTTP app's own concerns over a real socket on loopback: the body limit holds for a chunked
 * body as it streams in (the answer comes before the client has sent it all), and every refusal is
 * the contract's JSON error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createApp } from '../../functions/core/http/app.ts';
import { memoryLogger } from '../../functions/core/log.ts';
import { createMetrics } from '../../functions/core/metrics.ts';

const LIMIT = 1024 * 1024;

async function withServer<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const deps = { log: memoryLogger('error'), metrics: createMetrics(), clock: () => new Date() };
  const app = createApp({
    functions: [{ name: 'echo', types: ['t'], handle: async () => null }],
    deps,
    maxBodyBytes: LIMIT,
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((r) => server.once('listening', () => r()));
  try {
    return await fn((server.address() as AddressInfo).port);
  } finally {
    server.close();
  }
}

/** Streams up to `total` bytes in chunks (no content-length) and stops once the answer arrives. */
function sendChunked(port: number, total: number): Promise<{ status: number; body: string; sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/echo',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body, sent });
      });
    });
    req.on('error', (e) => (answered ? undefined : reject(e)));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

test('a chunked body over the limit is refused while it streams, with a JSON 413', async () => {
  await withServer(async (port) => {
    const total = 64 * LIMIT;
    const r = await sendChunked(port, total);
    assert.is(r.status, 413);
    assert.is(JSON.parse(r.body).error, 'payload_too_large');
    // The answer came long before the 64 MiB were sent (socket buffers hold a few MiB at most).
    assert.ok(r.sent < total / 4, `sent ${r.sent} of ${total} bytes before the answer`);
  });
});

test('a declared content-length over the limit is refused before the body is read', async () => {
  await withServer(async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: 'x'.repeat(LIMIT + 1) });
    assert.is(res.status, 413);
    assert.is(((await res.json()) as { error: string }).error, 'payload_too_large');
  });
});

test('a body under the limit reaches the function (here: a 400 for a body that is no CloudEvent)', async () => {
  await withServer(async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: '{}' });
    assert.is(res.status, 400);
    assert.is(((await res.json()) as { error: string }).error, 'invalid_event');
  });
});

test('metric labels come from the known event types: rejected events of 100 made-up types add one series, not 100', async () => {
  const deps = { log: memoryLogger('error'), metrics: createMetrics(), clock: () => new Date() };
  const app = createApp({
    functions: [{ name: 'echo', types: ['t'], handle: async () => null }],
    deps,
    maxBodyBytes: LIMIT,
  });
  const send = (type: string) =>
    app.request('/echo', {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': `id-${type}`,
        'ce-source': 's',
        'ce-type': type,
        'content-type': 'application/json',
      },
      body: '{}',
    });
  assert.is((await send('t')).status, 202);
  for (let i = 0; i < 100; i++) assert.is((await send(`made.up.${i}`)).status, 400);
  const series = deps.metrics
    .render()
    .split('\n')
    .filter((l) => l.startsWith('restoreguard_events_total{'));
  assert.equal(series.sort(), [
    'restoreguard_events_total{function="echo",type="other",outcome="invalid_event",code="400"} 100',
    'restoreguard_events_total{function="echo",type="t",outcome="none",code="202"} 1',
  ]);
});

test('at most maxInFlight events are handled at once: the next is answered 503 (redelivered), health still answers', async () => {
  const deps = { log: memoryLogger('error'), metrics: createMetrics(), clock: () => new Date() };
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const app = createApp({
    functions: [{ name: 'slow', types: ['t'], handle: async () => gate.then(() => null) }],
    deps,
    maxBodyBytes: LIMIT,
    maxInFlight: 2,
  });
  const send = () =>
    app.request('/slow', {
      method: 'POST',
      headers: { 'ce-specversion': '1.0', 'ce-id': 'i', 'ce-source': 's', 'ce-type': 't' },
      body: '{}',
    });
  const held = [send(), send()];
  await new Promise((r) => setTimeout(r, 10));
  const third = await Promise.race([send(), new Promise<null>((r) => setTimeout(() => r(null), 500))]);
  if (!third) release(); // the old app let it in: free the gate before failing
  assert.ok(third, 'the third event is answered at once, not held');
  assert.is(third.status, 503);
  assert.is(((await third.json()) as { error: string }).error, 'overloaded');
  assert.is((await app.request('/health/readiness')).status, 200);
  release();
  for (const r of await Promise.all(held)) assert.is(r.status, 202);
  assert.is((await send()).status, 202, 'a slot is free again');
});

test('request bodies held at once stay within maxBodyBuffer: declared lengths, the limit for a chunked body; past it 503 and the connection closed', async () => {
  const deps = { log: memoryLogger('error'), metrics: createMetrics(), clock: () => new Date() };
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const app = createApp({
    functions: [{ name: 'slow', types: ['t'], handle: async () => gate.then(() => null) }],
    deps,
    maxBodyBytes: LIMIT,
    maxInFlight: 100,
    maxBodyBuffer: 2 * LIMIT,
  });
  const body = (n: number) => JSON.stringify({ pad: 'x'.repeat(n) });
  const send = (b: string, chunked = false) =>
    app.request('/slow', {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'i',
        'ce-source': 's',
        'ce-type': 't',
        ...(chunked ? {} : { 'content-length': String(Buffer.byteLength(b)) }),
      },
      body: b,
    });
  // Two bodies of 600 KiB are held (1.2 MiB of 2 MiB); a chunked one counts as a whole 1 MiB: refused.
  const held = [send(body(600 * 1024)), send(body(600 * 1024))];
  await new Promise((r) => setTimeout(r, 10));
  const chunked = await Promise.race([send(body(10), true), new Promise<null>((r) => setTimeout(() => r(null), 500))]);
  const big = await Promise.race([send(body(900 * 1024)), new Promise<null>((r) => setTimeout(() => r(null), 500))]);
  const small = send(body(100 * 1024));
  await new Promise((r) => setTimeout(r, 10));
  release();
  assert.ok(chunked && big, 'refused at once, not held');
  for (const r of [chunked!, big!]) {
    assert.is(r.status, 503);
    assert.is(((await r.json()) as { error: string }).error, 'overloaded');
    assert.is(r.headers.get('connection'), 'close', 'the unread body is not read to keep the connection');
  }
  assert.is((await small).status, 202, 'a body that fits the rest of the budget passes');
  for (const r of await Promise.all(held)) assert.is(r.status, 202);
  assert.is((await send(body(10), true)).status, 202, 'the budget is free again');
});

test("the server's timeouts fit Knative's 300 s request timeout: requests arrive soon, answers may take as long as Knative waits", async () => {
  const { SERVER_TIMEOUTS } = await import('../../functions/core/http/app.ts');
  const { loadConfig } = await import('../../functions/core/config.ts');
  assert.ok(SERVER_TIMEOUTS.headersMs <= SERVER_TIMEOUTS.requestMs, 'Node requires headers within the request timeout');
  assert.ok(SERVER_TIMEOUTS.requestMs < 300_000);
  assert.ok(SERVER_TIMEOUTS.socketMs > 300_000, 'never cut before Knative gives up');
  // Retry waits inside the request: its bound is under both.
  assert.throws(() => loadConfig({ RG_RETRY_MAX_MS: '300000' }), /RG_RETRY_MAX_MS/);
  assert.is(loadConfig({ RG_RETRY_MAX_MS: '240000' }).RG_RETRY_MAX_MS, 240_000);
});

test.run();
