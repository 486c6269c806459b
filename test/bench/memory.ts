/**
 * Memory under hostile bodies, against func.yaml's memory limit (issue 12, finding 9):
 *
 *   node --expose-gc test/bench/memory.ts            all scenarios, a markdown table on stdout
 *
 * Each scenario runs restore-guard in a fresh process of its own, as in its pod (dist/server.js when
 * built, else functions/index.ts; no cluster, RG_AUTH=none so bodies reach the routes, the defaults of
 * RG_MAX_BODY_BYTES and RG_MAX_IN_FLIGHT), and reads the process's peak resident set (VmHWM in
 * /proc/<pid>/status, the kernel's high-water mark, so no sample can miss a spike) once the clients
 * are done. Linux only.
 *
 *   idle                 start, one readiness probe
 *   chunked 192 MiB      one body with no content-length, 64 KiB chunks, until the server answers
 *   400 × ~1 MiB, held   400 connections each send just under the limit (content-length 1 MiB) and
 *                        stop 1 KiB short, holding the connection: the bodies in flight are all the
 *                        server may hold (the cap answers the rest 503 before reading them)
 *   400 slow headers     400 connections that send a header line every 2 s (slowloris)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import * as path from 'node:path';
import { parse } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const MiB = 1024 * 1024;

function limitBytes(): number {
  const f = parse(readFileSync(path.join(ROOT, 'func.yaml'), 'utf8')) as {
    deploy?: { options?: { resources?: { limits?: { memory?: string } } } };
  };
  const m = /^(\d+)Mi$/.exec(f.deploy?.options?.resources?.limits?.memory ?? '');
  if (!m) throw new Error('func.yaml: deploy.options.resources.limits.memory is not <n>Mi');
  return Number(m[1]) * MiB;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function status(pid: number, key: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function start(): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const bundle = path.join(ROOT, 'dist', 'server.js');
  const entry = existsSync(bundle) ? bundle : path.join(ROOT, 'functions', 'index.ts');
  const child = spawn(process.execPath, [entry], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      RG_AUTH: 'none',
      LOG_LEVEL: 'error',
      // Settings to try (e.g. RG_MAX_IN_FLIGHT=1): every RG_* of this process's environment.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('RG_'))),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/health/readiness`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return { child, port };
    await sleep(50);
  }
  child.kill();
  throw new Error('restore-guard did not become ready');
}

const HEAD = (port: number, extra: string) =>
  `POST /completion HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nce-specversion: 1.0\r\nce-id: m\r\n` +
  `ce-type: dev.knative.apiserver.resource.update\r\nce-source: bench\r\ncontent-type: application/json\r\n${extra}\r\n`;

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

/** Writes, waiting for the socket to drain; false once the server has answered or closed. */
function write(s: Socket, data: string | Buffer): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    if (s.write(data)) resolve(true);
    else {
      s.once('drain', () => resolve(true));
      s.once('close', () => resolve(false));
    }
  });
}

async function chunked(port: number): Promise<string> {
  const s = await open(port);
  let answer = '';
  s.on('data', (d: Buffer) => {
    answer += d.toString();
  });
  s.on('error', () => undefined);
  await write(s, HEAD(port, 'transfer-encoding: chunked\r\n'));
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  let sent = 0;
  while (sent < 192 * MiB && !answer && !s.destroyed) {
    if (!(await write(s, frame))) break;
    sent += chunk.length;
  }
  await sleep(200);
  s.destroy();
  return `${(sent / MiB).toFixed(1)} MiB sent, answer ${/^HTTP\/1.1 (\d+)/.exec(answer)?.[1] ?? 'none'}`;
}

async function held(port: number, n: number, limit: number): Promise<string> {
  const body = Buffer.alloc(limit - 1024, 0x20);
  const codes: Record<string, number> = {};
  const sockets = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = await open(port);
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        const c = /^HTTP\/1.1 (\d+)/.exec(d.toString())?.[1];
        if (c) codes[c] = (codes[c] ?? 0) + 1;
      });
      await write(s, HEAD(port, `content-length: ${limit}\r\n`));
      return s;
    }),
  );
  await Promise.all(sockets.map((s) => write(s, body)));
  await sleep(2000); // held, 1 KiB short
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const overloaded = [
    ...metrics.matchAll(/^restoreguard_events_total\{[^}]*outcome="overloaded"[^}]*\} (\d+)/gm),
  ].reduce((a, m) => a + Number(m[1]), 0);
  codes['503 counted by the server'] = overloaded;
  const summary = Object.entries(codes)
    .map(([c, k]) => `${k}×${c}`)
    .join(', ');
  for (const s of sockets) s.destroy();
  return `answered while held: ${summary || 'none'}; the rest wait for their last KiB`;
}

async function slowHeaders(port: number, n: number): Promise<string> {
  const sockets = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = await open(port);
      s.on('error', () => undefined);
      await write(s, `POST /completion HTTP/1.1\r\nhost: x\r\n`);
      return s;
    }),
  );
  for (let i = 0; i < 3; i++) {
    await sleep(2000);
    for (const s of sockets) await write(s, `x-slow-${i}: ${'y'.repeat(100)}\r\n`);
  }
  const open_ = sockets.filter((s) => !s.destroyed).length;
  for (const s of sockets) s.destroy();
  return `${open_} of ${n} still open after 6 s (headers must arrive within 10 s)`;
}

const scenarios: [string, (port: number) => Promise<string>][] = [
  ['idle', async () => 'started, ready'],
  ['chunked 192 MiB body, no content-length', chunked],
  ['400 connections × (1 MiB − 1 KiB), held', (p) => held(p, 400, MiB)],
  ['400 connections with slow headers', (p) => slowHeaders(p, 400)],
];

async function main() {
  const limit = limitBytes();
  const rows: string[] = [];
  for (const [name, run] of scenarios) {
    const { child, port } = await start();
    const base = status(child.pid!, 'VmRSS');
    const note = await run(port);
    await sleep(300);
    const peak = status(child.pid!, 'VmHWM');
    child.kill('SIGKILL');
    rows.push(
      `| ${name} | ${(base / MiB).toFixed(0)} | ${(peak / MiB).toFixed(0)} | ${((peak / limit) * 100).toFixed(0)}% | ${peak < limit ? 'yes' : 'NO'} | ${note} |`,
    );
    process.stderr.write(`${rows.at(-1)}\n`);
  }
  process.stdout.write(
    [
      `restore-guard memory under hostile bodies (func.yaml limit ${limit / MiB} MiB; node ${process.version}; ${new Date().toISOString()})`,
      '',
      '| scenario | RSS at start (MiB) | peak RSS (MiB) | of limit | within | what happened |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
}

await main();
