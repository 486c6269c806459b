/**
 * Sender authentication (core/http/auth.ts) on the app, with tokens signed by a key made here: each
 * refusal is answered before the function runs (its body is never read), keys are read once and
 * again on rotation, and keys that cannot be read fail closed with a redeliverable 503. The same on
 * the real kube-apiserver with real ServiceAccount tokens: test/integration/auth.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeyPairSync } from 'node:crypto';
import { sign } from 'hono/jwt';
import type { HonoJsonWebKey } from 'hono/utils/jwt/jws';
import { createApp } from '../../functions/core/http/app.ts';
import { authenticate, createAuthenticator, subjectMatcher } from '../../functions/core/http/auth.ts';
import type { IssuerKeys } from '../../functions/core/http/auth.ts';
import { memoryLogger } from '../../functions/core/log.ts';
import { createMetrics } from '../../functions/core/metrics.ts';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const AUD = 'serving.knative.dev/service/restore-guard/restore-guard';
const TRIGGER = 'system:serviceaccount:restore-guard:restore-guard-labeling-oidc-eventing.knative.dev-trigger';
const SUBJECTS = ['system:serviceaccount:restore-guard:restore-guard-*-oidc-eventing.knative.dev-trigger'];

function keyPair(kid: string) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = { ...(publicKey.export({ format: 'jwk' }) as object), kid, alg: 'RS256', use: 'sig' } as HonoJsonWebKey;
  const priv = { ...(privateKey.export({ format: 'jwk' }) as object), kid, alg: 'RS256' } as HonoJsonWebKey;
  return { pub, priv };
}
const k1 = keyPair('k1');
const k2 = keyPair('k2');

const now = () => Math.floor(Date.now() / 1000);
function token(claims: Record<string, unknown> = {}, key = k1.priv): Promise<string> {
  return sign(
    { iss: ISSUER, aud: [AUD], sub: TRIGGER, iat: now(), nbf: now(), exp: now() + 600, ...claims },
    key,
    'RS256',
  );
}

function setup(keys: () => Promise<IssuerKeys>) {
  const log = memoryLogger('debug');
  let ran = 0;
  let fetched = 0;
  const auth = createAuthenticator({
    audience: AUD,
    issuer: '',
    subjects: SUBJECTS,
    fetchKeys: () => {
      fetched++;
      return keys();
    },
    log,
    refetchMs: 0,
  });
  const app = createApp({
    functions: [
      {
        name: 'labeling',
        types: ['t'],
        handle: async () => {
          ran++;
          return null;
        },
      },
    ],
    deps: { log, metrics: createMetrics(), clock: () => new Date() },
    maxBodyBytes: 1 << 20,
    auth: authenticate(auth, log),
  });
  const post = async (authorization?: string) => {
    const res = await app.request('/labeling', {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'x',
        'ce-type': 't',
        'ce-source': 's',
        'content-type': 'application/json',
        ...(authorization ? { authorization } : {}),
      },
      body: '{}',
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as any };
  };
  return { post, ran: () => ran, fetched: () => fetched, log };
}

test('a token of an allowed subject for our audience is accepted; every other request is refused before the function runs', async () => {
  const s = setup(async () => ({ issuer: ISSUER, keys: [k1.pub] }));
  assert.is((await s.post(`Bearer ${await token()}`)).status, 202);
  assert.is(s.ran(), 1);
  const refused: [string, string | undefined, number][] = [
    ['no token', undefined, 401],
    ['not a bearer token', 'Basic dXNlcjpwYXNz', 401],
    ['not a JWT', 'Bearer abc', 401],
    ['wrong audience', `Bearer ${await token({ aud: ['https://kubernetes.default.svc.cluster.local'] })}`, 401],
    ['wrong issuer', `Bearer ${await token({ iss: 'https://evil.example' })}`, 401],
    ['expired', `Bearer ${await token({ exp: now() - 1 })}`, 401],
    ['no expiry', `Bearer ${await token({ exp: undefined })}`, 401],
    ['issued in the future', `Bearer ${await token({ iat: now() + 3600, nbf: now() + 3600 })}`, 401],
    ['signed by another key under our key id', `Bearer ${await token({}, { ...k2.priv, kid: 'k1' })}`, 401],
    ['another subject', `Bearer ${await token({ sub: 'system:serviceaccount:db:default' })}`, 403],
    [
      'the functions’ own identity',
      `Bearer ${await token({ sub: 'system:serviceaccount:restore-guard:restore-guard' })}`,
      403,
    ],
  ];
  for (const [what, header, status] of refused) {
    const r = await s.post(header);
    assert.is(r.status, status, what);
    assert.is(r.body.error, status === 401 ? 'unauthenticated' : 'forbidden_sender', what);
    assert.ok(r.body.hint, `${what}: the answer says what to do`);
  }
  assert.is(s.ran(), 1, 'no refused request reached the function');
  assert.ok(
    s.log.lines.every((l) => !JSON.stringify(l).includes('eyJ')),
    'no token is ever logged',
  );
});

test('keys are read once, and again when a token names a key id not seen yet (rotation)', async () => {
  let keys = [k1.pub];
  const s = setup(async () => ({ issuer: ISSUER, keys }));
  assert.is((await s.post(`Bearer ${await token()}`)).status, 202);
  assert.is((await s.post(`Bearer ${await token()}`)).status, 202);
  assert.is(s.fetched(), 1, 'cached');
  keys = [k1.pub, k2.pub];
  assert.is((await s.post(`Bearer ${await token({}, k2.priv)}`)).status, 202, 'the new key is read');
  assert.is(s.fetched(), 2);
});

test('keys that cannot be read fail closed: 503 (redelivered), nothing handled', async () => {
  const s = setup(async () => {
    throw new Error('connect ECONNREFUSED');
  });
  const r = await s.post(`Bearer ${await token()}`);
  assert.is(r.status, 503);
  assert.is(r.body.error, 'auth_unavailable');
  assert.is(s.ran(), 0);
});

test("subject patterns: '*' matches any run of characters, everything else is literal", () => {
  const m = subjectMatcher(SUBJECTS);
  assert.ok(m(TRIGGER));
  assert.not.ok(m('system:serviceaccount:restore-guard:restore-guard'));
  assert.not.ok(m('system:serviceaccount:other:restore-guard-x-oidc-eventing.knative.dev-trigger'));
  assert.not.ok(m(`${TRIGGER}x`));
  assert.not.ok(subjectMatcher(['a.b'])('axb'), 'a dot is a dot');
});

test.run();
