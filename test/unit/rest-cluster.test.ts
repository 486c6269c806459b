/**
 * The REST client's transport against servers on loopback: a kubeconfig's proxy-url is honoured
 * (the client keeps the library's proxy agent instead of its own pooled one).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIELD_MANAGER, USER_AGENT, connectCluster } from '../../functions/core/kube/rest-cluster.ts';

function kubeconfig(server: string, proxy?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rg-kubeconfig-'));
  const file = join(dir, 'config');
  const cluster = `    server: ${server}\n    insecure-skip-tls-verify: true\n${proxy ? `    proxy-url: ${proxy}\n` : ''}`;
  writeFileSync(
    file,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n${cluster}contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: t\n`,
  );
  return file;
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; close(): void }> {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: () => {
      s.closeAllConnections();
      s.close();
    },
  };
}

test('a kubeconfig proxy-url is used: requests go through the proxy', async () => {
  const tunnels: string[] = [];
  const api = await listen((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p', namespace: 'ns' } }));
  });
  // An HTTP CONNECT proxy (the library tunnels through it) that takes every tunnel to the fake API
  // server, whatever address was asked for: the kubeconfig's server address is closed.
  const proxy = createServer();
  proxy.on('connect', (req, client: Socket) => {
    tunnels.push(String(req.url));
    const upstream = connect(Number(new URL(api.url).port), '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  try {
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const cluster = await connectCluster(kubeconfig('http://127.0.0.1:9', proxyUrl), 5000);
    const pod = await cluster.get('Pod', 'ns', 'p');
    assert.equal(pod?.metadata.name, 'p');
    assert.equal(tunnels, ['127.0.0.1:9']);
  } finally {
    proxy.close();
    api.close();
  }
});

test('without a proxy the API server is asked directly', async () => {
  const seen: string[] = [];
  const api = await listen((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p', namespace: 'ns' } }));
  });
  try {
    const cluster = await connectCluster(kubeconfig(api.url), 5000);
    assert.equal((await cluster.get('Pod', 'ns', 'p'))?.metadata.name, 'p');
    assert.equal(seen, ['GET /api/v1/namespaces/ns/pods/p']);
  } finally {
    api.close();
  }
});

test('every request says who sends it, and every create and patch names the field manager', async () => {
  const seen: { line: string; agent: string | undefined }[] = [];
  const api = await listen((req, res) => {
    seen.push({ line: `${req.method} ${req.url}`, agent: req.headers['user-agent'] });
    req.resume();
    req.on('end', () => {
      res.statusCode = req.method === 'POST' ? 201 : 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p', namespace: 'ns' } }));
    });
  });
  try {
    const cluster = await connectCluster(kubeconfig(api.url), 5000);
    await cluster.create('Pod', 'ns', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } });
    await cluster.patch('Pod', 'ns', 'p', { metadata: { labels: { a: 'b' } } });
    await cluster.delete('Pod', 'ns', 'p');
    await cluster.get('Pod', 'ns', 'p');
    const version = (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
    assert.is(USER_AGENT, `restore-guard/${version}`);
    assert.is(FIELD_MANAGER, 'restore-guard');
    assert.equal(
      seen.map((s) => s.line),
      [
        'POST /api/v1/namespaces/ns/pods?fieldManager=restore-guard',
        'PATCH /api/v1/namespaces/ns/pods/p?fieldManager=restore-guard',
        'DELETE /api/v1/namespaces/ns/pods/p',
        'GET /api/v1/namespaces/ns/pods/p',
      ],
    );
    for (const s of seen) assert.is(s.agent, USER_AGENT, s.line);
  } finally {
    api.close();
  }
});

test.run();
