import type { Cluster, DeleteOptions, Kind, LogOptions, PatchOptions } from './cluster.ts';
import { guardedJsonPatch, jsonPatchTestsPass, matchesSelector, mergePatch } from './cluster.ts';
import type { KubeObject } from './objects.ts';
import { stableHash } from './names.ts';
import { TransientClusterError } from '../errors.ts';

interface Entry {
  obj: KubeObject;
  json: string;
}
const entryOf = (obj: KubeObject): Entry => ({ obj, json: JSON.stringify(obj) });
const copy = (e: Entry): KubeObject => JSON.parse(e.json) as KubeObject;

export interface Write {
  verb: 'create' | 'patch' | 'delete';
  kind: Kind;
  namespace: string;
  name: string;
  /** create: the object; patch: the patch; delete: the options. */
  body: unknown;
  /** false when the write changed nothing (AlreadyExists, NotFound, a patch with no effect). */
  changed: boolean;
}

/**
 * An in-memory API server for what restore-guard uses: namespaced objects by kind, uids and
 * resourceVersions, AlreadyExists on create, NotFound as null, JSON merge patch, delete with a uid
 * precondition, label selectors. Serves unit tests and the offline replay (where the objects the
 * events carry are `observe`d into it).
 */
export class MemoryCluster implements Cluster {
  // Each object is kept with its JSON text: reads hand out a fresh copy by parsing it (cheaper
  // than a deep clone), and nothing stored is ever mutated.
  private readonly store = new Map<Kind, Map<string, Entry>>();
  private rv = 0;
  readonly writes: Write[] = [];
  /** Every read, in order: what a test of a function's API cost counts. */
  readonly reads: { verb: 'get' | 'list'; kind: Kind; namespace: string | null; what: string }[] = [];
  readonly logText = new Map<string, string>();
  private readonly now: () => Date;
  constructor(now: () => Date = () => new Date()) {
    this.now = now;
  }

  private bucket(kind: Kind): Map<string, Entry> {
    let b = this.store.get(kind);
    if (!b) {
      b = new Map();
      this.store.set(kind, b);
    }
    return b;
  }
  private nextRv(): string {
    return String(++this.rv);
  }

  async get(kind: Kind, namespace: string, name: string): Promise<KubeObject | null> {
    this.reads.push({ verb: 'get', kind, namespace, what: name });
    const e = this.bucket(kind).get(`${namespace}/${name}`);
    return e ? copy(e) : null;
  }

  async list(kind: Kind, namespace: string | null, labelSelector: string): Promise<KubeObject[]> {
    this.reads.push({ verb: 'list', kind, namespace, what: labelSelector });
    return [...this.bucket(kind).values()]
      .filter(
        ({ obj }) =>
          (namespace === null || obj.metadata.namespace === namespace) &&
          matchesSelector(obj.metadata.labels, labelSelector),
      )
      .map(copy);
  }

  async create(kind: Kind, namespace: string, obj: KubeObject): Promise<{ created: boolean; object: KubeObject }> {
    const key = `${namespace}/${obj.metadata.name}`;
    const existing = this.bucket(kind).get(key);
    if (existing) {
      this.writes.push({ verb: 'create', kind, namespace, name: obj.metadata.name, body: obj, changed: false });
      return { created: false, object: copy(existing) };
    }
    const stored = JSON.parse(JSON.stringify(obj)) as KubeObject;
    stored.metadata = {
      ...stored.metadata,
      namespace,
      uid: stored.metadata.uid ?? stableHash(kind, key, this.rv),
      resourceVersion: this.nextRv(),
      creationTimestamp: stored.metadata.creationTimestamp ?? this.now().toISOString(),
    };
    const entry = entryOf(stored);
    this.bucket(kind).set(key, entry);
    this.writes.push({ verb: 'create', kind, namespace, name: obj.metadata.name, body: obj, changed: true });
    return { created: true, object: copy(entry) };
  }

  async patch(
    kind: Kind,
    namespace: string,
    name: string,
    patch: Record<string, unknown>,
    opts: PatchOptions = {},
  ): Promise<KubeObject | null> {
    const key = `${namespace}/${name}`;
    const existing = this.bucket(kind).get(key);
    if (!existing) {
      this.writes.push({ verb: 'patch', kind, namespace, name, body: patch, changed: false });
      return null;
    }
    // A resourceVersion in the patch is a precondition, as on the API server: 409 when it moved on.
    // So are `unchanged` keys (sent as a JSON Patch's tests): a conflict when one moved on.
    const rv = (patch.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    const tests = opts.unchanged ? guardedJsonPatch(patch, opts.unchanged) : [];
    if (
      (rv !== undefined && rv !== existing.obj.metadata.resourceVersion) ||
      !jsonPatchTestsPass(existing.obj, tests)
    ) {
      this.writes.push({ verb: 'patch', kind, namespace, name, body: patch, changed: false });
      throw new TransientClusterError(
        `patch ${kind} ${namespace}/${name}: API server answered 409: the object has been modified`,
        {
          hint: 'transient; the event will be redelivered',
          details: { status: 409 },
        },
      );
    }
    const next = mergePatch(existing.obj, patch) as KubeObject;
    const changed = JSON.stringify(next) !== existing.json;
    if (!changed) {
      this.writes.push({ verb: 'patch', kind, namespace, name, body: patch, changed });
      return copy(existing);
    }
    // mergePatch shares untouched parts with the stored object: give the new one its own metadata.
    next.metadata = { ...next.metadata, resourceVersion: this.nextRv() };
    const entry = entryOf(next);
    this.bucket(kind).set(key, entry);
    this.writes.push({ verb: 'patch', kind, namespace, name, body: patch, changed });
    return copy(entry);
  }

  async delete(kind: Kind, namespace: string, name: string, options: DeleteOptions = {}): Promise<boolean> {
    const { witness: _witness, ...opts } = options;
    const key = `${namespace}/${name}`;
    const existing = this.bucket(kind).get(key);
    const ok = !!existing && (!opts.uid || existing.obj.metadata.uid === opts.uid);
    if (ok) this.bucket(kind).delete(key);
    this.writes.push({ verb: 'delete', kind, namespace, name, body: opts, changed: ok });
    return ok;
  }

  async logs(namespace: string, pod: string, container: string, opts: LogOptions): Promise<string | null> {
    const text = this.logText.get(`${namespace}/${pod}/${container}`);
    if (text === undefined) return null;
    const lines = text.split('\n').slice(-opts.tailLines).join('\n');
    return lines.slice(-opts.limitBytes);
  }

  /**
   * Takes in an object as an event showed it. Labels and annotations written here before are kept
   * (the recording may predate our writes); everything else is the event's.
   */
  observe(obj: KubeObject, deleted = false): void {
    const kind = obj.kind as Kind;
    const ns = obj.metadata.namespace ?? 'default';
    const key = `${ns}/${obj.metadata.name}`;
    if (deleted) {
      this.bucket(kind).delete(key);
      return;
    }
    const prev = this.bucket(kind).get(key)?.obj;
    const next = JSON.parse(JSON.stringify(obj)) as KubeObject;
    if (prev && prev.metadata.uid === next.metadata.uid) {
      next.metadata.labels = { ...(prev.metadata.labels ?? {}), ...(next.metadata.labels ?? {}) };
      next.metadata.annotations = { ...(prev.metadata.annotations ?? {}), ...(next.metadata.annotations ?? {}) };
    }
    next.metadata.resourceVersion = this.nextRv();
    this.bucket(kind).set(key, entryOf(next));
  }

  /** Everything stored, for end-state reports and assertions. */
  all(kind: Kind): KubeObject[] {
    return [...this.bucket(kind).values()].map(copy);
  }
}
