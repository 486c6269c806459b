// The rig's API for tests. See test/rig/README.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { KUBECONFIG_DIR } from './paths.ts';
import { build, down, info, isUp, missingBinaries, readState, up, type RigInfo } from './rig.ts';
export { AUDIT_LOG, nodeObject, readState, restartApiServer } from './rig.ts';
import { ensurePki, tokenKubeconfig } from './pki.ts';
import { Kube, waitFor } from './http.ts';

export { startAdapter, sourceConfig } from './adapter.ts';
export type { AdapterHandle, AdapterOptions, AdapterResource } from './adapter.ts';
export type { RigInfo } from './rig.ts';
export { NODE_NAMES, NODE_ALLOCATABLE, NODE_ZONES, CONTROLLERS } from './rig.ts';
export { Kube, waitFor, sleep, request } from './http.ts';

/** Pod annotations the rig's kwok stages act on (see test/rig/README.md). */
export const ANNOTATIONS = {
  runMs: 'rig.restoreguard.dev/run-ms',
  exitCode: 'rig.restoreguard.dev/exit-code',
  evict: 'rig.restoreguard.dev/evict',
  sidecar: 'rig.restoreguard.dev/sidecar',
  failOnNodes: 'rig.restoreguard.dev/fail-on-nodes',
  finishAt: 'rig.restoreguard.dev/finish-at',
  stopRestoreManager: 'dataprotection.kubeblocks.io/stop-restore-manager',
} as const;

/**
 * Builds the binaries if needed, starts the rig if it is not up, waits until it is healthy.
 * Reuses a rig that is already up (from `npm run rig:up` or an earlier test file).
 */
export async function ensureRig(): Promise<RigInfo> {
  const state = readState();
  if (state && (await isUp())) return info(state);
  build(); // verifies binaries and version stamps; well under a second when cached
  if (missingBinaries().length) throw new Error(`rig binaries missing after build: ${missingBinaries().join(', ')}`);
  const r = await up();
  return info(r.state);
}

/** Stops the rig's processes (no-op when it is not running). */
export async function stopRig(): Promise<void> {
  await down(true);
}

function adminKube(): Kube {
  const state = readState();
  if (!state) throw new Error('rig is not up (call ensureRig() first)');
  return info(state).kube;
}

/**
 * Creates a namespace (name defaults to rig-<random>) and waits until its "default"
 * ServiceAccount exists (pods are rejected before that). Returns the name.
 */
export async function createNamespace(name?: string, labels: Record<string, string> = {}): Promise<string> {
  const kube = adminKube();
  const ns = name ?? `rig-${randomBytes(4).toString('hex')}`;
  await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } });
  await waitFor(
    `ServiceAccount ${ns}/default`,
    () => kube.find(`/api/v1/namespaces/${ns}/serviceaccounts/default`),
    30_000,
    100,
  );
  return ns;
}

/** Deletes a namespace (does not wait for it to be gone). */
export async function deleteNamespace(name: string): Promise<void> {
  await adminKube().del(`/api/v1/namespaces/${name}`);
}

export interface SaKubeconfigOptions {
  /** create the ServiceAccount when it does not exist (default true) */
  create?: boolean;
  /** token lifetime (default 86400) */
  expirationSeconds?: number;
}

/**
 * Gets a token for ServiceAccount ns/sa via the TokenRequest API and writes a kubeconfig that
 * authenticates as system:serviceaccount:ns:sa (RBAC for it is up to the caller).
 * Returns the kubeconfig's path (under .rig/run/kubeconfigs).
 */
export async function saKubeconfig(ns: string, sa: string, opts: SaKubeconfigOptions = {}): Promise<string> {
  const kube = adminKube();
  const state = readState();
  if (!state) throw new Error('rig is not up');
  if (opts.create ?? true) {
    await kube.create(`/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: sa, namespace: ns },
    });
  }
  const tr = await kube.post(`/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: opts.expirationSeconds ?? 86400 },
  });
  const token = tr?.status?.token as string | undefined;
  if (!token) throw new Error(`TokenRequest for ${ns}/${sa} returned no token`);
  fs.mkdirSync(KUBECONFIG_DIR, { recursive: true });
  const file = path.join(KUBECONFIG_DIR, `sa-${ns}-${sa}.yaml`);
  fs.writeFileSync(file, tokenKubeconfig(state.server, ensurePki(), `system:serviceaccount:${ns}:${sa}`, token), {
    mode: 0o600,
  });
  return file;
}

/** A REST client authenticating with the given ServiceAccount's token (see saKubeconfig). */
export async function saKube(
  ns: string,
  sa: string,
  opts: SaKubeconfigOptions = {},
): Promise<{ kube: Kube; kubeconfig: string }> {
  const kubeconfig = await saKubeconfig(ns, sa, opts);
  const token = /token: (\S+)/.exec(fs.readFileSync(kubeconfig, 'utf8'))?.[1];
  const state = readState();
  if (!state || !token) throw new Error('rig is not up');
  return { kube: new Kube(state.server, { ca: fs.readFileSync(state.caFile), token }), kubeconfig };
}
