/**
 * Drives one restore group on the rig through one arm and reads what happened from the chain's
 * watch history (arrival times of watch events, ms precision; the API's own timestamps have
 * second precision).
 *
 * Arms:
 * - plain:   Jobs whose pods finish when the restore does (no sidecar), nothing else runs;
 * - sidecar: KubeBlocks' hand-off: pods with the restore-manager sidecar (KWOK stage sidecar) and
 *            an operator emulator here that sets `stop-restore-manager` on the group's pods once
 *            every restore container of every Job created so far has terminated (with KubeBlocks'
 *            Serial policy the next Job is only created after the previous one completed, so the
 *            "group so far" is one pod: the sidecar cannot help, as in KubeBlocks);
 * - guard:   the same sidecar pods (KubeBlocks profile) with restore-guard running; the operator
 *            emulator still runs (KubeBlocks does not stop doing its part) unless switched off.
 */
import { randomBytes } from 'node:crypto';
import {
  L,
  type Observer,
  antiAffinityFor,
  containerTerminatedAt,
  isGone,
  last,
  nodeAffinityFor,
  placement,
  type Chain,
  type Change,
  type RestoreGroup,
} from '../support/chain.ts';
import { podRequests } from './table.ts';

export type Arm = 'plain' | 'sidecar' | 'guard';

export interface GroupSpec {
  arm: Arm;
  /** the nodes the group may use (required node affinity) */
  nodes: string[];
  sequential: boolean;
  /** restore run time per member, ms */
  durations: number[];
  /** the operator emulator sends the stop signal (sidecar and guard arms) */
  emulator: boolean;
  /** give up on the group after this long */
  capMs: number;
  /** after the group, create its workload pods and time them (figure 8) */
  workload: boolean;
  /** name prefix */
  tag?: string;
}

export interface MemberResult {
  job: string;
  pod: string | null;
  node: string | null;
  boundAt: number | null;
  restoreDoneAt: number | null;
  terminalAt: number | null;
  stopSeenAt: number | null;
  recordedAt: number | null;
  anchorAt: number | null;
  anchorGoneAt: number | null;
  /**
   * ms from the restore end that triggered the stop signal (the latest restore end of the group
   * before the stop was seen) to the stop annotation seen: the reaction time of whoever sent it
   */
  stopReactionMs: number | null;
  cpu: number;
  memory: number;
}

export interface GroupResult {
  arm: Arm;
  name: string;
  spec: Omit<GroupSpec, 'arm'>;
  members: MemberResult[];
  /** two members on one node */
  violated: boolean;
  /** members never bound by the end (restore-guard: "not violated, waited") */
  waited: number;
  /** every Job Complete or Failed within the cap */
  completed: boolean;
  /** ms from the first Job's creation to the last Job's terminal condition */
  durationMs: number | null;
  /** CPU core·seconds and memory GiB·seconds reserved after restore containers finished (pods + anchors) */
  heldCpuS: number;
  heldMemGiBs: number;
  /** of which anchors */
  anchorCpuS: number;
  anchorMemGiBs: number;
  /** a pod or anchor still held when measurement ended (its time counts until then) */
  stillHeld: boolean;
  /** workload pods: ms from creation to Running (null: not run; Infinity: never within the cap) */
  workloadWaitMs: number[] | null;
  /** why the workload was not run */
  workloadSkipped?: string;
}

const GiB = 1024 ** 3;
const TERMINAL = new Set(['Succeeded', 'Failed']);
let seq = 0;

/**
 * An index over the chain's watch history (Observer.histories scans every object on every call,
 * which the many waiting groups would do on every change). Histories are live arrays the observer
 * appends to, so indexing each object once, when first seen, is enough.
 */
class Index {
  private seen = 0;
  readonly byJob = new Map<string, Change[][]>();
  readonly byName = new Map<string, Change[][]>();
  readonly anchorsByGroup = new Map<string, Change[][]>();
  private readonly obs: Observer;
  constructor(obs: Observer) {
    this.obs = obs;
  }
  refresh(): this {
    if (this.obs.changes.size === this.seen) return this;
    let i = 0;
    for (const [key, h] of this.obs.changes) {
      if (i++ < this.seen) continue;
      const o = h[0]!.obj;
      const kind = key.slice(0, key.indexOf('/'));
      const add = (m: Map<string, Change[][]>, k: string | undefined) => {
        if (!k) return;
        const l = m.get(k);
        if (l) l.push(h);
        else m.set(k, [h]);
      };
      add(this.byName, `${kind}/${o.metadata.name}`);
      if (kind === 'Pod') {
        if (o.metadata.labels?.[L.anchorFor]) add(this.anchorsByGroup, o.metadata.labels?.[L.group]);
        else add(this.byJob, o.metadata.labels?.['job-name']);
      }
    }
    this.seen = this.obs.changes.size;
    return this;
  }
}
const indexes = new WeakMap<Observer, Index>();
export function index(obs: Observer): Index {
  let x = indexes.get(obs);
  if (!x) {
    x = new Index(obs);
    indexes.set(obs, x);
  }
  return x.refresh();
}

function jobDone(obs: Observer, job: string): boolean {
  const hs = index(obs).byName.get(`Job/${job}`) ?? [];
  return hs.some((h) =>
    (last(h).status?.conditions ?? []).some((c: any) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True'),
  );
}

/** The history of the (first) pod of a Job; one pod per Job here (backoffLimit 0). */
export function podOf(obs: Observer, job: string): Change[] | undefined {
  const hs = index(obs).byJob.get(job) ?? [];
  return [...hs].sort((a, b) => a[0]!.at - b[0]!.at)[0];
}

export function podsOfJob(obs: Observer, job: string): Change[][] {
  return [...(index(obs).byJob.get(job) ?? [])].sort((a, b) => a[0]!.at - b[0]!.at);
}

export function anchorsOf(obs: Observer, group: string): Change[][] {
  return index(obs).anchorsByGroup.get(group) ?? [];
}

export function byName(obs: Observer, kind: string, name: string): Change[] | undefined {
  return index(obs).byName.get(`${kind}/${name}`)?.[0];
}

function firstAt(h: Change[], pred: (o: any, c: Change) => boolean): number | null {
  return h.find((c) => pred(c.obj, c))?.at ?? null;
}

/**
 * The operator emulator's step: when every Job created so far has a pod whose restore container
 * terminated, set the stop annotation on those pods that still run. Returns the pods it patched.
 */
async function emulatorStep(chain: Chain, group: RestoreGroup, patched: Set<string>): Promise<void> {
  const created = [...group.created.keys()];
  if (created.length === 0) return;
  const pods = created.map((j) => podOf(chain.observer, j));
  if (!pods.every((h) => h && containerTerminatedAt(h, 'restore') !== undefined)) return;
  for (const h of pods) {
    const o = last(h!);
    if (
      isGone(h!) ||
      TERMINAL.has(o.status?.phase) ||
      o.metadata.annotations?.[L.stop] === 'true' ||
      patched.has(o.metadata.uid)
    )
      continue;
    patched.add(o.metadata.uid);
    await chain.kube
      .patch(`/api/v1/namespaces/${chain.ns}/pods/${o.metadata.name}`, {
        metadata: { annotations: { [L.stop]: 'true' } },
      })
      .catch(() => undefined);
  }
}

/** Runs one group to its end (or the cap) and measures it. */
export async function runGroup(chain: Chain, spec: GroupSpec): Promise<GroupResult> {
  const obs = chain.observer;
  const name = `${spec.tag ?? 'g'}${++seq}-${randomBytes(2).toString('hex')}`;
  const sidecar = spec.arm !== 'plain';
  const group = await chain.createRestoreGroup({
    name,
    profile: sidecar ? 'kubeblocks' : 'generic',
    sidecar,
    replicas: spec.durations.length,
    runMs: spec.durations,
    sequential: spec.sequential,
    antiAffinity: true,
    nodes: spec.nodes,
    backoffLimit: 0,
    // These emulated groups have no KubeBlocks Restore, whose phase tells restore-guard that a Serial
    // group is done; the declared group size stands in for it (generic Jobs declare it anyway). The
    // KubeBlocks cells (kubeblocks.ts) make real Restores.
    declareSize: true,
  });
  const t0 = Date.now();
  const patched = new Set<string>();
  let completed = false;
  try {
    while (Date.now() - t0 < spec.capMs) {
      if (group.created.size === group.replicas && group.jobNames.every((j) => jobDone(obs, j))) {
        completed = true;
        break;
      }
      if (spec.emulator && sidecar) await emulatorStep(chain, group, patched);
      await obs.next(250);
    }
  } finally {
    group.stop();
  }
  const doneAt = Date.now();

  // Members and where they landed.
  const members: MemberResult[] = group.jobNames.map((job) => {
    const h = podOf(obs, job);
    const p = h ? placement(h) : undefined;
    const pod = h ? last(h) : null;
    const req = podRequests(pod?.spec);
    return {
      job,
      pod: pod?.metadata.name ?? null,
      node: p?.node ?? null,
      boundAt: p?.at ?? null,
      restoreDoneAt: h ? (containerTerminatedAt(h, 'restore') ?? null) : null,
      terminalAt: h ? firstAt(h, (o, c) => c.type === 'DELETED' || TERMINAL.has(o.status?.phase)) : null,
      stopSeenAt: h ? firstAt(h, (o) => o.metadata.annotations?.[L.stop] === 'true') : null,
      recordedAt: h ? firstAt(h, (o) => ['succeeded', 'failed'].includes(o.metadata.labels?.[L.state])) : null,
      anchorAt: null,
      anchorGoneAt: null,
      stopReactionMs: null,
      cpu: req.cpu,
      memory: req.memory,
    };
  });
  for (const m of members) {
    if (m.stopSeenAt === null) continue;
    const ends = members.map((x) => x.restoreDoneAt).filter((t): t is number => t !== null && t <= m.stopSeenAt!);
    if (ends.length) m.stopReactionMs = m.stopSeenAt - Math.max(...ends);
  }
  const bound = members.filter((m) => m.node);
  const violated = new Set(bound.map((m) => m.node)).size < bound.length;
  const waited = members.length - bound.length;

  // Figure 8: the workload that follows the restore, on the nodes that hold the data.
  let workloadWaitMs: number[] | null = null;
  let workloadSkipped: string | undefined;
  if (spec.workload) {
    if (!completed) workloadSkipped = 'group did not complete';
    else if (waited) workloadSkipped = 'members never placed';
    else if (violated) workloadSkipped = 'two members on one node: a workload pod could never be placed';
    else
      workloadWaitMs = await runWorkload(
        chain,
        group,
        members.map((m) => m.node!),
      );
  }

  // Anchors: wait (bounded) for release to delete them, then read their times.
  if (spec.arm === 'guard') {
    const t = Date.now();
    while (Date.now() - t < 10_000 && anchorsOf(obs, name).some((h) => !isGone(h))) await obs.next(250);
    // Records: read now, not when the last Job finished. The Job controller may complete a Job
    // before labeling's record lands on its ended pod (the emulator stops the last member without
    // waiting for it): read then, such a record counted as never made (the 11-29 full run's 3 pods
    // "never got one"; test/bench/late-records.ts shows it). A record still missing after this
    // bounded wait is reported as missing.
    const recordedAt = (job: string) => {
      const h = podOf(obs, job);
      return h ? firstAt(h, (o) => ['succeeded', 'failed'].includes(o.metadata.labels?.[L.state])) : null;
    };
    const t2 = Date.now();
    while (Date.now() - t2 < 10_000 && members.some((m) => m.terminalAt !== null && recordedAt(m.job) === null))
      await obs.next(250);
    for (const m of members) m.recordedAt = recordedAt(m.job);
  }
  const end = Date.now();
  let stillHeld = false;
  let heldCpuS = 0;
  let heldMemGiBs = 0;
  let anchorCpuS = 0;
  let anchorMemGiBs = 0;
  for (const m of members) {
    if (m.restoreDoneAt === null) continue;
    if (m.terminalAt === null) stillHeld = true;
    const s = Math.max(0, (m.terminalAt ?? end) - m.restoreDoneAt) / 1000;
    heldCpuS += m.cpu * s;
    heldMemGiBs += (m.memory / GiB) * s;
  }
  for (const h of anchorsOf(obs, name)) {
    const a = h[0]!.obj;
    const m = members.find((x) => x.pod === a.metadata.labels?.[L.anchorFor]);
    const gone = h.find((c) => c.type === 'DELETED' || TERMINAL.has(c.obj.status?.phase))?.at ?? null;
    if (m) {
      m.anchorAt = h[0]!.at;
      m.anchorGoneAt = gone;
    }
    if (gone === null) stillHeld = true;
    const from = m?.restoreDoneAt ?? h[0]!.at;
    const s = Math.max(0, (gone ?? end) - Math.max(from, h[0]!.at)) / 1000;
    const req = podRequests(a.spec);
    anchorCpuS += req.cpu * s;
    anchorMemGiBs += (req.memory / GiB) * s;
  }
  heldCpuS += anchorCpuS;
  heldMemGiBs += anchorMemGiBs;

  const createdTimes = [...group.created.values()];
  const jobEnds = group.jobNames.map((j) => {
    const h = byName(obs, 'Job', j);
    return h
      ? firstAt(h, (o) =>
          (o.status?.conditions ?? []).some((c: any) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True'),
        )
      : null;
  });
  const durationMs =
    completed && createdTimes.length && jobEnds.every((x) => x !== null)
      ? Math.max(...(jobEnds as number[])) - Math.min(...createdTimes)
      : null;
  void doneAt;
  const { arm, ...rest } = spec;
  return {
    arm,
    name,
    spec: rest,
    members,
    violated,
    waited,
    completed,
    durationMs,
    heldCpuS,
    heldMemGiBs,
    anchorCpuS,
    anchorMemGiBs,
    stillHeld,
    workloadWaitMs,
    ...(workloadSkipped ? { workloadSkipped } : {}),
  };
}

/**
 * Creates the group's workload pods (same instance label and anti-affinity as the restore, each
 * required onto the node that holds its member's data) and returns creation → Running per pod
 * (Infinity when it is not Running within 15 s). Deletes them afterwards.
 */
async function runWorkload(chain: Chain, group: RestoreGroup, nodes: string[]): Promise<number[]> {
  return runWorkloadPods(
    chain,
    nodes.map((node, i) => ({
      name: `${group.name}-w${i}`,
      labels: { [L.instance]: group.instance },
      affinity: { ...(antiAffinityFor(group.instance) as object), ...(nodeAffinityFor([node]) as object) },
    })),
  );
}

/** Creates the pods, returns creation → Running per pod (Infinity: not Running within 15 s), deletes them. */
export async function runWorkloadPods(
  chain: Chain,
  pods: { name: string; labels: Record<string, string>; affinity: unknown }[],
): Promise<number[]> {
  const createdAt: number[] = [];
  for (const p of pods) {
    createdAt.push(Date.now());
    await chain.createPod(p.name, { labels: p.labels, affinity: p.affinity });
  }
  const runningAt = (n: string): number | null => {
    const h = byName(chain.observer, 'Pod', n);
    return h ? firstAt(h, (o) => o.status?.phase === 'Running') : null;
  };
  const names = pods.map((p) => p.name);
  const t = Date.now();
  while (Date.now() - t < 15_000 && names.some((n) => runningAt(n) === null)) await chain.observer.next(250);
  const waits = names.map((n, i) => {
    const r = runningAt(n);
    return r === null ? Infinity : r - createdAt[i]!;
  });
  for (const n of names) await chain.kube.del(`/api/v1/namespaces/${chain.ns}/pods/${n}`).catch(() => undefined);
  return waits;
}

/** Runs specs with at most `concurrency` groups in flight; results in spec order. */
export async function runGroups(
  chain: Chain,
  specs: GroupSpec[],
  concurrency: number,
  progress?: (done: number) => void,
): Promise<GroupResult[]> {
  const out: GroupResult[] = new Array(specs.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= specs.length) return;
      out[i] = await runGroup(chain, specs[i]!);
      progress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, specs.length)) }, worker));
  return out;
}
