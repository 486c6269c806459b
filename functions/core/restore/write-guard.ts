import type { Cluster, Kind, WriteOptions } from '../kube/cluster.ts';
import { RefusedWriteError } from '../errors.ts';
import type { Job, KubeObject, Pod } from '../kube/objects.ts';
import { readJob, readPod } from '../kube/objects.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { KB, keys } from './keys.ts';
import { labelValueFor } from '../kube/names.ts';
import type { Selector } from './selection.ts';
import { restoreClaims } from './selection.ts';
import { restoreClaimsOfRestore } from './kubeblocks.ts';
import { succeededMembers } from './records.ts';

/**
 * The write guard (README, Guarantees): every write checks again, on the live object, that its target is a
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
  /** A related object, from the caller's witnesses when it read it just now, else from the API server. */
  const lookup = (kind: Kind, ns: string, name: string, opts?: WriteOptions): Promise<KubeObject | null> => {
    const w = witnessFor(kind, ns, name, opts);
    return w ? Promise.resolve(w) : inner.get(kind, ns, name);
  };
  const isOurs = (kind: Kind, o: KubeObject): boolean => {
    if (kind === 'Pod') return selector.isAnchor(o) || selector.selectPod(o as unknown as Pod) !== null;
    if (kind === 'Job') return selector.selectJob(o as unknown as Job) !== null;
    // KubeBlocks' Restore: a group's owner (only ever read; an Event may be about it).
    if (kind === 'Restore') return o.kind === 'Restore';
    return false;
  };
  const metaOnly = (patch: Record<string, unknown>, kind: Kind): string | null => {
    // The one spec change: a restore pod's scheduling gates (checked against the live pod below).
    const extra = Object.keys(patch).filter(
      (x) => x !== 'metadata' && !(kind === 'Pod' && x === 'spec' && gatesOnly(patch)),
    );
    if (extra.length) return `patch touches ${extra.join(', ')}`;
    const meta = (patch.metadata ?? {}) as Record<string, unknown>;
    // resourceVersion is a precondition (optimistic concurrency), not a change.
    const metaExtra = Object.keys(meta).filter((x) => x !== 'labels' && x !== 'annotations' && x !== 'resourceVersion');
    if (metaExtra.length) return `patch touches metadata.${metaExtra.join(', metadata.')}`;
    const allowed = (key: string) => key.startsWith(`${domain}/`) || (kind === 'Pod' && key === KB.stop);
    for (const field of ['labels', 'annotations'] as const) {
      const values = (meta[field] ?? {}) as Record<string, unknown>;
      // Taking a label off a Pod (an anchor handing its node over; checked against the live pod) is
      // the one change to other keys.
      const bad = Object.keys(values).filter(
        (x) => !allowed(x) && !(kind === 'Pod' && field === 'labels' && values[x] === null),
      );
      if (bad.length) return `patch touches ${field} ${bad.join(', ')}`;
    }
    return null;
  };
  /** A patch of a Pod or Job, checked against the live target (or the caller's fresh copy of it). */
  const checkTarget = (kind: Kind, ns: string, name: string, patch: Record<string, unknown>, live: KubeObject) => {
    if (!isOurs(kind, live)) refuse('patch', kind, ns, name, 'not a selected restore object');
    const gates = kind === 'Pod' ? gatesChange(patch, live) : null;
    if (gates) refuse('patch', kind, ns, name, gates);
    const removed = foreignRemovals(patch);
    if (removed.length && !(kind === 'Pod' && selector.isAnchor(live)))
      refuse('patch', kind, ns, name, `only anchors may lose labels that are not ours (${removed.join(', ')})`);
  };
  /**
   * A new generation of one of our anchors (a lease renewal, a repair): the caller's copy of the
   * anchor it replaces (read just now) stands for the same restore pod (name and uid) in the same
   * group. The restore pod itself is usually gone by then: release deletes a finished member's pod,
   * and its anchor is what holds its footprint while the group is in flight.
   */
  const copyOfAnchor = (obj: KubeObject, ns: string, opts?: WriteOptions): boolean => {
    const same = (o: KubeObject) =>
      selector.isAnchor(o) &&
      (o.metadata.namespace ?? ns) === ns &&
      o.metadata.name !== obj.metadata.name &&
      o.metadata.labels?.[k.anchorFor] === obj.metadata.labels?.[k.anchorFor] &&
      o.metadata.labels?.[k.group] === obj.metadata.labels?.[k.group] &&
      !!o.metadata.annotations?.[k.anchorUid] &&
      o.metadata.annotations?.[k.anchorUid] === obj.metadata.annotations?.[k.anchorUid] &&
      (o.metadata.annotations?.[k.anchorPod] ?? null) === (obj.metadata.annotations?.[k.anchorPod] ?? null);
    return (opts?.witness ?? []).some((o) => o.kind === 'Pod' && same(o));
  };
  /**
   * An anchor for a finished member whose pod is gone, re-anchored from its record: the caller's copy
   * of a selected restore Job (read just now) whose history records that pod (name and uid) as
   * succeeded on the anchor's node.
   */
  const recordedMember = (obj: KubeObject, ns: string, opts?: WriteOptions): boolean => {
    const uid = obj.metadata.annotations?.[k.anchorUid];
    const pod = obj.metadata.annotations?.[k.anchorPod];
    const node = (obj.spec as { nodeName?: string } | undefined)?.nodeName;
    if (!uid || !pod || !node) return false;
    return (opts?.witness ?? []).some((o) => {
      if (o.kind !== 'Job' || (o.metadata.namespace ?? ns) !== ns || !isOurs('Job', o)) return false;
      return succeededMembers(o, k).some((e) => e.uid === uid && e.pod === pod && e.node === node);
    });
  };
  /** Labels a patch takes off that are not ours: allowed on our anchors only. */
  const foreignRemovals = (patch: Record<string, unknown>): string[] => {
    const labels = ((patch.metadata as Record<string, unknown> | undefined)?.labels ?? {}) as Record<string, unknown>;
    return Object.keys(labels).filter((x) => labels[x] === null && !x.startsWith(`${domain}/`));
  };

  const gatesOnly = (patch: Record<string, unknown>): boolean => {
    const spec = patch.spec as Record<string, unknown> | null;
    return !!spec && typeof spec === 'object' && Object.keys(spec).length === 1 && 'schedulingGates' in spec;
  };
  /** A gates patch may only take our placement gate away: the live pod's other gates stay as they are. */
  const gatesChange = (patch: Record<string, unknown>, live: KubeObject): string | null => {
    if (!gatesOnly(patch)) return null;
    const names = (v: unknown) => ((v ?? []) as { name?: string }[]).map((g) => g.name ?? '').sort();
    const before = names((live as { spec?: { schedulingGates?: unknown } }).spec?.schedulingGates);
    const after = names((patch.spec as { schedulingGates?: unknown }).schedulingGates);
    const want = before.filter((n) => n !== k.gate);
    if (!before.includes(k.gate)) return 'pod carries no placement gate of ours';
    if (JSON.stringify(after) !== JSON.stringify(want)) return `scheduling gates may only lose ${k.gate}`;
    return null;
  };

  /**
   * A PVC is ours to annotate only while a selected restore Pod or Job that mounts it is live: the
   * patch carries the outcome it records, whose pod (by uid) or Job (by name) must be that object.
   * Null when allowed, else why not.
   */
  const notMounted = async (
    ns: string,
    name: string,
    patch: Record<string, unknown>,
    opts?: WriteOptions,
  ): Promise<string | null> => {
    const text = (patch.metadata as { annotations?: Record<string, unknown> } | undefined)?.annotations?.[k.outcome];
    let about: { pod?: unknown; uid?: unknown; job?: unknown; scope?: unknown; group?: unknown } = {};
    try {
      about = typeof text === 'string' ? (JSON.parse(text) as typeof about) : {};
    } catch {
      // unreadable: about nothing
    }
    const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
    const pod = str(about.pod);
    const job = str(about.job);
    if (pod) {
      const live = readPod(await lookup('Pod', ns, pod, opts));
      const sel = live && (about.scope !== 'pod' || live.metadata.uid === about.uid) ? selector.selectPod(live) : null;
      if (live && sel && restoreClaims(live.spec, sel.profile).includes(name)) return null;
    }
    if (job) {
      const live = readJob(await lookup('Job', ns, job, opts));
      const sel = live ? selector.selectJob(live) : null;
      if (live && sel && restoreClaims(live.spec.template.spec, sel.profile).includes(name)) return null;
    }
    // KubeBlocks: the pod and its Job may both be gone (deleted with a Completed Restore); the live
    // Restore named by the outcome's group still lists its PVCs.
    const group = str((about as { group?: unknown }).group);
    if (group && restoreClaimsOfRestore(await lookup('Restore', ns, group, opts)).includes(name)) return null;
    return 'not a data PVC of a live selected restore Pod or Job that the outcome is about';
  };

  return {
    get: (...a) => inner.get(...a),
    list: (...a) => inner.list(...a),
    logs: (...a) => inner.logs(...a),
    async create(kind, ns, obj, opts) {
      if (kind === 'Pod') {
        const label = obj.metadata.labels?.[k.anchorFor];
        const forPod = obj.metadata.annotations?.[k.anchorPod] ?? label;
        if (!forPod || !label || !obj.metadata.labels?.[k.group])
          refuse('create', kind, ns, obj.metadata.name, 'only anchor pods may be created');
        const restorePod = await lookup('Pod', ns, forPod!, opts);
        if (
          (!restorePod || selector.selectPod(restorePod as unknown as Pod) === null) &&
          !copyOfAnchor(obj, ns, opts) &&
          !recordedMember(obj, ns, opts)
        ) {
          refuse('create', kind, ns, obj.metadata.name, `anchor for ${forPod}, which is not a selected restore pod`);
        }
        if (label !== labelValueFor(forPod!))
          refuse('create', kind, ns, obj.metadata.name, `its label ${k.anchorFor} does not stand for ${forPod}`);
      }
      if (kind === 'Job' && !(isOurs('Job', obj) && obj.metadata.annotations?.[k.retryOf])) {
        refuse('create', kind, ns, obj.metadata.name, 'only retries of selected restore Jobs may be created');
      }
      if (kind === 'Event') {
        const inv = (obj as { involvedObject?: { kind?: Kind; name?: string; uid?: string } }).involvedObject;
        const target = inv?.kind && inv.name ? await lookup(inv.kind, ns, inv.name, opts) : null;
        if (!target || !isOurs(inv!.kind!, target))
          refuse('create', kind, ns, obj.metadata.name, 'event about an object that is not a restore object');
      }
      if (kind === 'PersistentVolumeClaim' || kind === 'Restore')
        refuse('create', kind, ns, obj.metadata.name, 'never created');
      return inner.create(kind, ns, obj);
    },
    async patch(kind, ns, name, patch, opts) {
      const why = metaOnly(patch, kind);
      if (why) refuse('patch', kind, ns, name, why);
      if (kind === 'Pod' || kind === 'Job') {
        // The caller's copy of the target, read just now, stands in for the guard's own read (the
        // same freshness: a read, then the write).
        const live = await lookup(kind, ns, name, opts);
        if (!live) return null;
        checkTarget(kind, ns, name, patch, live);
      } else if (kind === 'PersistentVolumeClaim') {
        const why = await notMounted(ns, name, patch, opts);
        if (why) refuse('patch', kind, ns, name, why);
      } else refuse('patch', kind, ns, name, 'never patched');
      return inner.patch(kind, ns, name, patch, opts?.unchanged ? { unchanged: opts.unchanged } : undefined);
    },
    async delete(kind, ns, name, opts = {}) {
      if (kind !== 'Pod' && kind !== 'Job') refuse('delete', kind, ns, name, 'never deleted');
      const { witness: _w, ...plain } = opts;
      const seen = witnessFor(kind, ns, name, opts);
      // The caller's copy stands in for a read when it is the object the uid precondition names.
      const live = seen && (!opts.uid || opts.uid === seen.metadata.uid) ? seen : await inner.get(kind, ns, name);
      if (!live) return false;
      if (!isOurs(kind, live)) refuse('delete', kind, ns, name, 'not a selected restore object or anchor');
      return inner.delete(kind, ns, name, { ...plain, uid: opts.uid ?? live.metadata.uid });
    },
  };
}

/** The caller's copy of an object, if it handed one in. */
function witnessFor(kind: Kind, ns: string, name: string, opts?: WriteOptions): KubeObject | null {
  return (
    opts?.witness?.find((o) => o.kind === kind && o.metadata.name === name && (o.metadata.namespace ?? ns) === ns) ??
    null
  );
}
