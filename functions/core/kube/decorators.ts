import type { Cluster, Kind } from './cluster.ts';
import { mergePatch } from './cluster.ts';
import { KB, keys } from '../config.ts';
import { RefusedWriteError, isRestoreGuardError } from '../errors.ts';
import type { Job, KubeObject, Pod } from './objects.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Selector } from '../restore/selection.ts';

/**
 * The write guard (design §3): every write checks again, on the live object, that its target is a
 * selected restore object or one of our anchors, and that a patch touches only our labels and
 * annotations (and KubeBlocks' stop annotation). Anything else is refused, logged and counted.
 */
export function guarded(inner: Cluster, selector: Selector, domain: string, log: Logger, metrics?: Metrics): Cluster {
  const k = keys(domain);
  const refuse = (verb: string, kind: Kind, ns: string, name: string, why: string): never => {
    metrics?.refused.inc({ verb, kind });
    log.warn('write refused', { verb, kind, namespace: ns, name, why });
    throw new RefusedWriteError(`refused to ${verb} ${kind} ${ns}/${name}: ${why}`, {
      hint: 'restore-guard only writes restore Pods/Jobs of a selected profile, their PVCs and its own anchors',
    });
  };
  const isOurs = (kind: Kind, o: KubeObject): boolean => {
    if (kind === 'Pod') return selector.isAnchor(o) || selector.selectPod(o as unknown as Pod) !== null;
    if (kind === 'Job') return selector.selectJob(o as unknown as Job) !== null;
    return false;
  };
  const metaOnly = (patch: Record<string, unknown>, kind: Kind): string | null => {
    const extra = Object.keys(patch).filter((x) => x !== 'metadata');
    if (extra.length) return `patch touches ${extra.join(', ')}`;
    const meta = (patch.metadata ?? {}) as Record<string, unknown>;
    // resourceVersion is a precondition (optimistic concurrency), not a change.
    const metaExtra = Object.keys(meta).filter((x) => x !== 'labels' && x !== 'annotations' && x !== 'resourceVersion');
    if (metaExtra.length) return `patch touches metadata.${metaExtra.join(', metadata.')}`;
    const allowed = (key: string) => key.startsWith(`${domain}/`) || (kind === 'Pod' && key === KB.stop);
    for (const field of ['labels', 'annotations'] as const) {
      const bad = Object.keys((meta[field] ?? {}) as object).filter((x) => !allowed(x));
      if (bad.length) return `patch touches ${field} ${bad.join(', ')}`;
    }
    return null;
  };

  return {
    get: (...a) => inner.get(...a),
    list: (...a) => inner.list(...a),
    logs: (...a) => inner.logs(...a),
    async create(kind, ns, obj) {
      if (kind === 'Pod') {
        const forPod = obj.metadata.labels?.[k.anchorFor];
        if (!forPod || !obj.metadata.labels?.[k.group]) refuse('create', kind, ns, obj.metadata.name, 'only anchor pods may be created');
        const restorePod = await inner.get('Pod', ns, forPod!);
        if (!restorePod || selector.selectPod(restorePod as unknown as Pod) === null) {
          refuse('create', kind, ns, obj.metadata.name, `anchor for ${forPod}, which is not a selected restore pod`);
        }
      }
      if (kind === 'Job' && !(isOurs('Job', obj) && obj.metadata.annotations?.[k.retryOf])) {
        refuse('create', kind, ns, obj.metadata.name, 'only retries of selected restore Jobs may be created');
      }
      if (kind === 'Event') {
        const inv = (obj as { involvedObject?: { kind?: Kind; name?: string } }).involvedObject;
        const target = inv?.kind && inv.name ? await inner.get(inv.kind, ns, inv.name) : null;
        if (!target || !isOurs(inv!.kind!, target)) refuse('create', kind, ns, obj.metadata.name, 'event about an object that is not a restore object');
      }
      if (kind === 'PersistentVolumeClaim' || kind === 'Restore') refuse('create', kind, ns, obj.metadata.name, 'never created');
      return inner.create(kind, ns, obj);
    },
    async patch(kind, ns, name, patch) {
      const why = metaOnly(patch, kind);
      if (why) refuse('patch', kind, ns, name, why);
      if (kind === 'Pod' || kind === 'Job') {
        const live = await inner.get(kind, ns, name);
        if (!live) return null;
        if (!isOurs(kind, live)) refuse('patch', kind, ns, name, 'not a selected restore object');
      } else if (kind !== 'PersistentVolumeClaim') refuse('patch', kind, ns, name, 'never patched');
      return inner.patch(kind, ns, name, patch);
    },
    async delete(kind, ns, name, opts = {}) {
      if (kind !== 'Pod' && kind !== 'Job') refuse('delete', kind, ns, name, 'never deleted');
      const live = await inner.get(kind, ns, name);
      if (!live) return false;
      if (!isOurs(kind, live)) refuse('delete', kind, ns, name, 'not a selected restore object or anchor');
      return inner.delete(kind, ns, name, { ...opts, uid: opts.uid ?? live.metadata.uid });
    },
  };
}

/** Dry-run: reads pass through; writes are logged as what would be done, and never sent. */
export function dryRun(inner: Cluster, log: Logger, record?: (w: { verb: string; kind: Kind; namespace: string; name: string; body: unknown }) => void): Cluster {
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

/** Counts every call by verb, kind and result code. */
export function instrumented(inner: Cluster, metrics: Metrics): Cluster {
  const wrap = <A extends unknown[], R>(verb: string, kind: (a: A) => string, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        const r = await fn(...a);
        metrics.kubeCalls.inc({ verb, kind: kind(a), code: r === null || r === false ? 'not_found' : 'ok' });
        return r;
      } catch (e) {
        metrics.kubeCalls.inc({ verb, kind: kind(a), code: isRestoreGuardError(e) ? e.code : 'error' });
        throw e;
      }
    };
  const first = (a: unknown[]) => String(a[0]);
  return {
    get: wrap('get', first, inner.get.bind(inner)),
    list: wrap('list', first, inner.list.bind(inner)),
    create: wrap('create', first, inner.create.bind(inner)),
    patch: wrap('patch', first, inner.patch.bind(inner)),
    delete: wrap('delete', first, inner.delete.bind(inner)),
    logs: wrap('logs', () => 'Pod', inner.logs.bind(inner)),
  };
}
