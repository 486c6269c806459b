import * as http from 'node:http';
import * as https from 'node:https';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, DeleteOptions, Kind, LogOptions } from './cluster.ts';
import { RESOURCES, guardedJsonPatch } from './cluster.ts';
import { BUILD } from '../build-info.ts';
import { ClusterRequestError, ClusterUnavailableError, TransientClusterError } from '../errors.ts';
import type { KubeObject } from './objects.ts';

/**
 * Who writes, for managedFields and audit logs: every request carries User-Agent
 * `restore-guard/<version>`, and every create and patch names this field manager (`?fieldManager=`),
 * so `kubectl get -o yaml --show-managed-fields` says which labels and annotations are ours.
 */
export const FIELD_MANAGER = 'restore-guard';
export const USER_AGENT = `restore-guard/${BUILD.version}`;

/**
 * The real cluster: the API server's REST interface over node:https, with authentication and TLS
 * from @kubernetes/client-node's KubeConfig (in-cluster config, else KUBECONFIG / ~/.kube/config,
 * exec and token plugins included). Only this module loads the Kubernetes client, and the server
 * loads it lazily, so the fast path never pays for it.
 */
export async function connectCluster(kubeconfigPath?: string, timeoutMs = 10_000): Promise<Cluster> {
  const { request } = await connectApiServer(kubeconfigPath, timeoutMs);
  return clusterOver(request);
}

/** One request to the API server: status and body text. Unreachable is a TransientClusterError. */
export type ApiRequest = (
  method: string,
  path: string,
  body?: unknown,
  contentType?: string,
  accept?: string,
) => Promise<{ status: number; text: string }>;

/**
 * The API server's REST interface as the kubeconfig (or the pod's ServiceAccount) sees it: also used
 * to read the ServiceAccount issuer's keys (core/http/auth.ts verifies senders' tokens with them).
 */
export async function connectApiServer(
  kubeconfigPath?: string,
  timeoutMs = 10_000,
): Promise<{ request: ApiRequest; server: URL }> {
  const kc = new KubeConfig();
  try {
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else if (existsSync(join(homedir(), '.kube', 'config'))) kc.loadFromFile(join(homedir(), '.kube', 'config'));
    else throw new Error('no KUBECONFIG, no ~/.kube/config and not running in a cluster');
  } catch (e) {
    throw new ClusterUnavailableError(`cannot load Kubernetes configuration: ${(e as Error).message}`, {
      hint: 'run in a cluster with a ServiceAccount, or set KUBECONFIG to a readable kubeconfig',
    });
  }
  const current = kc.getCurrentCluster();
  if (!current) {
    throw new ClusterUnavailableError('no current cluster in the Kubernetes configuration', {
      hint: 'set KUBECONFIG to a kubeconfig with a current-context, or run in a cluster',
    });
  }
  const server = new URL(current.server);
  const proxied = !!current.proxyUrl;
  const secure = server.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 32 })
    : new http.Agent({ keepAlive: true, maxSockets: 32 });

  async function request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    accept = 'application/json',
  ): Promise<{ status: number; text: string }> {
    const opts: https.RequestOptions = {
      method,
      host: server.hostname,
      port: server.port || (secure ? 443 : 80),
      path,
      headers: { accept, 'user-agent': USER_AGENT } as Record<string, string>,
      agent,
      timeout: timeoutMs,
    };
    await kc.applyToHTTPSOptions(opts);
    // Our pooled keep-alive agent, unless the kubeconfig names a proxy (proxy-url: HTTP, HTTPS or
    // SOCKS): only the library's agent goes through it, and it caches that agent per cluster.
    // applyToHTTPSOptions sets the TLS material on opts itself either way.
    if (!proxied) opts.agent = agent;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      const h = opts.headers as Record<string, string>;
      h['content-type'] = contentType;
      // Node sends a DELETE body neither chunked nor with a length unless told: the API server then
      // ignores it (DeleteOptions, the uid precondition) and reads it as the next request on the socket.
      h['content-length'] = String(Buffer.byteLength(payload));
    }
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', (e) =>
        reject(
          new TransientClusterError(`API server ${server.host} unreachable: ${e.message}`, {
            hint: 'check that the API server is up and reachable from here; the event will be redelivered',
            cause: e,
          }),
        ),
      );
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  return { request, server };
}

/** A 422 that names what is invalid (a validation error, with field causes), not a patch that did not apply. */
function patchInvalid(text: string): boolean {
  try {
    const causes = (JSON.parse(text) as { details?: { causes?: unknown[] } }).details?.causes;
    return Array.isArray(causes) && causes.length > 0;
  } catch {
    return true;
  }
}

function clusterOver(request: ApiRequest): Cluster {
  const fail = (verb: string, what: string, r: { status: number; text: string }): never => {
    let message = r.text.slice(0, 500);
    try {
      message = (JSON.parse(r.text) as { message?: string }).message ?? message;
    } catch {
      /* not JSON */
    }
    const text = `${verb} ${what}: API server answered ${r.status}: ${message}`;
    if (r.status === 429 || r.status >= 500 || r.status === 409) {
      throw new TransientClusterError(text, {
        hint: 'transient; the event will be redelivered',
        details: { status: r.status },
      });
    }
    throw new ClusterRequestError(text, {
      hint:
        r.status === 403
          ? "grant the functions' ServiceAccount this verb (eventing/rbac.yaml)"
          : 'see the message from the API server',
      details: { status: r.status },
    });
  };

  const WRITE_QUERY = new URLSearchParams({ fieldManager: FIELD_MANAGER }).toString();
  const base = (kind: Kind, namespace: string | null): string => {
    const r = RESOURCES[kind];
    const prefix = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
    return namespace ? `${prefix}/namespaces/${encodeURIComponent(namespace)}/${r.plural}` : `${prefix}/${r.plural}`;
  };
  const withKind = (kind: Kind, o: KubeObject): KubeObject => {
    const r = RESOURCES[kind];
    return { ...o, apiVersion: o.apiVersion ?? (r.group ? `${r.group}/${r.version}` : r.version), kind };
  };

  const api: Cluster = {
    async get(kind, namespace, name) {
      const r = await request('GET', `${base(kind, namespace)}/${encodeURIComponent(name)}`);
      if (r.status === 404) return null;
      if (r.status !== 200) fail('get', `${kind} ${namespace}/${name}`, r);
      return withKind(kind, JSON.parse(r.text) as KubeObject);
    },
    async list(kind, namespace, labelSelector) {
      const items: KubeObject[] = [];
      let cont = '';
      do {
        const q = new URLSearchParams({ labelSelector, limit: '500', ...(cont ? { continue: cont } : {}) });
        const r = await request('GET', `${base(kind, namespace)}?${q}`);
        if (r.status === 404) return items; // the kind is not installed (e.g. no KubeBlocks CRDs)
        if (r.status !== 200) fail('list', `${kind} ${labelSelector}`, r);
        const body = JSON.parse(r.text) as { items: KubeObject[]; metadata?: { continue?: string } };
        items.push(...body.items.map((o) => withKind(kind, o)));
        cont = body.metadata?.continue ?? '';
      } while (cont);
      return items;
    },
    async create(kind, namespace, obj) {
      const r = await request('POST', `${base(kind, namespace)}?${WRITE_QUERY}`, obj);
      if (r.status === 200 || r.status === 201)
        return { created: true, object: withKind(kind, JSON.parse(r.text) as KubeObject) };
      if (r.status === 409) {
        // AlreadyExists: done before. Gone again by the time we look: still done, by someone else.
        const existing = await api.get(kind, namespace, obj.metadata.name);
        return { created: false, object: existing ?? obj };
      }
      return fail('create', `${kind} ${namespace}/${obj.metadata.name}`, r);
    },
    async patch(kind, namespace, name, patch, opts) {
      const guarded = opts?.unchanged ? guardedJsonPatch(patch, opts.unchanged) : null;
      const r = await request(
        'PATCH',
        `${base(kind, namespace)}/${encodeURIComponent(name)}?${WRITE_QUERY}`,
        guarded ?? patch,
        guarded ? 'application/json-patch+json' : 'application/merge-patch+json',
      );
      if (r.status === 404) return null;
      // A failed `test` (a key moved on, or a map appeared) is a conflict, as a failed resourceVersion
      // precondition is. kube-apiserver answers a JSON Patch that does not apply with a bare 422
      // (no field causes, unlike a validation error), and ours has only tests and adds of paths
      // that existed when read: only a test can fail to apply.
      if (guarded && r.status === 422 && !patchInvalid(r.text))
        fail('patch', `${kind} ${namespace}/${name}`, {
          status: 409,
          text: `a tested label or annotation moved on: ${r.text}`,
        });
      if (r.status !== 200) fail('patch', `${kind} ${namespace}/${name}`, r);
      return withKind(kind, JSON.parse(r.text) as KubeObject);
    },
    async delete(kind, namespace, name, opts: DeleteOptions = {}) {
      const body = {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        ...(opts.propagation ? { propagationPolicy: opts.propagation } : {}),
      };
      const r = await request('DELETE', `${base(kind, namespace)}/${encodeURIComponent(name)}`, body);
      if (r.status === 404) return false;
      if (r.status === 409 && opts.uid) return false; // a successor with the same name: not ours to delete
      if (r.status !== 200 && r.status !== 202) fail('delete', `${kind} ${namespace}/${name}`, r);
      return true;
    },
    async logs(namespace, pod, container, opts: LogOptions) {
      const q = new URLSearchParams({
        container,
        tailLines: String(opts.tailLines),
        limitBytes: String(opts.limitBytes),
      });
      const r = await request('GET', `${base('Pod', namespace)}/${encodeURIComponent(pod)}/log?${q}`);
      if (r.status === 404 || r.status === 400) return null; // gone, or the container never started
      if (r.status !== 200) fail('logs', `${namespace}/${pod}/${container}`, r);
      return r.text;
    },
  };
  return api;
}
