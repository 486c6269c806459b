import type { Cluster } from './cluster.ts';
import { isRestoreGuardError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { Logger } from '../log.ts';

/** Counts every call by verb, kind and result code (and logs each at debug level, when a logger is given). */
export function instrumented(inner: Cluster, metrics: Metrics, log?: Logger): Cluster {
  const wrap =
    <A extends unknown[], R>(verb: string, kind: (a: A) => string, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const note = (code: string) => {
        metrics.kubeCalls.inc({ verb, kind: kind(a), code });
        log?.debug('api request', { verb, kind: kind(a), name: typeof a[2] === 'string' ? a[2] : undefined, code });
      };
      try {
        const r = await fn(...a);
        note(r === null || r === false ? 'not_found' : 'ok');
        return r;
      } catch (e) {
        note(isRestoreGuardError(e) ? e.code : 'error');
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
