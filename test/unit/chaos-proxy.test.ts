// The chaos suite's fault proxy (test/chaos/proxy.ts) between restore-guard's replicas and the API
// server: a client that goes away before its answer is through must not cost the proxy a socket.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ensurePki } from '../rig/pki.ts';
import { createFaultProxy, FAULT_KINDS, type FaultRates } from '../chaos/proxy.ts';

const NONE = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as FaultRates;

test('clients that go away mid-answer (killed, timed out) leave the proxy answering', async () => {
  const pki = ensurePki();
  const ca = fs.readFileSync(pki.caCert);
  const cert = fs.readFileSync(pki.servingCert);
  const key = fs.readFileSync(pki.servingKey);
  // the "API server": the answer's head at once, the rest of its body 200 ms later
  const upstream = https.createServer({ cert, key }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('a');
    setTimeout(() => res.end('b'), 200);
  });
  const port = await new Promise<number>((r) =>
    upstream.listen(0, '127.0.0.1', () => r((upstream.address() as AddressInfo).port)),
  );
  const proxy = createFaultProxy({ target: `https://127.0.0.1:${port}`, ca, cert, key, rates: NONE, random: () => 0 });
  const url = await proxy.listen();
  const get = (path: string, leave: boolean, ms: number) =>
    new Promise<number>((resolve) => {
      const req = https.request(`${url}${path}`, { ca, agent: false }, (res) => {
        if (leave) {
          res.socket.destroy(); // gone as soon as the answer starts
          resolve(res.statusCode ?? 0);
          return;
        }
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.setTimeout(ms, () => {
        req.destroy();
        resolve(0);
      });
      req.on('error', () => resolve(0));
      req.end();
    });
  try {
    // more clients that leave than the proxy keeps sockets to the API server (64)
    // (generous time limits: a machine under load; an answer that never comes is what fails)
    const left = await Promise.all(Array.from({ length: 70 }, (_, i) => get(`/leave-${i}`, true, 20_000)));
    assert.is(left.filter((s) => s === 200).length, 70, 'every one answered');
    assert.is(await get('/after', false, 20_000), 200, 'a request after them is still answered');
  } finally {
    await proxy.close();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

test.run();
