import type { KubeObject } from './objects.ts';

/** The kinds restore-guard reads or writes, with where they live in the API. */
export const RESOURCES = {
  Pod: { group: '', version: 'v1', plural: 'pods' },
  Job: { group: 'batch', version: 'v1', plural: 'jobs' },
  PersistentVolumeClaim: { group: '', version: 'v1', plural: 'persistentvolumeclaims' },
  Event: { group: '', version: 'v1', plural: 'events' },
  Restore: { group: 'dataprotection.kubeblocks.io', version: 'v1alpha1', plural: 'restores' },
  LimitRange: { group: '', version: 'v1', plural: 'limitranges' },
} as const;
export type Kind = keyof typeof RESOURCES;

export interface WriteOptions {
  /**
   * Objects the caller has just read from the API server (never from an event): a wrapper that
   * checks a write against live objects (the write guard) uses them instead of reading them again
   * (the same freshness: a read, then the write). Implementations that talk to the API server
   * ignore it.
   */
  witness?: readonly KubeObject[];
}

export interface DeleteOptions extends WriteOptions {
  /** Precondition: delete only the object with this uid (never a successor with the same name). */
  uid?: string;
  propagation?: 'Background' | 'Foreground' | 'Orphan';
}

export interface LogOptions {
  tailLines: number;
  limitBytes: number;
}

/**
 * The one narrow interface every function talks to the API server through. Implementations: the
 * real one (kube-cluster.ts), an in-memory one with API-server semantics for what we use
 * (memory-cluster.ts; tests and offline replay), and wrappers (guard, dry-run, metrics).
 * Not-found is a value, not an error; transient trouble throws TransientClusterError.
 */
export interface Cluster {
  get(kind: Kind, namespace: string, name: string): Promise<KubeObject | null>;
  list(kind: Kind, namespace: string | null, labelSelector: string): Promise<KubeObject[]>;
  /** AlreadyExists is success: `created` is false and `object` is the existing one. */
  create(
    kind: Kind,
    namespace: string,
    obj: KubeObject,
    opts?: WriteOptions,
  ): Promise<{ created: boolean; object: KubeObject }>;
  /** JSON merge patch (RFC 7386). Null when the object is gone. */
  patch(
    kind: Kind,
    namespace: string,
    name: string,
    patch: Record<string, unknown>,
    opts?: WriteOptions,
  ): Promise<KubeObject | null>;
  /** False when there was nothing to delete (gone, or a different uid). */
  delete(kind: Kind, namespace: string, name: string, opts?: DeleteOptions): Promise<boolean>;
  logs(namespace: string, pod: string, container: string, opts: LogOptions): Promise<string | null>;
}

/**
 * The verbs each method needs, per resource; the RBAC test holds eventing/rbac.yaml to this.
 * `create` needs `get` too: AlreadyExists is success, and the existing object is read back.
 */
export const VERBS: Record<keyof Cluster, string[]> = {
  get: ['get'],
  list: ['list'],
  create: ['create', 'get'],
  patch: ['patch'],
  delete: ['delete'],
  logs: ['get'],
};

/** RFC 7386 merge patch, applied to a plain JSON value. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Minimal label selector matching: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`. */
export function matchesSelector(labels: Record<string, string> | null | undefined, selector: string): boolean {
  const l = labels ?? {};
  for (const raw of splitSelector(selector)) {
    const term = raw.trim();
    if (!term) continue;
    const set = term.match(/^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/);
    const ne = set ? null : term.match(/^([^\s!=]+)\s*!=\s*(.*)$/);
    const eq = set || ne ? null : term.match(/^([^\s!=]+)\s*==?\s*(.*)$/);
    if (set) {
      const m = set;
      const vals = m[3]!.split(',').map((s) => s.trim());
      const has = m[1]! in l && vals.includes(l[m[1]!]!);
      if (m[2] === 'in' ? !has : has) return false;
    } else if (ne) {
      if (l[ne[1]!] === ne[2]) return false;
    } else if (eq) {
      if (l[eq[1]!] !== eq[2]) return false;
    } else if (term.startsWith('!')) {
      if (term.slice(1) in l) return false;
    } else if (!(term in l)) return false;
  }
  return true;
}

function splitSelector(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}
