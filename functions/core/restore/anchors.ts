import type { Cluster } from '../kube/cluster.ts';
import type { Config } from '../config.ts';
import type { Deps } from '../deps.ts';
import { KB, keys } from './keys.ts';
import type { Keys } from './keys.ts';
import type { ProfileName } from './selection.ts';
import type { Job, KubeObject, LabelSelector, OwnerReference, Pod, PodAffinityTerm, PodSpec } from '../kube/objects.ts';
import { annotationsOf, isControllerLabel, labelsOf } from '../kube/objects.ts';
import { childName, labelValueFor, stableHash } from '../kube/names.ts';
import type { Selection } from './selection.ts';
import { historyState } from './records.ts';
import type { HistoryEntry } from './records.ts';
import { judgeContext, judgePod } from './judge.ts';
import { fitToLimits } from './admission.ts';
import { tell } from './kube-events.ts';
import { ClusterRequestError } from '../errors.ts';

/** Label keys that the pod's inter-pod (anti-)affinity and topology spread selectors look at. */
export function selectorKeys(spec: PodSpec): string[] {
  const out = new Set<string>();
  const fromSelector = (s: LabelSelector | null | undefined) => {
    for (const k of Object.keys(s?.matchLabels ?? {})) out.add(k);
    for (const e of s?.matchExpressions ?? []) out.add(e.key);
  };
  const a = spec.affinity;
  for (const aff of [a?.podAffinity, a?.podAntiAffinity]) {
    const terms = [
      ...(aff?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
      ...(aff?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w) => w.podAffinityTerm),
    ];
    for (const t of terms) {
      fromSelector(t.labelSelector);
      for (const k of [...(t.matchLabelKeys ?? []), ...(t.mismatchLabelKeys ?? [])]) out.add(k);
    }
  }
  for (const c of spec.topologySpreadConstraints ?? []) {
    fromSelector(c.labelSelector);
    for (const k of c.matchLabelKeys ?? []) out.add(k);
  }
  return [...out].sort();
}

/** The labels memberOf reads, in its order. */
export const memberKeys = (domain: string): string[] => [
  KB.podName,
  keys(domain).member,
  'batch.kubernetes.io/job-name',
  'job-name',
];

/**
 * The label that tells a restore pod's member apart (what it restores): KubeBlocks' pod name
 * (`apps.kubeblocks.io/pod-name`, which the workload pod restored onto the PVCs carries too), else
 * our own `restoreguard.dev/member` label where a pod template sets it, else the Job's name (the
 * Job controller's next pod of the same Job is the same member).
 */
export function memberOf(pod: Pick<Pod, 'metadata'>, domain: string): { key: string; value: string } | null {
  const labels = labelsOf(pod);
  for (const key of memberKeys(domain)) {
    const value = labels[key];
    if (value) return { key, value };
  }
  return null;
}

/** A term's selector with matchLabelKeys/mismatchLabelKeys resolved from the pod's own labels. */
function resolvedSelector(t: PodAffinityTerm, labels: Record<string, string>): LabelSelector {
  const s = t.labelSelector ?? {};
  const extra = [
    ...(t.matchLabelKeys ?? []).flatMap((key) =>
      labels[key] !== undefined ? [{ key, operator: 'In', values: [labels[key]!] }] : [],
    ),
    ...(t.mismatchLabelKeys ?? []).flatMap((key) =>
      labels[key] !== undefined ? [{ key, operator: 'NotIn', values: [labels[key]!] }] : [],
    ),
  ];
  return {
    ...(s.matchLabels ? { matchLabels: s.matchLabels } : {}),
    ...(s.matchExpressions?.length || extra.length
      ? { matchExpressions: [...(s.matchExpressions ?? []), ...extra] }
      : {}),
  };
}

/**
 * The anchor's own pod anti-affinity: the restore pod's anti-affinity terms, with every other member
 * excluded only by the member's own label. kube-scheduler enforces an existing pod's required
 * anti-affinity against every incoming pod, so the anchor repels exactly the pods the restore pod's
 * terms would have repelled, except that member's own successor (its next backup set, a retry, the
 * workload pod restored onto its PVCs): the node is handed over without a window, and an anchor that
 * outlives its group never blocks its own member.
 */
export function anchorAntiAffinity(pod: Pod, domain: string): Record<string, unknown> | null {
  const anti = pod.spec.affinity?.podAntiAffinity;
  const required = anti?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  const preferred = anti?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  if (!required.length && !preferred.length) return null;
  const labels = labelsOf(pod);
  const member = memberOf(pod, domain);
  const term = (t: PodAffinityTerm) => {
    const sel = resolvedSelector(t, labels);
    const notSelf = member ? [{ key: member.key, operator: 'NotIn', values: [member.value] }] : [];
    return {
      labelSelector: { ...sel, matchExpressions: [...(sel.matchExpressions ?? []), ...notSelf] },
      topologyKey: t.topologyKey ?? 'kubernetes.io/hostname',
      ...(t.namespaces?.length ? { namespaces: t.namespaces } : {}),
      ...(t.namespaceSelector ? { namespaceSelector: t.namespaceSelector } : {}),
    };
  };
  return {
    ...(required.length ? { requiredDuringSchedulingIgnoredDuringExecution: required.map(term) } : {}),
    ...(preferred.length
      ? {
          preferredDuringSchedulingIgnoredDuringExecution: preferred.map((w) => ({
            weight: w.weight ?? 1,
            podAffinityTerm: term(w.podAffinityTerm),
          })),
        }
      : {}),
  };
}

/**
 * Which scheduling constraint the pod's anchor holds: a hash of its required anti-affinity terms
 * (selectors and topology keys, as the group's members share them). Restores of one component made by
 * several Restores (one per instance template) share it: their anchors are released together.
 */
export function constraintOf(pod: Pod): string | null {
  const required = pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  if (!required.length) return null;
  const labels = labelsOf(pod);
  const terms = required.map((t) => JSON.stringify([t.topologyKey ?? '', resolvedSelector(t, labels)])).sort();
  return stableHash(pod.metadata.namespace ?? '', ...terms).slice(0, 16);
}

/** A label selector in the API's string form (matchLabels and the four expression operators). */
export function selectorString(s: LabelSelector): string {
  const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/**
 * The labels an anchor carries: the restore pod's labels that its affinity, anti-affinity and spread
 * selectors look at (so kube-scheduler counts the anchor as it counted the pod, and requeues the pods
 * it held back when it goes), never the Job controller's; plus ours, with the member it stands for.
 * Null when the pod has no rule an anchor could hold.
 */
export function anchorLabels(pod: Pod, sel: Selection, domain: string): Record<string, string> | null {
  const k = keys(domain);
  const labels = labelsOf(pod);
  const copied: Record<string, string> = {};
  for (const key of selectorKeys(pod.spec)) {
    if (isControllerLabel(key)) continue;
    const v = labels[key];
    if (v !== undefined) copied[key] = v;
  }
  if (Object.keys(copied).length === 0 && !anchorAntiAffinity(pod, domain)) return null;
  const constraint = constraintOf(pod);
  const member = memberOf(pod, domain);
  // A label value holds 63 characters: a longer pod name (a pod not made by a Job) is shortened
  // deterministically; the anchor's annotation keeps the full name.
  return {
    ...copied,
    [k.anchorFor]: labelValueFor(pod.metadata.name),
    [k.group]: sel.group,
    ...(constraint ? { [k.constraint]: constraint } : {}),
    ...(member ? { [k.anchorMember]: labelValueFor(member.value) } : {}),
  };
}

/**
 * Hands a member's node over to its successor (its next backup set, a new attempt): a pending
 * restore pod of the same member is repelled by its member's anchors through the labels they carry,
 * so those labels are taken off them. The anchors' own anti-affinity (which excludes the member) keeps
 * repelling every other member, so there is no window; kube-scheduler requeues the successor on the
 * label change. Returns the anchors handed over.
 */
export async function handOver(
  deps: Pick<Deps, 'config' | 'log'>,
  cluster: Cluster,
  pod: Pod,
  namespace: string,
): Promise<string[]> {
  const k = keys(deps.config.RG_DOMAIN);
  const member = memberOf(pod, deps.config.RG_DOMAIN);
  if (!member) return [];
  const strip = selectorKeys(pod.spec).filter(
    (key) => !isControllerLabel(key) && !key.startsWith(`${deps.config.RG_DOMAIN}/`),
  );
  const done: string[] = [];
  for (const a of await cluster.list(
    'Pod',
    namespace,
    `${k.anchorMember}=${labelValueFor(member.value)},${k.anchorFor}`,
  )) {
    if (a.metadata.annotations?.[k.anchorUid] === pod.metadata.uid || a.metadata.deletionTimestamp) continue;
    const carried = strip.filter((key) => a.metadata.labels?.[key] !== undefined);
    if (!carried.length) continue;
    await cluster.patch(
      'Pod',
      namespace,
      a.metadata.name,
      { metadata: { labels: Object.fromEntries(carried.map((key) => [key, null])) } },
      { witness: [a] },
    );
    done.push(a.metadata.name);
  }
  if (done.length)
    deps.log.info("node handed over to the member's successor", { namespace, pod: pod.metadata.name, anchors: done });
  return done;
}

export function anchorName(podName: string, generation = 0): string {
  return childName(podName, generation ? `anchor-${generation}` : 'anchor');
}

/** Every anchor standing for a pod of this name (all generations, any uid), by its label. */
export function anchorsOf(cluster: Cluster, k: Keys, namespace: string, pod: string): Promise<KubeObject[]> {
  return cluster.list('Pod', namespace, `${k.anchorFor}=${labelValueFor(pod)}`);
}

/** Is this anchor still holding its node for the scheduler (not ended, not being deleted)? */
export function holding(anchor: KubeObject): boolean {
  const phase = (anchor.status as { phase?: string } | undefined)?.phase;
  return !anchor.metadata.deletionTimestamp && phase !== 'Failed' && phase !== 'Succeeded';
}

function nextGeneration(anchors: KubeObject[], k: Keys): number {
  if (!anchors.length) return 0;
  return 1 + Math.max(...anchors.map((a) => Number(a.metadata.annotations?.[k.generation] ?? 0) || 0));
}

/**
 * The seconds an anchor has left of its lease (activeDeadlineSeconds from its creation); null when
 * it has no deadline or no creation time.
 */
export function leaseLeft(anchor: KubeObject, now: Date): number | null {
  const deadline = (anchor.spec as { activeDeadlineSeconds?: number } | undefined)?.activeDeadlineSeconds;
  const created = Date.parse(anchor.metadata.creationTimestamp ?? '');
  if (!deadline || !Number.isFinite(created)) return null;
  return deadline - (now.getTime() - created) / 1000;
}

/**
 * Renews an anchor's lease: a pod's activeDeadlineSeconds cannot grow, so a copy (same node, labels,
 * anti-affinity, owner; the next generation's name; a new lease) is created first, then the old one
 * is deleted: the footprint never lapses while its group is in flight. Returns the new name.
 */
export async function renewAnchor(
  deps: Pick<Deps, 'config' | 'log' | 'metrics' | 'clock'>,
  cluster: Cluster,
  old: KubeObject,
): Promise<string | null> {
  const k = keys(deps.config.RG_DOMAIN);
  const ns = old.metadata.namespace ?? '';
  const pod = old.metadata.annotations?.[k.anchorPod] ?? old.metadata.labels?.[k.anchorFor] ?? '';
  if (!pod) return null;
  const all = await anchorsOf(cluster, k, ns, pod);
  // Already replaced (by labeling's repair, or another replica's sweep): only the old one goes.
  const uid = old.metadata.annotations?.[k.anchorUid];
  const fresh = all.find(
    (a) =>
      a.metadata.name !== old.metadata.name &&
      a.metadata.annotations?.[k.anchorUid] === uid &&
      holding(a) &&
      (leaseLeft(a, deps.clock()) ?? Number.POSITIVE_INFINITY) > deps.config.RG_ANCHOR_DEADLINE_SECONDS / 2,
  );
  if (fresh) {
    await cluster.delete('Pod', ns, old.metadata.name, { uid: old.metadata.uid ?? '', witness: [old] });
    return null;
  }
  const gen = nextGeneration(all, k);
  const spec = {
    ...(old.spec as Record<string, unknown>),
    activeDeadlineSeconds: deps.config.RG_ANCHOR_DEADLINE_SECONDS,
  };
  const copy: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: anchorName(pod, gen),
      namespace: ns,
      labels: old.metadata.labels ?? {},
      annotations: { ...old.metadata.annotations, [k.generation]: String(gen) },
      ...(old.metadata.ownerReferences?.length ? { ownerReferences: old.metadata.ownerReferences } : {}),
    },
    spec,
  };
  // The old anchor (just listed) stands for the restore pod in the write guard: a finished member's pod is gone.
  const r = await cluster.create('Pod', ns, copy, { witness: [old] });
  await cluster.delete('Pod', ns, old.metadata.name, { uid: old.metadata.uid ?? '', witness: [old] });
  deps.log.info('anchor renewed', { namespace: ns, pod, from: old.metadata.name, to: copy.metadata.name });
  return r.created ? copy.metadata.name : null;
}

/**
 * The owner of a group's anchors: the group's owner where there is one (KubeBlocks: the Restore;
 * generic: the Job's own controller), as controller so no other controller adopts the anchor;
 * else the restore Job, as a plain owner (controller false) so the Job neither releases nor counts it;
 * but never a Job with `ttlSecondsAfterFinished`: the TTL controller deletes it the moment it
 * finishes and the garbage collector would take the anchor along, while its siblings still schedule.
 * Such an anchor has no owner: release deletes it with its group, resync finds it, and its
 * `activeDeadlineSeconds` ends it in every case.
 */
export function anchorOwner(groupOwner: KubeObject | null, job: KubeObject | null): OwnerReference[] {
  const ref = (o: KubeObject, controller: boolean): OwnerReference => ({
    apiVersion: o.apiVersion ?? 'v1',
    kind: o.kind ?? 'Unknown',
    name: o.metadata.name,
    uid: o.metadata.uid ?? '',
    controller,
    blockOwnerDeletion: false,
  });
  if (groupOwner?.metadata.uid) return [ref(groupOwner, true)];
  const ttl = (job?.spec as { ttlSecondsAfterFinished?: number } | undefined)?.ttlSecondsAfterFinished;
  if (job?.metadata.uid && ttl === undefined) return [ref(job, false)];
  return [];
}

/**
 * An anchor pod: bound to the restore pod's node (never scheduled), zero-ish explicit requests,
 * restricted security context, a hard deadline, the pod's tolerations, and the pod's priority class
 * unless RG_ANCHOR_PRIORITY_CLASS names one for anchors. Null when the pod has no inter-pod rules whose selectors it would satisfy.
 */
export function buildAnchor(
  pod: Pod,
  sel: Selection,
  cfg: Pick<
    Config,
    | 'RG_DOMAIN'
    | 'RG_ANCHOR_IMAGE'
    | 'RG_ANCHOR_DEADLINE_SECONDS'
    | 'RG_ANCHOR_CPU'
    | 'RG_ANCHOR_MEMORY'
    | 'RG_ANCHOR_PRIORITY_CLASS'
  >,
  owners: OwnerReference[],
): KubeObject | null {
  const node = pod.spec.nodeName;
  if (!node) return null;
  const labels = anchorLabels(pod, sel, cfg.RG_DOMAIN);
  if (!labels) return null;
  const antiAffinity = anchorAntiAffinity(pod, cfg.RG_DOMAIN);
  const k = keys(cfg.RG_DOMAIN);
  const size = annotationsOf(pod)[k.groupSize];
  const job = labelsOf(pod)['batch.kubernetes.io/job-name'] ?? labelsOf(pod)['job-name'];
  const resources = { cpu: cfg.RG_ANCHOR_CPU, memory: cfg.RG_ANCHOR_MEMORY };
  const priorityClassName = cfg.RG_ANCHOR_PRIORITY_CLASS || pod.spec.priorityClassName;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: anchorName(pod.metadata.name),
      namespace: sel.namespace,
      labels,
      annotations: {
        [k.anchorUid]: pod.metadata.uid ?? '',
        [k.anchorPod]: pod.metadata.name,
        [k.profile]: sel.profile,
        ...(job ? { [k.anchorJob]: job } : {}),
        ...(size ? { [k.groupSize]: size } : {}),
      },
      ...(owners.length ? { ownerReferences: owners } : {}),
    },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      activeDeadlineSeconds: cfg.RG_ANCHOR_DEADLINE_SECONDS,
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(pod.spec.tolerations?.length ? { tolerations: pod.spec.tolerations } : {}),
      ...(priorityClassName ? { priorityClassName } : {}),
      ...(antiAffinity ? { affinity: { podAntiAffinity: antiAffinity } } : {}),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65535,
        runAsGroup: 65535,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'anchor',
          image: cfg.RG_ANCHOR_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          resources: { requests: resources, limits: resources },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
    },
  };
}

const FINAL = new Set(['succeeded', 'failed']);

/** What ensureAnchor did: created it, found it, found none needed (no affinity or spread), or had nothing to do. */
export type AnchorResult = 'created' | 'exists' | 'not-needed' | 'skipped';

/** The group's owner for anchors: KubeBlocks' Restore (read by the caller), else the Job's own controller. */
function groupOwner(restore: KubeObject | null, job: KubeObject | null): KubeObject | null {
  if (restore) return restore;
  const ctrl = job?.metadata.ownerReferences?.find((r) => r.controller);
  return ctrl ? { apiVersion: ctrl.apiVersion, kind: ctrl.kind, metadata: { name: ctrl.name, uid: ctrl.uid } } : null;
}

/**
 * What ensureAnchor reads besides the pod: the anchors standing for a pod of its name (null: not
 * read; at placement the anchor is created first, and they are read only if its name is taken),
 * the Job, KubeBlocks' Restore.
 */
export interface AnchorReads {
  anchors: KubeObject[] | null;
  job: KubeObject | null;
  /** undefined: not read yet (only an anchor to create needs it, as its owner). */
  restore: KubeObject | null | undefined;
}

export const getJob = (cluster: Cluster, namespace: string, job: string | null) =>
  job ? cluster.get('Job', namespace, job) : Promise.resolve(null);
const getRestore = (cluster: Cluster, namespace: string, group: string) => cluster.get('Restore', namespace, group);

/**
 * The reads ensureAnchor needs, all at once. Every name is known from the event, so the caller
 * starts them together with its read of the pod (and shares its read of the Job): placement →
 * anchor is on the hot path. KubeBlocks' Restore (the anchor's owner) is read at once only where
 * the anchor is created first (placement); where the standing anchors are read first (a finished
 * pod, whose anchor exists as a rule), it is read only if one must be made.
 */
export function anchorReads(
  cluster: Cluster,
  k: Keys,
  namespace: string,
  profile: ProfileName,
  group: string,
  pod: string,
  job: Promise<KubeObject | null>,
  anchors = true,
): Promise<AnchorReads> {
  return Promise.all([
    anchors ? anchorsOf(cluster, k, namespace, pod) : Promise.resolve(null),
    job,
    profile !== 'kubeblocks'
      ? Promise.resolve(null)
      : anchors
        ? Promise.resolve(undefined)
        : getRestore(cluster, namespace, group),
  ]).then(([anchors, j, restore]) => ({ anchors, job: j, restore }));
}

/**
 * Makes sure a placed (or just finished) restore pod has its anchor. Level-triggered: reads the
 * anchor by its deterministic name; creating it twice is AlreadyExists, which is success.
 * `reads` may be started by the caller beside its own reads (see anchorReads).
 */
export async function ensureAnchor(
  deps: Deps,
  cluster: Cluster,
  pod: Pod,
  sel: Selection,
  jobName: string | null,
  reads?: Promise<AnchorReads>,
): Promise<AnchorResult> {
  const k = keys(deps.config.RG_DOMAIN);
  if (FINAL.has(labelsOf(pod)[k.state] ?? '')) return 'skipped'; // recorded before: the anchor was handled then
  if (!pod.spec.nodeName) return 'skipped';
  // A pod that has failed (live) holds nothing, and its failure takes its anchor away: a placement
  // event that arrives late (redelivered, reordered) must not anchor it again.
  if (judgePod(pod, sel, judgeContext(deps, false, deps.clock()))?.state === 'failed') return 'skipped';
  if (!buildAnchor(pod, sel, deps.config, [])) return 'not-needed';
  const read = await (reads ??
    anchorReads(
      cluster,
      k,
      sel.namespace,
      sel.profile,
      sel.group,
      pod.metadata.name,
      getJob(cluster, sel.namespace, jobName),
    ));
  const { job } = read;
  // Recorded on its Job already (the pod's own label may have failed to land): the anchor was
  // handled then, before those records, and may since have gone with its completed group.
  if (job && FINAL.has(historyState(annotationsOf(job)[k.history], pod.metadata.uid ?? '') ?? '')) return 'skipped';
  // Read first (a finished pod): one of them holds as a rule, and then nothing is built.
  if (read.anchors && standing(read.anchors, pod, k)) return 'exists';
  const restore =
    read.restore !== undefined || sel.profile !== 'kubeblocks'
      ? (read.restore ?? null)
      : await getRestore(cluster, sel.namespace, sel.group);
  const anchor = buildAnchor(pod, sel, deps.config, anchorOwner(groupOwner(restore, job), job))!;
  if (read.anchors === null) {
    // Created first (the usual case at placement: none yet); the name taken means one exists, or
    // existed: then read them and decide as below.
    const r = await createAdmitted(deps, cluster, sel.namespace, anchor, job, pod);
    if (r.created) {
      await created(deps, cluster, sel, pod, anchor.metadata.name, restore ?? job);
      return 'created';
    }
  }
  const anchors = read.anchors ?? (await anchorsOf(cluster, k, sel.namespace, pod.metadata.name));
  const r = await replaceAnchor(cluster, k, sel.namespace, pod, anchor, anchors, (a) =>
    createAdmitted(deps, cluster, sel.namespace, a, job, pod),
  );
  if (r === 'created') await created(deps, cluster, sel, pod, anchor.metadata.name, restore ?? job);
  return r;
}

/** One of `anchors` (those of a pod of its name) stands for `pod` (by uid) and holds. */
function standing(anchors: KubeObject[], pod: Pod, k: Keys): boolean {
  return anchors.some((a) => a.metadata.annotations?.[k.anchorUid] === pod.metadata.uid && holding(a));
}

/**
 * The anchors standing for `pod` (by uid, among `anchors`, those of a pod of its name) hold: 'exists'.
 * None holds (none yet, or one expired, evicted or deleted): `anchor` is created (renamed the next
 * generation if the name is taken), and the ones that no longer hold go once it exists.
 */
async function replaceAnchor(
  cluster: Cluster,
  k: Keys,
  namespace: string,
  pod: Pod,
  anchor: KubeObject,
  anchors: KubeObject[],
  create: (anchor: KubeObject) => Promise<{ created: boolean }>,
): Promise<'created' | 'exists'> {
  if (standing(anchors, pod, k)) return 'exists';
  const mine = anchors.filter((a) => a.metadata.annotations?.[k.anchorUid] === pod.metadata.uid);
  const gen = nextGeneration(anchors, k);
  if (gen > 0) {
    anchor.metadata.name = anchorName(pod.metadata.name, gen);
    anchor.metadata.annotations = { ...anchor.metadata.annotations, [k.generation]: String(gen) };
  }
  const r = await create(anchor);
  for (const old of mine)
    await cluster.delete('Pod', namespace, old.metadata.name, { uid: old.metadata.uid ?? '', witness: [old] });
  return r.created ? 'created' : 'exists';
}

/**
 * Counts and logs a new anchor, and tells it where an operator looks (RG_ANCHOR_EVENTS): an
 * AnchorCreated Event on the restore's Job, or on KubeBlocks' Restore (`kubectl describe`), since
 * restore-guard has made a pod in their namespace. Best effort (tell), one per anchor name.
 */
async function created(
  deps: Deps,
  cluster: Cluster,
  sel: Selection,
  pod: Pod,
  anchor: string,
  about: KubeObject | null,
): Promise<void> {
  deps.metrics.anchorsCreated.inc();
  deps.log.info('anchor created', {
    namespace: sel.namespace,
    group: sel.group,
    pod: pod.metadata.name,
    anchor,
    node: pod.spec.nodeName,
  });
  if (!about || !deps.config.RG_ANCHOR_EVENTS) return;
  await tell(cluster, deps.log, {
    about,
    namespace: sel.namespace,
    reason: 'AnchorCreated',
    type: 'Normal',
    message:
      `anchor ${anchor} holds node ${pod.spec.nodeName} for restore pod ${pod.metadata.name} (group ${sel.group}) ` +
      `while the group restores, for at most ${deps.config.RG_ANCHOR_DEADLINE_SECONDS} s unless renewed`,
    fn: 'anchors',
    key: [pod.metadata.uid, anchor],
    now: deps.clock(),
  });
}

/**
 * Creates an anchor; when admission refuses it (a LimitRange minimum, a ResourceQuota), fits it to the
 * namespace's LimitRanges and tries once more. A refusal that stays is reported where an operator
 * looks: a Kubernetes Event on the restore Job, the metric restoreguard_anchors_refused_total, a log
 * line saying what to change. Then it is thrown (the event is redelivered).
 */
async function createAdmitted(
  deps: Deps,
  cluster: Cluster,
  namespace: string,
  anchor: KubeObject,
  job: KubeObject | null,
  pod: Pod,
): Promise<{ created: boolean; object: KubeObject }> {
  const witness = { witness: [pod as unknown as KubeObject] };
  try {
    return await cluster.create('Pod', namespace, anchor, witness);
  } catch (e) {
    const status = e instanceof ClusterRequestError ? e.details?.status : undefined;
    if (status !== 403 && status !== 422) throw e;
    const fit = fitToLimits(anchor, await cluster.list('LimitRange', namespace, ''));
    if (fit.anchor) {
      try {
        const r = await cluster.create('Pod', namespace, fit.anchor, witness);
        deps.metrics.anchorsRefused.inc({ fitted: 'true' });
        deps.log.info('anchor fitted to the namespace', { namespace, anchor: anchor.metadata.name, why: fit.why });
        return r;
      } catch (again) {
        await reportRefusal(deps, cluster, namespace, anchor, job, (again as Error).message);
        throw again;
      }
    }
    await reportRefusal(deps, cluster, namespace, anchor, job, `${(e as Error).message} (${fit.why})`);
    throw e;
  }
}

async function reportRefusal(
  deps: Deps,
  cluster: Cluster,
  namespace: string,
  anchor: KubeObject,
  job: KubeObject | null,
  message: string,
): Promise<void> {
  deps.metrics.anchorsRefused.inc({ fitted: 'false' });
  const hint =
    "the anchor holds its restore's scheduling footprint; allow it: raise RG_ANCHOR_CPU/RG_ANCHOR_MEMORY to the " +
    "namespace's LimitRange minimum, leave room for one pod per restore member in its ResourceQuota, or grant the " +
    'verb (eventing/rbac.yaml)';
  deps.log.warn('anchor refused', { namespace, anchor: anchor.metadata.name, error: message, hint });
  if (!job) return;
  const now = deps.clock();
  await tell(cluster, deps.log, {
    about: job,
    namespace,
    reason: 'AnchorRefused',
    type: 'Warning',
    message: `anchor ${anchor.metadata.name} refused: ${message}. To fix: ${hint}`,
    fn: 'anchors',
    // each refusal tells: the time is part of what makes it this Event
    key: [anchor.metadata.name, now.toISOString()],
    now,
  });
}

/**
 * Deletes the anchor that stands for this pod (by its uid, so never the anchor of a successor pod
 * with the same name), with the anchor's uid as precondition. Returns its name when deleted.
 */
export async function deleteAnchorFor(
  cluster: Cluster,
  k: Keys,
  namespace: string,
  pod: string,
  uid: string | null,
): Promise<string | null> {
  if (!uid) return null;
  let deleted: string | null = null;
  for (const anchor of await anchorsOf(cluster, k, namespace, pod)) {
    if (anchor.metadata.annotations?.[k.anchorUid] !== uid) continue;
    if (
      await cluster.delete('Pod', namespace, anchor.metadata.name, {
        uid: anchor.metadata.uid ?? '',
        witness: [anchor],
      })
    )
      deleted = anchor.metadata.name;
  }
  return deleted;
}

/**
 * Is the failure of a pod that is gone on record? Its Job's history (written by labeling from the
 * live pod, or from completion's judgement of the pod's last state where it vanished first) says
 * this uid failed. A pod whose record says it succeeded, or that is not recorded at all, did not
 * fail as far as anything trustworthy knows: its anchor stays until its group ends (or its deadline).
 */
export async function failureRecorded(
  cluster: Cluster,
  k: Keys,
  namespace: string,
  job: string | null,
  uid: string | null,
): Promise<boolean> {
  if (!job || !uid) return false;
  const j = await cluster.get('Job', namespace, job);
  return historyState(j?.metadata.annotations?.[k.history], uid) === 'failed';
}

/**
 * A finished member's restore pod as what outlives it says it was (the pod itself is gone: release
 * deletes it once recorded): its name, uid and node from its Job's history, which labeling wrote from
 * the live pod; its labels and scheduling rules from the Job's pod template, with the label the Job
 * controller adds (the member of a Job's pods is the Job). Null when the record names no pod or node.
 */
export function recordedPod(job: Job, entry: HistoryEntry): Pod | null {
  if (!entry.pod || !entry.uid || !entry.node || !job.metadata.namespace) return null;
  const tmpl = job.spec.template;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: entry.pod,
      namespace: job.metadata.namespace,
      uid: entry.uid,
      labels: { ...(tmpl.metadata?.labels ?? {}), 'batch.kubernetes.io/job-name': job.metadata.name },
      annotations: { ...(tmpl.metadata?.annotations ?? {}) },
    },
    spec: { ...tmpl.spec, nodeName: entry.node },
    status: { phase: 'Succeeded' },
  };
}

/**
 * Re-anchors a finished member from its record while its group is in flight (the caller knows it
 * is): its anchor was preempted, evicted, drained or lost with its lease, and its pod is gone, so
 * ensureAnchor has nothing to build from. The anchor is rebuilt from the Job (recordedPod) on the
 * recorded node, the next generation when the name is taken; ended anchors of that pod go once it
 * exists. `anchors`: the anchors standing for a pod of that name, as the caller listed them;
 * `restore`: KubeBlocks' Restore of the group as the caller read it (null for a generic group).
 */
export async function reanchorFromRecord(
  deps: Deps,
  cluster: Cluster,
  job: Job,
  entry: HistoryEntry,
  sel: Selection,
  anchors: KubeObject[],
  restore: KubeObject | null,
): Promise<AnchorResult> {
  const k = keys(deps.config.RG_DOMAIN);
  const pod = recordedPod(job, entry);
  if (!pod) return 'skipped';
  const asJob = job as unknown as KubeObject;
  const anchor = buildAnchor(pod, sel, deps.config, anchorOwner(groupOwner(restore, asJob), asJob));
  if (!anchor) return 'not-needed';
  // The Job, read just now, stands for the gone pod in the write guard: its history records it.
  const r = await replaceAnchor(cluster, k, sel.namespace, pod, anchor, anchors, (a) =>
    cluster.create('Pod', sel.namespace, a, { witness: [asJob] }),
  );
  if (r === 'created') {
    deps.metrics.anchorsCreated.inc();
    deps.log.info("anchor recreated from its member's record", {
      namespace: sel.namespace,
      group: sel.group,
      pod: pod.metadata.name,
      job: job.metadata.name,
      anchor: anchor.metadata.name,
      node: entry.node,
    });
  }
  return r;
}
