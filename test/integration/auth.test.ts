// Sender authentication on the real kube-apiserver (RG_AUTH=oidc): restore-guard, connected as its
// ServiceAccount, reads the ServiceAccount issuer's keys from the API server (no verb beyond
// eventing/rbac.yaml) and takes an event only with a real ServiceAccount token (TokenRequest API) for
// its audience from a Trigger's OIDC identity. Refused senders (no token, wrong audience, another
// ServiceAccount, a token of restore-guard's own identity, a forged token) get 401/403 and make no
// write: the same placement that anchors a restore pod with the right token anchors nothing with theirs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { generateKeyPairSync } from 'node:crypto';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { sign } from 'hono/jwt';
import { saKubeconfig } from '../rig/index.ts';
import { EVENTING_DIR, FUNCTIONS_SA, L, RG_NAMESPACE, applyRbac, startChain, waitFor } from '../support/chain.ts';
import type { Chain } from '../support/chain.ts';
import { loadConfig } from '../../functions/core/config.ts';
import type { IssuerKeys } from '../../functions/core/http/auth.ts';
import { memoryLogger } from '../../functions/core/log.ts';
import { connectApiServer, connectCluster } from '../../functions/core/kube/rest-cluster.ts';
import { readIssuerKeys } from '../../functions/core/kube/issuer.ts';
import { createServer } from '../../functions/server.ts';

const AUD = loadConfig({}).RG_AUTH_AUDIENCE;
const TRIGGER_SA = 'restore-guard-labeling-oidc-eventing.knative.dev-trigger';

let chain: Chain;
let http: ServerType;
let base: string;
const log = memoryLogger('debug');

/** A real ServiceAccount token from the TokenRequest API. */
async function tokenFor(ns: string, sa: string, audience: string): Promise<string> {
  await chain.kube.create(`/api/v1/namespaces/${ns}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: sa, namespace: ns },
  });
  const tr = await chain.kube.post(`/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { audiences: [audience], expirationSeconds: 600 },
  });
  return tr.status.token as string;
}

test.before(async () => {
  // The workload without restore-guard's own chain (no adapter): this test is the only sender.
  chain = await startChain({ mode: 'plain' });
  await applyRbac(chain.kube);
  const saConfig = await saKubeconfig(RG_NAMESPACE, FUNCTIONS_SA);
  const server = createServer({
    config: loadConfig({
      RG_AUTH: 'oidc',
      RG_NAMESPACES: chain.ns,
      RG_EVENTING_DIR: EVENTING_DIR,
      LOG_LEVEL: 'debug',
    }),
    log,
    connect: () => connectCluster(saConfig),
    // As functions/index.ts does it, as the functions' ServiceAccount.
    issuerKeys: async () => readIssuerKeys((await connectApiServer(saConfig)).request) as Promise<IssuerKeys>,
  });
  const port = await new Promise<number>((resolve) => {
    http = serve({ fetch: server.app.fetch, port: 0, hostname: '127.0.0.1' }, (i: AddressInfo) => resolve(i.port));
  });
  base = `http://127.0.0.1:${port}`;
});

test.after(async () => {
  http?.close();
  await chain?.teardown();
});

async function post(path: string, headers: Record<string, string>, body: string, token?: string) {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });
  return { status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() };
}

test('only a Trigger identity token for our audience gets an event handled; every other sender is refused and writes nothing', async () => {
  const right = await tokenFor(RG_NAMESPACE, TRIGGER_SA, AUD);
  const g = await chain.createRestoreGroup({ replicas: 1 });
  const pod = await waitFor('the restore pod runs', async () => {
    const [p] = await chain.pods(`${L.group}=${g.name},!${L.anchorFor}`);
    return p?.status?.phase === 'Running' ? p : undefined;
  });
  // What the ApiServerSource sent for its bind (bound, still Pending); completion (pure) answers 'placed'.
  const apiEvent = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    ...pod,
    status: { ...pod.status, phase: 'Pending' },
  });
  const apiHeaders = {
    'ce-specversion': '1.0',
    'ce-id': randomUUID(),
    'ce-type': 'dev.knative.apiserver.resource.update',
    'ce-source': 'https://127.0.0.1',
    'ce-subject': `/api/v1/namespaces/${chain.ns}/pods/${pod.metadata.name}`,
    'content-type': 'application/json',
  };
  assert.is((await post('/completion', apiHeaders, apiEvent)).status, 401, 'completion: no token');
  const placed = await post('/completion', apiHeaders, apiEvent, right);
  assert.is(placed.status, 200, placed.body);
  assert.is(placed.headers['ce-type'], 'dev.restoreguard.restore.placed');
  const ceHeaders = Object.fromEntries(
    Object.entries(placed.headers).filter(([k]) => k.startsWith('ce-') || k === 'content-type'),
  );

  const anchors = async () => (await chain.pods(`${L.anchorFor}`)).length;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const [, payload] = right.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
  const kid = JSON.parse(Buffer.from(right.split('.')[0]!, 'base64url').toString()).kid as string;
  const forged = await sign(
    claims,
    { ...(privateKey.export({ format: 'jwk' }) as object), kid, alg: 'RS256' } as never,
    'RS256',
  );
  const refused: [string, string | undefined, number][] = [
    ['no token', undefined, 401],
    [
      'a Trigger identity, audience of the API server',
      await tokenFor(RG_NAMESPACE, TRIGGER_SA, 'https://kubernetes.default.svc.cluster.local'),
      401,
    ],
    [
      'a Trigger identity, audience of another service',
      await tokenFor(RG_NAMESPACE, TRIGGER_SA, 'serving.knative.dev/service/db/app'),
      401,
    ],
    ['another ServiceAccount (the test namespace), our audience', await tokenFor(chain.ns, 'intruder', AUD), 403],
    ["restore-guard's own identity, our audience", await tokenFor(RG_NAMESPACE, FUNCTIONS_SA, AUD), 403],
    ['the source adapter identity, our audience', await tokenFor(RG_NAMESPACE, 'restore-guard-source', AUD), 403],
    ['a token with the right claims signed by another key', forged, 401],
  ];
  for (const [what, token, status] of refused) {
    const r = await post('/labeling', { ...ceHeaders, 'ce-id': randomUUID() }, placed.body, token);
    assert.is(r.status, status, `${what}: ${r.body}`);
  }
  assert.is(await anchors(), 0, 'no refused sender made an anchor');

  const ok = await post('/labeling', { ...ceHeaders, 'ce-id': randomUUID() }, placed.body, right);
  assert.ok(ok.status < 300, ok.body);
  await waitFor('the anchor', async () => (await anchors()) === 1);
  assert.ok(
    log.lines.some((l) => l.msg === 'sender keys read' && l.issuer === 'https://kubernetes.default.svc.cluster.local'),
    "the issuer is the API server's own, read as the functions' ServiceAccount",
  );
  assert.ok(
    log.lines.every((l) => !JSON.stringify(l).includes(right.slice(0, 40))),
    'no token is logged',
  );
});

test.run();
