/**
 * The parts of a production-like topology on the rig that the chaos suite and the scale bench
 * (test/bench/scale.ts) share: extra KWOK nodes, a replica's environment, the resync ping.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { type Kube, nodeObject } from '../rig/index.ts';
import { PING_SOURCE, podNodeOptions } from '../support/chain.ts';

/**
 * Adds KWOK nodes `<prefix>-node-<i+1>` for i in [from, to) (the run's own: runs at the same time
 * keep theirs), schedulable at once. Returns their names, for deleting them afterwards.
 */
export async function addKwokNodes(kube: Kube, prefix: string, from: number, to: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = from; i < to; i++) {
    const name = `${prefix}-node-${i + 1}`;
    names.push(name);
    await kube.create('/api/v1/nodes', nodeObject(name, i));
    const node = await kube.get(`/api/v1/nodes/${name}`);
    if (node.spec?.taints?.length) await kube.patch(`/api/v1/nodes/${name}`, { spec: { taints: null } });
  }
  return names;
}

/** The environment of a replica process that stands for one of restore-guard's pods on the rig. */
export function replicaEnv(
  kubeconfig: string,
  namespace: string,
  settings: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    KUBECONFIG: kubeconfig,
    RG_NAMESPACES: namespace,
    // The front plays Knative's Broker without its OIDC tokens (test/integration/auth.test.ts tests RG_AUTH=oidc).
    RG_AUTH: 'none',
    // The pod's heap ceiling (func.yaml): the memory figure is the pod's, not an unlimited heap's.
    ...podNodeOptions(),
    ...settings,
  };
}

/** The pod's memory limit (func.yaml deploy.options.resources.limits.memory, e.g. 256Mi), in kB. */
export function podMemoryLimitKb(): number {
  const doc = parse(fs.readFileSync(path.resolve(import.meta.dirname, '..', '..', 'func.yaml'), 'utf8')) as {
    deploy?: { options?: { resources?: { limits?: { memory?: string } } } };
  };
  const v = String(doc.deploy?.options?.resources?.limits?.memory ?? '');
  const m = /^(\d+)(Mi|Gi)$/.exec(v);
  if (!m) throw new Error(`func.yaml: limits.memory ${JSON.stringify(v)} is not <n>Mi or <n>Gi`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 * 1024 : 1024);
}

/** The resync ping, as eventing/pingsource.yaml's PingSource sends it. */
export function resyncPing(): CloudEvent {
  return {
    specversion: '1.0',
    id: randomUUID(),
    type: 'dev.knative.sources.ping',
    source: PING_SOURCE,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { reason: 'resync' },
  };
}
