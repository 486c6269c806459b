/**
 * The first event that calls the API after a cold start: spawn the server against a stub API
 * server (empty lists), wait for readiness, let 1.5 s pass (a ping or event seldom comes at the
 * same instant), then time one resync ping (it lists Pods, Jobs and Restores). Before the client
 * chunk was loaded in the background, that ping paid for loading it.
 *
 *   npm run build && npx node test/bench/first-call.ts [entry ...]   (default dist/server.js)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const PING_SOURCE = '/apis/v1/namespaces/restore-guard/pingsources/restore-guard-resync';

const api = createServer((req, res) => {
  req.resume();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: {}, items: [] }));
});
await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
const kubeconfig = join(mkdtempSync(join(tmpdir(), 'rg-first-call-')), 'config');
writeFileSync(
  kubeconfig,
  `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:${(api.address() as AddressInfo).port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: t\n`,
);

const entries = process.argv.length > 2 ? process.argv.slice(2) : ['dist/server.js'];
const runs = Number(process.env.RUNS ?? 5);
const samples = new Map<string, number[]>(entries.map((e) => [e, []]));
let port = 19_700 + Math.floor(Math.random() * 200);
for (let i = 0; i < runs; i++)
  for (const entry of entries) {
    const p = port++;
    const child = spawn(process.execPath, [entry], {
      env: { ...process.env, PORT: String(p), HOST: '127.0.0.1', LOG_LEVEL: 'warn', KUBECONFIG: kubeconfig },
      stdio: 'ignore',
    });
    try {
      for (;;) {
        try {
          if ((await fetch(`http://127.0.0.1:${p}/health/readiness`)).status === 200) break;
        } catch {
          /* not listening yet */
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, 1500));
      const t = performance.now();
      const r = await fetch(`http://127.0.0.1:${p}/resync`, {
        method: 'POST',
        headers: {
          'ce-specversion': '1.0',
          'ce-id': `first-call-${i}`,
          'ce-source': PING_SOURCE,
          'ce-type': 'dev.knative.sources.ping',
          'content-type': 'application/json',
        },
        body: '{"reason":"resync"}',
      });
      const body = await r.text();
      if (r.status >= 300) throw new Error(`${entry}: /resync answered ${r.status}: ${body}`);
      samples.get(entry)!.push(performance.now() - t);
    } finally {
      child.kill('SIGKILL');
    }
  }
api.close();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log('| start | first resync ping after readiness + 1.5 s (median ms) | samples |');
console.log('|---|---|---|');
for (const [e, v] of samples)
  console.log(`| ${e} | ${median(v).toFixed(0)} | ${v.map((x) => x.toFixed(0)).join(', ')} |`);
