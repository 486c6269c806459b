import type { ApiRequest } from './rest-cluster.ts';

/** A JSON Web Key as the issuer publishes it (RFC 7517): only what verification reads is typed. */
export interface Jwk {
  kid?: string;
  kty: string;
  alg?: string;
  use?: string;
  [k: string]: unknown;
}

/**
 * The ServiceAccount token issuer of the cluster behind `request`: its name from the API server's
 * OIDC discovery document and its public keys from the API server's own JWKS path (the document's
 * jwks_uri names the issuer's external address, which need not be reachable from the pod).
 * Both paths are granted to every ServiceAccount by the default system:service-account-issuer-discovery binding.
 */
export async function readIssuerKeys(request: ApiRequest): Promise<{ issuer: string; keys: Jwk[] }> {
  const get = async (path: string, accept: string): Promise<Record<string, unknown>> => {
    const r = await request('GET', path, undefined, undefined, accept);
    if (r.status !== 200) throw new Error(`GET ${path}: API server answered ${r.status}: ${r.text.slice(0, 200)}`);
    return JSON.parse(r.text) as Record<string, unknown>;
  };
  const [discovery, jwks] = await Promise.all([
    get('/.well-known/openid-configuration', 'application/json'),
    // The API server serves the key set only as its own media type (406 for application/json).
    get('/openid/v1/jwks', 'application/jwk-set+json'),
  ]);
  if (typeof discovery.issuer !== 'string' || !discovery.issuer)
    throw new Error('the OIDC discovery document names no issuer');
  if (!Array.isArray(jwks.keys)) throw new Error('the JWKS has no keys');
  return { issuer: discovery.issuer, keys: jwks.keys as Jwk[] };
}
