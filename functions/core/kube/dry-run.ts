import type { Cluster, Kind } from './cluster.ts';
import { mergePatch } from './cluster.ts';
import type { KubeObject } from './objects.ts';
import type { Logger } from '../log.ts';

/** Dry-run: reads pass through; writes are logged as what would be done, and never sent. */
export function dryRun(
  inner: Cluster,
  log: Logger,
  record?: (w: { verb: string; kind: Kind; namespace: string; name: string; body: unknown }) => void,
): Cluster {
  const note = (verb: string, kind: Kind, namespace: string, name: string, body: unknown) => {
    log.info('dry-run: would write', { verb, kind, namespace, name, body });
    record?.({ verb, kind, namespace, name, body });
  };
  return {
    get: (...a) => inner.get(...a),
    list: (...a) => inner.list(...a),
    logs: (...a) => inner.logs(...a),
    async create(kind, ns, obj) {
      const existing = await inner.get(kind, ns, obj.metadata.name);
      if (existing) return { created: false, object: existing };
      note('create', kind, ns, obj.metadata.name, obj);
      return { created: true, object: obj };
    },
    async patch(kind, ns, name, patch) {
      const live = await inner.get(kind, ns, name);
      if (!live) return null;
      note('patch', kind, ns, name, patch);
      return mergePatch(live, patch) as KubeObject;
    },
    async delete(kind, ns, name, opts) {
      const live = await inner.get(kind, ns, name);
      if (!live) return false;
      note('delete', kind, ns, name, opts ?? {});
      return true;
    },
  };
}
