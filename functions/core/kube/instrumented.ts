import type { Cluster } from './cluster.ts';
import { isRestoreGuardError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';

/** Counts every call by verb, kind and result code. */
export function instrumented(inner: Cluster, metrics: Metrics): Cluster {
  const wrap =
    <A extends unknown[], R>(verb: string, kind: (a: A) => string, fn: (...a: A) => Promise<R>) =>
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
