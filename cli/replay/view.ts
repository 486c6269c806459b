import { deliveryContext } from '../../functions/core/http/local-broker.ts';
import type { DeliveryContext } from '../../functions/core/http/local-broker.ts';
import type { Cluster, Kind } from '../../functions/core/kube/cluster.ts';
import { RESOURCES } from '../../functions/core/kube/cluster.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { MemoryCluster } from '../../functions/core/kube/memory-cluster.ts';
import { stableHash } from '../../functions/core/kube/names.ts';

/** What the offline view did with an object an event carried. */
export type ViewResult = 'taken' | 'stale' | 'gone' | 'deleted' | 'ignored';

const isKind = (k: unknown): k is Kind => typeof k === 'string' && k in RESOURCES;
const rvNumber = (o: KubeObject): number | null => {
  const n = Number(o.metadata.resourceVersion);
  return o.metadata.resourceVersion && Number.isFinite(n) ? n : null;
};

/** Names of the PVCs a Pod or a Job's pod template mounts. */
export function claimsOfObject(o: KubeObject): string[] {
  const spec = o.kind === 'Job' ? (o.spec as { template?: { spec?: unknown } } | undefined)?.template?.spec : o.spec;
  const vols = (spec as { volumes?: { persistentVolumeClaim?: { claimName?: string } }[] } | undefined)?.volumes ?? [];
  return vols.flatMap((v) => (v.persistentVolumeClaim?.claimName ? [v.persistentVolumeClaim.claimName] : []));
}

/**
 * The offline cluster: the functions' reads are answered from the objects the replayed events
 * carry (Resource mode: the whole object) and from the writes made so far, with the in-memory API
 * server's semantics (merge patch, AlreadyExists, NotFound, resourceVersion, uid preconditions).
 *
 * Like an API server, it only moves forward: an event that carries an older state of an object than
 * the view already has (lower resourceVersion, same uid) is still delivered to the chain, as Knative
 * may deliver it late, but it does not roll the view back; an object deleted stays deleted (a late
 * add or update of the same uid does not bring it back). PersistentVolumeClaims that a pod mounts
 * exist (the pod could not have been scheduled otherwise): they are inferred when no event or
 * observation showed them, so records on PVCs can be replayed.
 */
export class OfflineView {
  readonly cluster: MemoryCluster;
  private readonly newest = new Map<string, { uid: string | undefined; rv: number | null; at: number }>();
  private readonly deletedUids = new Set<string>();
  /** Keys (`Kind/ns/name`) of PVCs the view inferred from pod volumes. */
  readonly inferred = new Set<string>();

  constructor(now: () => Date) {
    this.cluster = new MemoryCluster(now);
  }

  /** Takes in an object carried by an event (`deleted` for a delete event) or an observation. */
  observe(obj: KubeObject, deleted: boolean, at: number): ViewResult {
    if (!isKind(obj.kind)) return 'ignored';
    const ns = obj.metadata.namespace ?? 'default';
    const key = `${obj.kind}/${ns}/${obj.metadata.name}`;
    const uid = obj.metadata.uid;
    const rv = rvNumber(obj);
    if (uid && this.deletedUids.has(uid)) return 'gone';
    const live = this.liveUid(obj.kind, ns, obj.metadata.name);
    if (deleted) {
      if (uid) this.deletedUids.add(uid);
      if (live === undefined || (uid && live !== null && live !== uid)) return 'stale';
      this.cluster.observe({ ...obj, metadata: { ...obj.metadata, namespace: ns } }, true);
      this.newest.delete(key);
      return 'deleted';
    }
    const prev = this.newest.get(key);
    if (prev && prev.uid === uid && live !== undefined) {
      const older = prev.rv !== null && rv !== null ? rv < prev.rv : at < prev.at;
      if (older) return 'stale';
    }
    this.cluster.observe({ ...obj, metadata: { ...obj.metadata, namespace: ns } }, false);
    this.newest.set(key, { uid, rv, at });
    if (obj.kind === 'PersistentVolumeClaim') this.inferred.delete(key);
    for (const claim of obj.kind === 'Pod' || obj.kind === 'Job' ? claimsOfObject(obj) : []) this.inferClaim(ns, claim);
    return 'taken';
  }

  /**
   * How a delivered event's object compares with the view: 'taken' when the view holds that very
   * state (or a deletion the view agrees with), 'stale' when the view is newer, 'gone' when the
   * object is no longer there.
   */
  freshness(obj: KubeObject, deleted: boolean): ViewResult {
    if (!isKind(obj.kind)) return 'ignored';
    const ns = obj.metadata.namespace ?? 'default';
    const live = this.cluster
      .all(obj.kind)
      .find((x) => x.metadata.namespace === ns && x.metadata.name === obj.metadata.name);
    if (!live || (obj.metadata.uid && live.metadata.uid !== obj.metadata.uid)) return deleted ? 'deleted' : 'gone';
    if (deleted) return 'stale';
    const prev = this.newest.get(`${obj.kind}/${ns}/${obj.metadata.name}`);
    const rv = rvNumber(obj);
    return prev && prev.rv !== null && rv !== null && rv < prev.rv ? 'stale' : 'taken';
  }

  /** The uid of the live object at that name: undefined when there is none, null when it has no uid. */
  private liveUid(kind: Kind, ns: string, name: string): string | null | undefined {
    const o = this.cluster.all(kind).find((x) => x.metadata.namespace === ns && x.metadata.name === name);
    return o ? (o.metadata.uid ?? null) : undefined;
  }

  private inferClaim(ns: string, name: string): void {
    const key = `PersistentVolumeClaim/${ns}/${name}`;
    if (this.newest.has(key) || this.liveUid('PersistentVolumeClaim', ns, name) !== undefined) return;
    this.cluster.observe({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name, namespace: ns, uid: stableHash('inferred-pvc', ns, name) },
      spec: {},
      status: { phase: 'Bound' },
    });
    this.newest.set(key, { uid: undefined, rv: null, at: -Infinity });
    this.inferred.add(key);
  }
}

/** One write a function made (or, in dry-run, would have made). */
export interface WriteRecord {
  verb: 'create' | 'patch' | 'delete';
  kind: Kind;
  namespace: string;
  name: string;
  body: unknown;
  /** False when it changed nothing (AlreadyExists, NotFound, no effect); null when not known (dry-run). */
  changed: boolean | null;
  /** Virtual (offline) or wall-clock time of the write, ms. */
  at: number;
  /** The object as it was just before a delete (for end-state reports). */
  before?: KubeObject | null;
  dryRun: boolean;
}

export const hopKey = (c: Pick<DeliveryContext, 'path' | 'eventId' | 'attempt' | 'hops'>) =>
  `${c.path}|${c.eventId}|${c.attempt}|${c.hops}`;

/**
 * Collects writes and tells which broker delivery made each one (the delivery context the broker
 * sets around every hop), so the timeline shows every write under the function that made it.
 */
export class WriteLog {
  readonly all: WriteRecord[] = [];
  private readonly pending = new Map<string, WriteRecord[]>();
  private readonly clock: () => number;
  constructor(clock: () => number) {
    this.clock = clock;
  }
  add(w: Omit<WriteRecord, 'at'>): void {
    const rec: WriteRecord = { ...w, at: this.clock() };
    this.all.push(rec);
    const ctx = deliveryContext.getStore();
    const key = ctx ? hopKey(ctx) : '';
    const list = this.pending.get(key) ?? [];
    list.push(rec);
    this.pending.set(key, list);
  }
  /** Takes the writes a delivery made (once). */
  take(key: string): WriteRecord[] {
    const list = this.pending.get(key) ?? [];
    this.pending.delete(key);
    return list;
  }
  /** Writes made outside any delivery (none in a normal replay). */
  orphans(): WriteRecord[] {
    return this.take('');
  }
}

/**
 * Wraps a cluster so that every write is logged. On the in-memory cluster, `changed` is read from
 * its own write record; on a real cluster it is what the call answered.
 */
export function tracked(inner: Cluster, log: WriteLog, memory?: MemoryCluster): Cluster {
  const changedOf = (n: number, fallback: boolean): boolean =>
    memory ? (memory.writes[n]?.changed ?? fallback) : fallback;
  return {
    get: (...a) => inner.get(...a),
    list: (...a) => inner.list(...a),
    logs: (...a) => inner.logs(...a),
    async create(kind, ns, obj) {
      const n = memory?.writes.length ?? 0;
      const r = await inner.create(kind, ns, obj);
      log.add({
        verb: 'create',
        kind,
        namespace: ns,
        name: obj.metadata.name,
        body: obj,
        changed: changedOf(n, r.created),
        dryRun: false,
      });
      return r;
    },
    async patch(kind, ns, name, patch) {
      const n = memory?.writes.length ?? 0;
      const r = await inner.patch(kind, ns, name, patch);
      log.add({
        verb: 'patch',
        kind,
        namespace: ns,
        name,
        body: patch,
        changed: changedOf(n, r !== null),
        dryRun: false,
      });
      return r;
    },
    async delete(kind, ns, name, opts) {
      const before = await inner.get(kind, ns, name);
      const n = memory?.writes.length ?? 0;
      const r = await inner.delete(kind, ns, name, opts);
      log.add({
        verb: 'delete',
        kind,
        namespace: ns,
        name,
        body: opts ?? {},
        changed: changedOf(n, r),
        before,
        dryRun: false,
      });
      return r;
    },
  };
}
