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

/**
 * A patch's precondition on exactly what it was computed from: these labels and annotations still
 * have the values they have in `of` (absent stays absent). Narrower than a resourceVersion
 * precondition, which every status update of a controller (the Job controller's, as a pod ends)
 * would break.
 */
export interface Unchanged {
  of: KubeObject;
  labels?: readonly string[];
  annotations?: readonly string[];
}

export interface PatchOptions extends WriteOptions {
  /** Apply only while these keys are unchanged; otherwise a 409-like conflict (see isConflict). */
  unchanged?: Unchanged;
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
    opts?: PatchOptions,
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

/** An RFC 6902 operation. */
export type JsonPatchOp = { op: 'test'; path: string; value: unknown } | { op: 'add'; path: string; value: unknown };

const pointer = (...parts: string[]) => parts.map((p) => `/${p.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
type Meta = { labels?: Record<string, string>; annotations?: Record<string, string> };

/**
 * A merge patch of labels and annotations (string values, nothing removed) as a JSON Patch (RFC
 * 6902) that applies only while `unchanged`'s keys hold their values in `of`: a `test` per key
 * (null for one that is absent: kube-apiserver's JSON Patch treats a missing member as null), then
 * an `add` per key. A map absent from `of` is tested absent and added whole. Throws on any other
 * patch: only these can be expressed without reading the object again.
 */
export function guardedJsonPatch(patch: Record<string, unknown>, unchanged: Unchanged): JsonPatchOp[] {
  const extra = Object.keys(patch).filter((x) => x !== 'metadata');
  const meta = (patch.metadata ?? {}) as Record<string, unknown>;
  const metaExtra = Object.keys(meta).filter((x) => x !== 'labels' && x !== 'annotations');
  if (extra.length || metaExtra.length)
    throw new Error(`a guarded patch sets labels and annotations only, not ${[...extra, ...metaExtra].join(', ')}`);
  const of = unchanged.of.metadata as Meta;
  const ops: JsonPatchOp[] = [];
  const adds: JsonPatchOp[] = [];
  for (const map of ['labels', 'annotations'] as const) {
    const set = (meta[map] ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(set))
      if (typeof v !== 'string') throw new Error(`a guarded patch sets string values only (${map} ${k})`);
    const have = of[map];
    const keys = unchanged[map] ?? [];
    if (!have) {
      // The whole map was absent: it must still be, and it is added with every key.
      if (keys.length || Object.keys(set).length) ops.push({ op: 'test', path: pointer('metadata', map), value: null });
      if (Object.keys(set).length) adds.push({ op: 'add', path: pointer('metadata', map), value: set });
      continue;
    }
    for (const k of keys) ops.push({ op: 'test', path: pointer('metadata', map, k), value: have[k] ?? null });
    for (const [k, v] of Object.entries(set)) adds.push({ op: 'add', path: pointer('metadata', map, k), value: v });
  }
  return [...ops, ...adds];
}

/**
 * Whether the `test` operations of `ops` pass on `obj`, as kube-apiserver's JSON Patch decides them:
 * a missing member equals null; a missing parent fails. (MemoryCluster's side of guardedJsonPatch.)
 */
export function jsonPatchTestsPass(obj: KubeObject, ops: readonly JsonPatchOp[]): boolean {
  for (const op of ops) {
    if (op.op !== 'test') continue;
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
    let at: unknown = obj;
    for (const [i, p] of parts.entries()) {
      if (at === null || typeof at !== 'object') return false; // the parent is missing
      at = (at as Record<string, unknown>)[p];
      if (at === undefined && i < parts.length - 1) return false;
    }
    if (JSON.stringify(at ?? null) !== JSON.stringify(op.value)) return false;
  }
  return true;
}

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
