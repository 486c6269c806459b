/**
 * Sender authentication (README, Security): every event must carry a bearer token that the cluster's
 * ServiceAccount issuer signed for restore-guard's audience, from an allowed subject. With Knative
 * Eventing's OIDC feature on, each Trigger delivers with a token of its own identity
 * (<trigger>-oidc-eventing.knative.dev-trigger) for the audience its `subscriber.audience` names.
 *
 * Verified here, from the issuer's public keys (the API server's /openid/v1/jwks, readable by every
 * ServiceAccount through the default system:service-account-issuer-discovery binding), not with a
 * TokenReview per event: it asks for no extra verb (a TokenReview needs `create tokenreviews`
 * cluster-wide, which would also let this identity test any token it gets hold of), costs no API
 * call on the hot path, and is what Knative's own receivers do. What it gives up: a bound token of a
 * deleted pod stays valid until it expires (Knative's tokens live about an hour).
 *
 * Fail closed: no token, a bad one or an unknown subject is refused (401/403, never redelivered), and
 * keys that cannot be read are a 503 (redelivered). Refusing events never blocks a restore: anchors
 * are leases, so without restore-guard scheduling falls back to plain (README, Guarantees).
 */
import type { MiddlewareHandler } from 'hono';
import { decode, verifyWithJwks } from 'hono/jwt';
import type { HonoJsonWebKey } from 'hono/utils/jwt/jws';
import { AuthUnavailableError, ForbiddenSenderError, UnauthenticatedError, isRestoreGuardError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** The issuer's name and its current public keys (a JWKS). */
export interface IssuerKeys {
  issuer: string;
  keys: HonoJsonWebKey[];
}

export interface AuthOptions {
  /** The token's `aud` must hold this. */
  audience: string;
  /** The token's `iss` must be this; empty: the issuer the key source names (the API server's own). */
  issuer: string;
  /** Allowed `sub` patterns; '*' matches any run of characters. */
  subjects: string[];
  /** Reads the issuer and its keys (the API server's OIDC discovery document and JWKS). */
  fetchKeys: () => Promise<IssuerKeys>;
  log: Logger;
  /** Wall clock in ms (tokens carry wall-clock times). */
  now?: () => number;
  /** Keys are read again after this (key rotation). Default 10 minutes. */
  refreshMs?: number;
  /** An unknown key id makes a fresh read at most this often. Default 30 s. */
  refetchMs?: number;
}

/** Who sent an event, once verified. */
export interface Sender {
  subject: string;
}

/** Asymmetric algorithms a Kubernetes ServiceAccount issuer signs with (RSA or ECDSA keys). */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'] as const;
/** Clock skew allowed between the issuer and this process for `iat` and `nbf`. */
const SKEW_S = 60;

/** A subject pattern as a whole-string match: '*' is any run of characters, the rest is literal. */
export function subjectMatcher(patterns: string[]): (sub: string) => boolean {
  const res = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .split('*')
          .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
      ),
  );
  return (sub) => res.some((r) => r.test(sub));
}

export function createAuthenticator(opts: AuthOptions) {
  const now = opts.now ?? Date.now;
  const refreshMs = opts.refreshMs ?? 10 * 60_000;
  const refetchMs = opts.refetchMs ?? 30_000;
  const allowed = subjectMatcher(opts.subjects);
  let cached: { at: number; value: IssuerKeys } | null = null;
  let reading: Promise<IssuerKeys> | null = null;

  const read = (): Promise<IssuerKeys> => {
    reading ??= opts
      .fetchKeys()
      .then((value) => {
        cached = { at: now(), value };
        opts.log.info('sender keys read', { issuer: value.issuer, keys: value.keys.map((k) => k.kid ?? '?') });
        return value;
      })
      .catch((e: unknown) => {
        throw new AuthUnavailableError(`cannot read the token issuer's keys: ${(e as Error).message}`, {
          hint: 'the API server must be reachable and serve /openid/v1/jwks to this ServiceAccount (system:service-account-issuer-discovery); the event is redelivered',
          cause: e,
        });
      })
      .finally(() => {
        reading = null;
      });
    return reading;
  };

  const keysFor = async (kid: string | undefined): Promise<IssuerKeys> => {
    const c = cached;
    if (!c || now() - c.at > refreshMs) return read();
    // A key we do not know yet (the issuer rotated): read again, but not on every forged token.
    if (kid && !c.value.keys.some((k) => k.kid === kid) && now() - c.at > refetchMs) return read();
    return c.value;
  };

  /** Verifies an Authorization header; throws UnauthenticatedError, ForbiddenSenderError or AuthUnavailableError. */
  async function verify(authorization: string | undefined): Promise<Sender> {
    const m = /^Bearer[ ]+([A-Za-z0-9_.-]+)$/i.exec(authorization?.trim() ?? '');
    if (!m) {
      throw new UnauthenticatedError(
        authorization ? 'the Authorization header is not a bearer token' : 'no bearer token',
        {
          hint: "enable Knative Eventing's authentication-oidc feature (the Triggers then send a token for restore-guard's audience), or set RG_AUTH=none to take unauthenticated events",
        },
      );
    }
    const token = m[1]!;
    let kid: string | undefined;
    try {
      kid = (decode(token).header as { kid?: string }).kid;
    } catch {
      throw new UnauthenticatedError('the bearer token is not a JWT', {
        hint: 'send a ServiceAccount token from the TokenRequest API',
      });
    }
    const { issuer, keys } = await keysFor(kid);
    const iss = opts.issuer || issuer;
    let payload: Record<string, unknown>;
    try {
      payload = (await verifyWithJwks(token, {
        keys,
        allowedAlgorithms: ALGORITHMS,
        // iat and nbf are checked below with a small allowance for clock skew.
        verification: { iss, aud: opts.audience, exp: true, nbf: false, iat: false },
      })) as Record<string, unknown>;
    } catch (e) {
      // Hono's JWT errors quote the token: it never goes into an answer or a log line.
      const why = (e as Error).message.split(token).join('<token>');
      throw new UnauthenticatedError(`the bearer token was refused: ${why}`, {
        hint: `the token must be signed by ${iss} for the audience ${opts.audience} (RG_AUTH_AUDIENCE; each Trigger's subscriber.audience in eventing/triggers.yaml) and not expired`,
      });
    }
    const t = now() / 1000;
    if (typeof payload.exp !== 'number')
      throw new UnauthenticatedError('the bearer token has no expiry', {
        hint: 'send a ServiceAccount token from the TokenRequest API (they always expire)',
      });
    for (const claim of ['iat', 'nbf'] as const) {
      const v = payload[claim];
      if (v !== undefined && (typeof v !== 'number' || v > t + SKEW_S))
        throw new UnauthenticatedError(`the bearer token's ${claim} is in the future`, {
          hint: "check the clocks of this node and the API server's",
        });
    }
    const subject = typeof payload.sub === 'string' ? payload.sub : '';
    if (!allowed(subject)) {
      throw new ForbiddenSenderError(`sender ${JSON.stringify(subject)} may not send events to restore-guard`, {
        hint: `allowed: ${opts.subjects.join(', ')} (RG_AUTH_SUBJECTS)`,
      });
    }
    return { subject };
  }

  return { verify };
}
export type Authenticator = ReturnType<typeof createAuthenticator>;

/**
 * The middleware on every route that takes events: the token is checked before the body is read, so
 * an unauthenticated sender costs no body, no parse and no handler. Refusals are logged (never the
 * token) and answered with the contract's JSON.
 */
export function authenticate(
  auth: Authenticator,
  log: Logger,
  onRefused?: (path: string, code: string) => void,
): MiddlewareHandler {
  return async (c, next) => {
    try {
      await auth.verify(c.req.header('authorization'));
    } catch (e) {
      if (!isRestoreGuardError(e)) throw e;
      onRefused?.(c.req.path, e.code);
      log[e.status >= 500 ? 'error' : 'warn']('sender refused', {
        path: c.req.path,
        status: e.status,
        error: e.message,
        hint: e.hint,
      });
      return c.json(e.toJSON(), e.status as 401);
    }
    await next();
  };
}
