import type { Cluster } from '../kube/cluster.ts';
import type { KubeObject } from '../kube/objects.ts';
import { stableHash } from '../kube/names.ts';
import type { Logger } from '../log.ts';

/** What a Kubernetes Event of restore-guard says. */
export interface KubeEventSpec {
  /** the object it is about (a restore Pod or Job, KubeBlocks' Restore), as read from the API server */
  about: KubeObject;
  namespace: string;
  reason: string;
  type: 'Normal' | 'Warning';
  message: string;
  /** the function that reports it (reportingComponent restoreguard.dev/<fn>) */
  fn: string;
  /** what makes it this Event: the same key gives the same name, so a repeat is AlreadyExists */
  key: (string | null | undefined)[];
  now: Date;
}

/** A deterministic Kubernetes Event: repeats collide on the name. Pure. */
export function kubeEvent(e: KubeEventSpec): KubeObject {
  const t = e.now.toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: `${e.about.metadata.name}.rg-${stableHash(e.reason, ...e.key.map((x) => x ?? ''))}`,
      namespace: e.namespace,
    },
    involvedObject: {
      apiVersion: e.about.apiVersion,
      kind: e.about.kind,
      name: e.about.metadata.name,
      namespace: e.namespace,
      uid: e.about.metadata.uid,
    },
    reason: e.reason,
    message: e.message.slice(0, 1024),
    type: e.type,
    source: { component: 'restore-guard' },
    reportingComponent: `restoreguard.dev/${e.fn}`,
    reportingInstance: 'restore-guard',
    firstTimestamp: t,
    lastTimestamp: t,
    count: 1,
  };
}

/**
 * Creates the Event, best effort: an Event tells a person what happened; the records on the objects
 * are what the chain relies on, so a refused or failed Event is logged, never the answer. Returns
 * the Event's name when this call created it.
 */
export async function tell(cluster: Cluster, log: Logger, e: KubeEventSpec): Promise<string | null> {
  try {
    const r = await cluster.create('Event', e.namespace, kubeEvent(e), { witness: [e.about] });
    return r.created ? r.object.metadata.name : null;
  } catch (err) {
    log.warn('event not created', {
      namespace: e.namespace,
      about: `${e.about.kind}/${e.about.metadata.name}`,
      reason: e.reason,
      error: (err as Error).message,
    });
    return null;
  }
}
