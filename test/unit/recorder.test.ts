/**
 * The recorder: raw captures (headers, body and arrival time as received, before parsing), bounded
 * in files and in writes in flight, nothing awaited on the request's path; what it writes is what
 * the replay reads.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRecorder } from '../../functions/core/http/recorder.ts';
import type { Capture } from '../../functions/core/http/recorder.ts';
import { memoryLogger } from '../../functions/core/log.ts';
import { loadConfig } from '../../functions/core/config.ts';
import { createServer } from '../../functions/server.ts';
import { readInputs } from '../../cli/replay/inputs.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'rg-rec-'));
const captures = (d: string) =>
  readdirSync(d)
    .filter((f) => f.endsWith('.capture.json'))
    .sort();
const body = '{"kind":"Pod","metadata":{"name":"p","namespace":"ns"}}';
const headers = {
  'ce-id': 'e1',
  'ce-source': 'https://10.96.0.1:443',
  'ce-specversion': '1.0',
  'ce-type': 'dev.knative.apiserver.resource.update',
  'ce-time': '2025-06-12T09:41:30.123456789Z',
  'content-type': 'application/json',
  authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.secret',
};

test('a capture is the request as received: path, arrival time, headers and the body byte for byte; credentials redacted', async () => {
  const d = dir();
  const rec = createRecorder(d, 10, memoryLogger());
  const at = new Date('2025-06-12T09:41:30.130Z');
  rec({ path: '/completion', headers, body: `  ${body}\n`, receivedAt: at });
  await rec.flush();
  const files = captures(d);
  assert.is(files.length, 1);
  assert.match(files[0]!, /^0*1749721290130-\d+-000000\.capture\.json$/);
  const c = JSON.parse(readFileSync(join(d, files[0]!), 'utf8')) as Capture;
  assert.is(c.path, '/completion');
  assert.is(c.receivedAt, '2025-06-12T09:41:30.130Z');
  assert.is(c.body, `  ${body}\n`);
  assert.is(c.headers['ce-time'], '2025-06-12T09:41:30.123456789Z', 'the nanoseconds the SDK would drop are kept');
  assert.is(c.headers.authorization, '[redacted]');
});

test('bounded in files: the oldest are dropped, also those still being written', async () => {
  const d = dir();
  writeFileSync(join(d, '00000000000001-1-000000.capture.json'), '{}'); // from an earlier run
  const rec = createRecorder(d, 3, memoryLogger());
  for (let i = 0; i < 10; i++)
    rec({ path: '/completion', headers, body: String(i), receivedAt: new Date(1_000_000 + i) });
  await rec.flush();
  const files = captures(d);
  assert.is(files.length, 3);
  assert.equal(
    files.map((f) => JSON.parse(readFileSync(join(d, f), 'utf8')).body),
    ['7', '8', '9'],
  );
});

test('bounded in flight, and off the request path: the tap returns before anything is on disk', async () => {
  const d = dir();
  const log = memoryLogger();
  const rec = createRecorder(d, 100, log, 2);
  for (let i = 0; i < 5; i++)
    rec({ path: '/completion', headers, body: String(i), receivedAt: new Date(2_000_000 + i) });
  // Nothing was awaited: all five taps ran before any write completed, so only two were taken.
  assert.is(rec.dropped(), 3);
  assert.ok(log.lines.some((l) => l.msg === 'recording dropped: too many writes in flight'));
  await rec.flush();
  assert.is(captures(d).length, 2);
  rec({ path: '/completion', headers, body: 'later', receivedAt: new Date(3_000_000) });
  await rec.flush();
  assert.is(captures(d).length, 3, 'once the disk caught up, captures are taken again');
});

test('the server records what it receives, and the replay reads it back as the same event', async () => {
  const d = dir();
  const config = loadConfig({
    RG_RECORD_DIR: d,
    RG_AUTH: 'none',
    RG_EVENTING_DIR: resolve(import.meta.dirname, '..', '..', 'eventing'),
  });
  const server = createServer({ config, log: memoryLogger() });
  const res = await server.app.request('/completion', { method: 'POST', headers, body });
  assert.is(res.status, 202);
  await server.flush();
  const read = readInputs([d], { failFast: false });
  assert.equal(read.problems, []);
  const item = read.items[0];
  assert.ok(item && item.kind === 'event');
  assert.is(item.path, '/completion');
  assert.is(item.event.id, 'e1');
  assert.is(item.event.time, '2025-06-12T09:41:30.123456789Z');
  assert.equal(item.event.data, JSON.parse(body));
});

test('API keys and tokens in any header are redacted; captures are readable by their owner only', async () => {
  const { statSync } = await import('node:fs');
  const d = join(dir(), 'captures');
  const rec = createRecorder(d, 10, memoryLogger());
  rec({
    path: '/completion',
    headers: {
      ...headers,
      'X-Api-Key': 'k-123',
      'x-auth-token': 't-456',
      'x-amz-security-token': 'a-789',
      'proxy-authorization': 'Basic xyz',
      'ce-id': 'kept',
    },
    body,
    receivedAt: new Date(),
  });
  await rec.flush();
  const file = join(d, captures(d)[0]!);
  const text = readFileSync(file, 'utf8');
  for (const secret of ['k-123', 't-456', 'a-789', 'xyz', 'eyJhbGciOiJSUzI1NiJ9'])
    assert.not.ok(text.includes(secret), secret);
  assert.ok(text.includes('kept'));
  assert.is(statSync(file).mode & 0o777, 0o600, 'the capture: owner read/write only');
  assert.is(statSync(d).mode & 0o777, 0o700, 'the folder it made: owner only');
});

test.run();
