/**
 * The benchmark on KubeBlocks' own dataprotection controller (v1.0.2, run by the rig): restore groups
 * made by KubeBlocks from a real Restore (test/support/kubeblocks.ts: its Jobs, restore-manager
 * sidecars, its own stop signal, the Serial policy's deletions, the point-in-time backup sets), with
 * restore-guard (arm `guard`, plus the Restores' ApiServerSource) and without (`kubeblocks`).
 *
 * 1 scheduling accuracy: two members of one backup set on one node;
 * 2 what is held after a restore container ended: pod·s of the restore pods and anchors, and their
 *   requests (KubeBlocks' restore pods request nothing; anchors request RG_ANCHOR_CPU/MEMORY);
 * 3 recovery with KubeBlocks' own Jobs (backoffLimit 1, not opted into restore-guard's Job retries):
 *   the restore container fails, the Job's own retry pod starts;
 * 7 deadlock: KubeBlocks' controller paused (SIGSTOP) once a group's Jobs exist, so its stop signal
 *   never comes (a missed reconcile); groups whose Jobs all complete within the cap;
 * 8 workload wait after the Restore is Completed.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NODE_NAMES } from '../rig/index.ts';
import {
  containerTerminatedAt,
  L,
  last,
  nodeAffinityFor,
  placement,
  type Chain,
  type Change,
} from '../support/chain.ts';
import {
  CONTINUOUS_BACKUP,
  createKubeBlocksRestore,
  deleteRestores,
  ensureBackups,
  FULL_BACKUP,
  restorePhase,
  watchRestores,
} from '../support/kubeblocks.ts';
import { anchorsOf, runWorkloadPods } from './groups.ts';
import {
  all,
  atLeast,
  atMost,
  backupSetOf,
  fmtMs,
  fmtNum,
  fmtPct,
  fmtRatio,
  heldAfter,
  markdownTable,
  mean,
  podRequests,
  ratioAtMost,
  setsApart,
  share,
  sharedNodes,
  summarize,
  workloadWaitTable,
  type Row,
} from './table.ts';

export type KbArm = 'kubeblocks' | 'guard';
const ARMS: KbArm[] = ['kubeblocks', 'guard'];
const COMPONENT = 'mysql';
const REPLICAS = 3;
const GiB = 1024 ** 3;
const TERMINAL = new Set(['Succeeded', 'Failed']);
const KB_POD_NAME = 'apps.kubeblocks.io/pod-name';
const KB_COMPONENT = 'apps.kubeblocks.io/component-name';

export interface KbCell {
  policy: 'Serial' | 'Parallel';
  runMs: number;
  /** point in time: the full backup set, then the continuous one, onto the same PVCs */
  pointInTime: boolean;
  nodes: number;
}

export function kbCellLabel(c: KbCell): string {
  const t = c.runMs >= 1000 ? `${c.runMs / 1000} s` : `${c.runMs} ms`;
  return `KubeBlocks ${c.policy}${c.pointInTime ? ', point in time (2 backup sets)' : ''}, ${c.nodes} nodes, ${t}`;
}

export function kbCells(full: boolean): KbCell[] {
  const cells: KbCell[] = [];
  for (const policy of ['Parallel', 'Serial'] as const)
    for (const runMs of full ? [0, 500, 2000] : [0, 500]) cells.push({ policy, runMs, pointInTime: false, nodes: 3 });
  cells.push({ policy: 'Parallel', runMs: 0, pointInTime: true, nodes: 3 });
  if (full) cells.push({ policy: 'Serial', runMs: 0, pointInTime: true, nodes: 3 });
  return cells;
}

/** One restore pod KubeBlocks made (a member's pod of one backup set; a retry is another). */
export interface KbPod {
  member: string;
  set: string;
  job: string;
  pod: string;
  node: string | null;
  createdAt: number;
  boundAt: number | null;
  restoreDoneAt: number | null;
  exitCode: number | null;
  terminalAt: number | null;
  stopSeenAt: number | null;
  recordedAt: number | null;
  anchorAt: number | null;
  anchorGoneAt: number | null;
  cpu: number;
  memory: number;
}

export interface KbGroupResult {
  arm: KbArm;
  name: string;
  cell: string;
  members: KbPod[];
  /** nodes with two members of one backup set */
  shared: string[];
  violated: boolean;
  /** restore pods never placed */
  waited: number;
  /** the Restore's last phase seen, and whether it ended (Completed or Failed) within the cap */
  phase: string | null;
  completed: boolean;
  /** Restore created → its end seen */
  durationMs: number | null;
  /** seconds restore pods stayed after their restore container ended, and anchors after it */
  podHeldS: number;
  anchorHeldS: number;
  /** requests × that time (pods + anchors), and the anchors' part */
  heldCpuS: number;
  heldMemGiBs: number;
  anchorCpuS: number;
  anchorMemGiBs: number;
  stillHeld: boolean;
  workloadWaitMs: number[] | null;
  workloadSkipped?: string;
}

export interface KbGroupSpec {
  arm: KbArm;
  cell: KbCell;
  capMs: number;
  workload: boolean;
  tag: string;
}

let seq = 0;

const restorePods = (c: Chain, name: string): Change[][] =>
  c.observer.groupPods(name).sort((a, b) => a[0]!.at - b[0]!.at);

function firstAt(h: Change[], pred: (o: any, c: Change) => boolean): number | null {
  return h.find((c) => pred(c.obj, c))?.at ?? null;
}

function restoreExit(h: Change[]): number | null {
  for (const c of h) {
    const s = (c.obj.status?.containerStatuses ?? []).find((x: any) => x.name === 'restore' && x.state?.terminated);
    if (s) return s.state.terminated.exitCode as number;
  }
  return null;
}

/** What the watch saw of a KubeBlocks restore pod. */
function kbPod(h: Change[]): KbPod {
  const o = h[0]!.obj;
  const job = (o.metadata.labels?.['job-name'] as string | undefined) ?? '';
  const p = placement(h);
  const req = podRequests(last(h).spec);
  return {
    member: (o.metadata.labels?.[KB_POD_NAME] as string | undefined) ?? job,
    set: backupSetOf(job, [FULL_BACKUP, CONTINUOUS_BACKUP]),
    job,
    pod: o.metadata.name,
    node: p?.node ?? null,
    createdAt: h[0]!.at,
    boundAt: p?.at ?? null,
    restoreDoneAt: containerTerminatedAt(h, 'restore') ?? null,
    exitCode: restoreExit(h),
    terminalAt: firstAt(h, (x, c) => c.type === 'DELETED' || TERMINAL.has(x.status?.phase)),
    stopSeenAt: firstAt(h, (x) => x.metadata.annotations?.[L.stop] === 'true'),
    recordedAt: firstAt(h, (x) => ['succeeded', 'failed'].includes(x.metadata.labels?.[L.state])),
    anchorAt: null,
    anchorGoneAt: null,
    cpu: req.cpu,
    memory: req.memory,
  };
}

/** KubeBlocks' anti-affinity over the component, as the Restore's scheduling spec states it. */
function componentAntiAffinity(instance: string): Record<string, unknown> {
  return {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          labelSelector: { matchLabels: { [L.instance]: instance, [KB_COMPONENT]: COMPONENT } },
          topologyKey: 'kubernetes.io/hostname',
        },
      ],
    },
  };
}

/** Runs one Restore to its end (or the cap) and measures it from the chain's watch. */
export async function runKbGroup(chain: Chain, spec: KbGroupSpec): Promise<KbGroupResult> {
  const name = `${spec.tag}${++seq}-${randomBytes(2).toString('hex')}`;
  const c = spec.cell;
  const t0 = Date.now();
  await createKubeBlocksRestore(chain.kube, chain.ns, {
    name,
    instance: name,
    component: COMPONENT,
    replicas: REPLICAS,
    policy: c.policy,
    pointInTime: c.pointInTime,
    runMs: c.runMs,
    nodes: NODE_NAMES.slice(0, c.nodes),
  });
  let phase: string | null = null;
  let endAt: number | null = null;
  while (Date.now() - t0 < spec.capMs) {
    phase = (await restorePhase(chain.kube, chain.ns, name).catch(() => undefined)) ?? phase;
    if (phase === 'Completed' || phase === 'Failed') {
      endAt = Date.now();
      break;
    }
    await sleep(200);
  }
  const completed = endAt !== null;
  const members = restorePods(chain, name).map(kbPod);
  const shared = sharedNodes(members);
  const waited = members.filter((m) => m.node === null).length;

  // Figure 8: the component's pods that follow the restore, each on the node that holds its data.
  let workloadWaitMs: number[] | null = null;
  let workloadSkipped: string | undefined;
  if (spec.workload) {
    const nodeOf = new Map<string, string>();
    for (const m of members) if (m.node && m.exitCode === 0) nodeOf.set(m.member, m.node);
    if (phase !== 'Completed') workloadSkipped = `Restore ${phase ?? 'not ended'}`;
    else if (waited) workloadSkipped = 'restore pods never placed';
    else if (shared.length) workloadSkipped = 'two members on one node: a workload pod could never be placed';
    else
      workloadWaitMs = await runWorkloadPods(
        chain,
        [...nodeOf].map(([, node], i) => ({
          name: `${name}-w${i}`,
          labels: { [L.instance]: name, [KB_COMPONENT]: COMPONENT },
          affinity: { ...componentAntiAffinity(name), ...(nodeAffinityFor([node]) as object) },
        })),
      );
  }

  // Anchors: wait (bounded) for release to delete them, then read their times.
  if (spec.arm === 'guard') {
    const t = Date.now();
    while (Date.now() - t < 10_000 && anchorsOf(chain.observer, name).some((h) => !gone(h)))
      await chain.observer.next(250);
  }
  const end = Date.now();
  let stillHeld = false;
  let podHeldS = 0;
  let anchorHeldS = 0;
  let heldCpuS = 0;
  let heldMemGiBs = 0;
  let anchorCpuS = 0;
  let anchorMemGiBs = 0;
  for (const m of members) {
    const h = heldAfter(m.restoreDoneAt, m.terminalAt, end);
    stillHeld ||= h.still;
    podHeldS += h.seconds;
    heldCpuS += m.cpu * h.seconds;
    heldMemGiBs += (m.memory / GiB) * h.seconds;
  }
  for (const a of anchorsOf(chain.observer, name)) {
    const o = a[0]!.obj;
    const m = members.find((x) => x.pod === o.metadata.labels?.[L.anchorFor]);
    const goneAt = firstAt(
      a,
      (x, ch) => ch.type === 'DELETED' || !!x.metadata.deletionTimestamp || TERMINAL.has(x.status?.phase),
    );
    if (m) {
      m.anchorAt = a[0]!.at;
      m.anchorGoneAt = goneAt;
    }
    const h = heldAfter(Math.max(m?.restoreDoneAt ?? a[0]!.at, a[0]!.at), goneAt, end);
    stillHeld ||= h.still;
    const req = podRequests(o.spec);
    anchorHeldS += h.seconds;
    anchorCpuS += req.cpu * h.seconds;
    anchorMemGiBs += (req.memory / GiB) * h.seconds;
  }
  return {
    arm: spec.arm,
    name,
    cell: kbCellLabel(c),
    members,
    shared,
    violated: shared.length > 0,
    waited,
    phase,
    completed,
    durationMs: endAt === null ? null : endAt - t0,
    podHeldS,
    anchorHeldS,
    heldCpuS: heldCpuS + anchorCpuS,
    heldMemGiBs: heldMemGiBs + anchorMemGiBs,
    anchorCpuS,
    anchorMemGiBs,
    stillHeld,
    workloadWaitMs,
    ...(workloadSkipped ? { workloadSkipped } : {}),
  };
}

function gone(h: Change[]): boolean {
  return h.some((c) => c.type === 'DELETED' || !!c.obj.metadata.deletionTimestamp || TERMINAL.has(c.obj.status?.phase));
}

/** At most `concurrency` at a time; results in order. */
async function pool<T, R>(items: T[], concurrency: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return out;
}

/**
 * The two arms' chains made ready for KubeBlocks: the Backups and ActionSets in each namespace, the
 * Restores' ApiServerSource for restore-guard; afterwards the Restores deleted while the controller runs.
 */
export async function withKubeBlocks<T>(
  chains: Record<KbArm, Chain>,
  fn: (c: Record<KbArm, Chain>) => Promise<T>,
): Promise<T> {
  for (const c of Object.values(chains)) await ensureBackups(c.kube, c.ns);
  const restores = await watchRestores(chains.guard);
  try {
    return await fn(chains);
  } finally {
    await restores.stop();
    for (const c of Object.values(chains)) await deleteRestores(c.kube, c.ns).catch(() => undefined);
  }
}

export interface KbCellResult {
  cell: KbCell;
  label: string;
  arms: Record<KbArm, KbGroupResult[]>;
}

export async function runKbScheduling(
  withChains: <T>(fn: (c: Record<KbArm, Chain>) => Promise<T>) => Promise<T>,
  o: { cells: KbCell[]; groupsPerCell: number; concurrency: number; capMs: number; progress: (s: string) => void },
): Promise<KbCellResult[]> {
  const out: KbCellResult[] = [];
  for (const [ci, cell] of o.cells.entries()) {
    const label = kbCellLabel(cell);
    const arms = await withChains((chains) =>
      withKubeBlocks(chains, async (ch) => {
        const arms = {} as Record<KbArm, KbGroupResult[]>;
        for (const arm of ci % 2 ? [...ARMS].reverse() : ARMS) {
          const t0 = Date.now();
          const specs = Array.from({ length: o.groupsPerCell }, () => ({
            arm,
            cell,
            capMs: o.capMs,
            workload: true,
            tag: `k${arm[0]}${ci}-`,
          }));
          arms[arm] = await pool(specs, o.concurrency, (s) => runKbGroup(ch[arm], s));
          const r = arms[arm];
          o.progress(
            `fig 1/2/8 KubeBlocks  cell ${ci + 1}/${o.cells.length} ${label}  ${arm.padEnd(10)} ${r.length} groups in ${fmtMs(Date.now() - t0)}: ` +
              `${r.filter((g) => g.violated).length} violated, ${r.filter((g) => g.phase !== 'Completed').length} not Completed`,
          );
        }
        return arms;
      }),
    );
    out.push({ cell, label, arms });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Figure 7: KubeBlocks' controller misses its reconcile (paused), so its stop signal never comes
// ---------------------------------------------------------------------------------------------

export interface KbDeadlockGroup {
  name: string;
  /** Jobs whose pods already had KubeBlocks' stop signal when the controller was paused */
  stoppedBeforePause: number;
  /** every Job Complete (or Failed) within the cap after the pause */
  completed: boolean;
  /** pause → the last Job's end */
  durationMs: number | null;
  members: KbPod[];
}

export interface KbDeadlockResult {
  capMs: number;
  runMs: number;
  arms: Record<KbArm, KbDeadlockGroup[]>;
}

function jobsOf(c: Chain, name: string): Change[][] {
  return c.observer.histories('Job', (o) => o.metadata.labels?.[L.kbRestore] === name);
}
const jobEnd = (h: Change[]) =>
  firstAt(h, (o) =>
    (o.status?.conditions ?? []).some((x: any) => ['Complete', 'Failed'].includes(x.type) && x.status === 'True'),
  );

/**
 * Per arm: `groups` Parallel Restores of 3 replicas whose restores take `runMs`; once every group's
 * 3 Jobs exist, KubeBlocks' controller is paused (SIGSTOP to the rig's process) for the cap, then
 * resumed (SIGCONT, always). The Job controller and the scheduler keep running.
 */
export async function runKbDeadlock(
  chains: Record<KbArm, Chain>,
  o: { groups: number; capMs: number; runMs: number; controllerPid: number; progress: (s: string) => void },
): Promise<KbDeadlockResult> {
  const arms = {} as Record<KbArm, KbDeadlockGroup[]>;
  for (const arm of ARMS) {
    const c = chains[arm];
    const names = Array.from({ length: o.groups }, () => `kd${arm[0]}-${++seq}-${randomBytes(2).toString('hex')}`);
    for (const name of names)
      await createKubeBlocksRestore(c.kube, c.ns, {
        name,
        instance: name,
        component: COMPONENT,
        replicas: REPLICAS,
        policy: 'Parallel',
        runMs: o.runMs,
        nodes: [...NODE_NAMES],
      });
    const t = Date.now();
    while (Date.now() - t < 60_000 && names.some((n) => jobsOf(c, n).length < REPLICAS)) await c.observer.next(250);
    let pausedAt = 0;
    const stopped = new Map<string, number>();
    try {
      process.kill(o.controllerPid, 'SIGSTOP');
      pausedAt = Date.now();
      for (const n of names)
        stopped.set(
          n,
          restorePods(c, n).filter((h) => h.some((x) => x.obj.metadata.annotations?.[L.stop] === 'true')).length,
        );
      const allDone = () =>
        names.every((n) => jobsOf(c, n).length >= REPLICAS && jobsOf(c, n).every((h) => jobEnd(h) !== null));
      while (Date.now() - pausedAt < o.capMs && !allDone()) await c.observer.next(250);
    } finally {
      process.kill(o.controllerPid, 'SIGCONT');
    }
    arms[arm] = names.map((name) => {
      const ends = jobsOf(c, name).map(jobEnd);
      const completed = ends.length >= REPLICAS && ends.every((e) => e !== null && e - pausedAt <= o.capMs);
      return {
        name,
        stoppedBeforePause: stopped.get(name) ?? 0,
        completed,
        durationMs: completed ? Math.max(...(ends as number[])) - pausedAt : null,
        members: restorePods(c, name).map(kbPod),
      };
    });
    o.progress(
      `fig 7 KubeBlocks  ${arm.padEnd(10)} ${o.groups} groups, controller paused ${fmtMs(o.capMs)}: ${arms[arm].filter((g) => g.completed).length} completed`,
    );
    // The controller runs again: let it finish what it can before the next arm (bounded).
    const r = Date.now();
    while (Date.now() - r < 30_000) {
      const phases = await Promise.all(names.map((n) => restorePhase(c.kube, c.ns, n).catch(() => undefined)));
      if (phases.every((p) => p === 'Completed' || p === 'Failed')) break;
      await sleep(500);
    }
  }
  return { capMs: o.capMs, runMs: o.runMs, arms };
}

// ---------------------------------------------------------------------------------------------
// Figure 3: a failed restore with KubeBlocks' own Jobs (backoffLimit 1, no opt-in label)
// ---------------------------------------------------------------------------------------------

export interface KbRecoverySample {
  arm: KbArm;
  name: string;
  firstNode: string | null;
  /** the first pod's restore container ended with exit 1 (seen) */
  failedAt: number | null;
  /** failure → stop signal on that pod, → that pod Failed, → the Job's next pod created, → Running */
  stopMs: number | null;
  podFailedMs: number | null;
  replacementCreatedMs: number | null;
  recoveryMs: number | null;
  replacementNode: string | null;
  discarded?: string;
}

export async function kbRecoverySample(chain: Chain, arm: KbArm, capMs: number): Promise<KbRecoverySample> {
  const name = `kr${arm[0]}-${++seq}-${randomBytes(2).toString('hex')}`;
  const base = {
    arm,
    name,
    firstNode: null,
    failedAt: null,
    stopMs: null,
    podFailedMs: null,
    replacementCreatedMs: null,
    recoveryMs: null,
    replacementNode: null,
  };
  await createKubeBlocksRestore(chain.kube, chain.ns, {
    name,
    instance: name,
    component: COMPONENT,
    replicas: 1,
    policy: 'Parallel',
    runMs: 1000,
    exitCode: 1,
    nodes: NODE_NAMES.slice(0, 3),
  });
  try {
    const wait = async <T>(ms: number, f: () => T | null | undefined): Promise<T | null> => {
      const t = Date.now();
      for (;;) {
        const v = f();
        if (v !== null && v !== undefined) return v;
        if (Date.now() - t > ms) return null;
        await chain.observer.next(250);
      }
    };
    const first = await wait(30_000, () => {
      const h = restorePods(chain, name)[0];
      return h && containerTerminatedAt(h, 'restore') !== undefined ? h : null;
    });
    if (!first) return { ...base, discarded: 'the restore container never ended' };
    const failedAt = containerTerminatedAt(first, 'restore')!;
    const uid = first[0]!.obj.metadata.uid;
    const rep = await wait(capMs, () => {
      const h = restorePods(chain, name).find((x) => x[0]!.obj.metadata.uid !== uid);
      const running = h?.find((c) => c.obj.status?.phase === 'Running');
      return h && running ? { h, at: running.at } : null;
    });
    const since = (t: number | null | undefined) => (t === null || t === undefined ? null : t - failedAt);
    return {
      ...base,
      firstNode: placement(first)?.node ?? null,
      failedAt,
      stopMs: since(firstAt(first, (o) => o.metadata.annotations?.[L.stop] === 'true')),
      podFailedMs: since(firstAt(first, (o) => o.status?.phase === 'Failed')),
      replacementCreatedMs: since(rep?.h[0]?.at),
      recoveryMs: since(rep?.at),
      replacementNode: rep ? (placement(rep.h)?.node ?? null) : null,
    };
  } finally {
    await chain.kube
      .del(`/apis/dataprotection.kubeblocks.io/v1alpha1/namespaces/${chain.ns}/restores/${name}`)
      .catch(() => undefined);
  }
}

export async function runKbRecovery(
  chains: Record<KbArm, Chain>,
  samples: number,
  capMs: number,
  progress: (s: string) => void,
): Promise<KbRecoverySample[]> {
  const out: KbRecoverySample[] = [];
  for (let i = 0; i < samples; i++) {
    for (const arm of i % 2 ? [...ARMS].reverse() : ARMS) {
      const s = await kbRecoverySample(chains[arm], arm, capMs);
      out.push(s);
      progress(
        `fig 3 KubeBlocks  sample ${i + 1}/${samples} ${arm.padEnd(10)} ${s.discarded ? `discarded: ${s.discarded}` : `restore exit 1 → stop ${fmtMs(s.stopMs ?? NaN)}, pod Failed ${fmtMs(s.podFailedMs ?? NaN)}, next pod Running ${s.recoveryMs === null ? 'never' : fmtMs(s.recoveryMs)} on ${s.replacementNode ?? '—'}`}`,
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rows (pure)
// ---------------------------------------------------------------------------------------------

const violationShare = (gs: KbGroupResult[]) => share(gs.filter((g) => g.violated).length, gs.length);
const notCompleted = (gs: KbGroupResult[]) => gs.filter((g) => g.phase !== 'Completed').length;

export function kbFigure1(cells: KbCellResult[]): { rows: Row[]; detail: string } {
  const rows: Row[] = cells.map((c) => {
    const g = c.arms.guard;
    const k = c.arms.kubeblocks;
    const waited = g.reduce((n, x) => n + x.waited, 0);
    const notes = [
      waited ? `${waited} restore pod(s) waited Pending` : '',
      notCompleted(g) ? `${notCompleted(g)} guard Restore(s) not Completed within the cap` : '',
      notCompleted(k) ? `${notCompleted(k)} KubeBlocks-alone Restore(s) not Completed within the cap` : '',
    ]
      .filter(Boolean)
      .join('; ');
    return {
      figure: '1',
      title: 'scheduling accuracy: groups with two members on one node',
      cell: `${c.label} (${g.length} groups)`,
      value: fmtPct(violationShare(g)) + (waited ? ` (${waited} waited)` : ''),
      baseline: `KubeBlocks alone ${fmtPct(violationShare(k))}`,
      ratio: '—',
      target: '0 in every cell',
      verdict: g.length && g.every((x) => !x.violated) ? 'met' : 'MISSED',
      ...(notes ? { note: notes } : {}),
    };
  });
  // Point in time: each member's second backup set belongs on the node of its first.
  const apart = (gs: KbGroupResult[]) =>
    setsApart(gs.flatMap((g) => g.members.map((m) => ({ ...m, ok: m.exitCode === 0 }))));
  for (const c of cells.filter((x) => x.cell.pointInTime)) {
    const g = apart(c.arms.guard);
    const k = apart(c.arms.kubeblocks);
    rows.push({
      figure: '1',
      title: "point in time: a member's backup sets restored on different nodes",
      cell: `${c.label} (${g.together + g.apart} members)`,
      value: `${g.apart} of ${g.together + g.apart}`,
      baseline: `KubeBlocks alone ${k.apart} of ${k.together + k.apart}`,
      ratio: '—',
      target: '0 in every cell',
      verdict: g.together + g.apart > 0 && g.apart === 0 ? 'met' : 'MISSED',
    });
  }
  const detail = markdownTable(
    ['cell', 'arm', 'groups', 'two on one node', 'pods waited', 'Restore not Completed', 'Restore time p50'],
    cells.flatMap((c) =>
      ARMS.map((a) => {
        const gs = c.arms[a];
        return [
          c.label,
          a,
          String(gs.length),
          `${gs.filter((g) => g.violated).length} (${fmtPct(violationShare(gs))})`,
          String(gs.reduce((n, g) => n + g.waited, 0)),
          String(notCompleted(gs)),
          fmtMs(summarize(gs.map((g) => g.durationMs ?? NaN)).p50),
        ];
      }),
    ),
  );
  return { rows, detail };
}

function kbHeld(gs: KbGroupResult[]) {
  return {
    podS: mean(gs.map((g) => g.podHeldS + g.anchorHeldS)),
    anchorS: mean(gs.map((g) => g.anchorHeldS)),
    cpu: mean(gs.map((g) => g.heldCpuS)),
    mem: mean(gs.map((g) => g.heldMemGiBs)),
    still: gs.filter((g) => g.stillHeld).length,
  };
}

export function kbFigure2(cells: KbCellResult[]): { rows: Row[]; detail: string } {
  const g = kbHeld(cells.flatMap((c) => c.arms.guard));
  const k = kbHeld(cells.flatMap((c) => c.arms.kubeblocks));
  const n = cells.reduce((x, c) => x + c.arms.guard.length, 0);
  const rows: Row[] = [
    {
      figure: '2',
      title: 'resources held after the restore finished, per group',
      cell: `every KubeBlocks cell (${n} groups): pods × s (restore pods + anchors), requests × s`,
      value: `${fmtNum(g.podS, 2)} pod·s (anchors ${fmtNum(g.anchorS, 2)}), ${fmtNum(g.cpu, 4)} CPU·s, ${fmtNum(g.mem, 4)} GiB·s`,
      baseline: `KubeBlocks alone ${fmtNum(k.podS, 2)} pod·s, ${fmtNum(k.cpu, 4)} CPU·s, ${fmtNum(k.mem, 4)} GiB·s`,
      ratio: `${fmtRatio(g.podS, k.podS)} pod·s`,
      target: '≤ 10% of baseline',
      verdict: all([ratioAtMost(g.podS, k.podS, 0.1), ratioAtMost(g.cpu, k.cpu, 0.1), ratioAtMost(g.mem, k.mem, 0.1)]),
      note:
        "KubeBlocks' restore pods request nothing and KubeBlocks stops a backup set's sidecars itself once its restore containers are done; anchors request RG_ANCHOR_CPU/MEMORY (1m/8Mi) until the Restore is Completed" +
        (g.still || k.still
          ? `; still held at the end of measurement: guard ${g.still}, KubeBlocks alone ${k.still} group(s)`
          : ''),
    },
  ];
  const detail = markdownTable(
    ['cell', 'KubeBlocks alone pod·s', 'guard pod·s (of which anchors)', 'ratio', 'guard CPU·s / GiB·s (all anchors)'],
    cells.map((c) => {
      const kk = kbHeld(c.arms.kubeblocks);
      const gg = kbHeld(c.arms.guard);
      return [
        c.label,
        fmtNum(kk.podS, 2),
        `${fmtNum(gg.podS, 2)} (${fmtNum(gg.anchorS, 2)})`,
        fmtRatio(gg.podS, kk.podS),
        `${fmtNum(gg.cpu, 4)} / ${fmtNum(gg.mem, 4)}`,
      ];
    }),
  );
  return { rows, detail };
}

export function kbFigure8(cells: KbCellResult[]): { rows: Row[]; detail: string } {
  const waits = (a: KbArm) => cells.flatMap((c) => c.arms[a]).flatMap((g) => g.workloadWaitMs ?? []);
  const skipped = (a: KbArm) => cells.flatMap((c) => c.arms[a]).filter((g) => g.workloadSkipped).length;
  const g = summarize(waits('guard'));
  const k = summarize(waits('kubeblocks'));
  const never = waits('guard').filter((x) => !Number.isFinite(x)).length;
  const rows: Row[] = [
    {
      figure: '8',
      title: 'workload wait: creation → Running after a group',
      cell: `KubeBlocks cells, every workload pod after the Restore Completed (${g.n} pods)`,
      value: `p50 ${fmtMs(g.p50)}, p99 ${fmtMs(g.p99)}`,
      baseline: `KubeBlocks alone p50 ${fmtMs(k.p50)}, p99 ${fmtMs(k.p99)}`,
      ratio: `${fmtRatio(g.p99, k.p99)} (p99)`,
      target: 'p99 < 1 s',
      verdict: never ? 'MISSED' : atMost(g.p99, 999.999),
      ...(never || skipped('guard') || skipped('kubeblocks')
        ? {
            note: `${never} pod(s) not Running within 15 s; groups skipped: guard ${skipped('guard')}, KubeBlocks alone ${skipped('kubeblocks')}`,
          }
        : {}),
    },
  ];
  const detail = workloadWaitTable(cells, 'guard', 'kubeblocks', 'KubeBlocks alone', 'alone');
  return { rows, detail };
}

export function kbFigure7(r: KbDeadlockResult): Row[] {
  // A group whose stop signal was already sent before the pause (by KubeBlocks, or by restore-guard)
  // says nothing about a stop that never comes: it is left out and counted in the note.
  const valid = (gs: KbDeadlockGroup[]) => gs.filter((g) => g.stoppedBeforePause === 0);
  const done = (gs: KbDeadlockGroup[]) => share(valid(gs).filter((g) => g.completed).length, valid(gs).length);
  const g = valid(r.arms.guard);
  const k = valid(r.arms.kubeblocks);
  const t = summarize(g.filter((x) => x.completed).map((x) => x.durationMs ?? NaN));
  const left = r.arms.guard.length - g.length + r.arms.kubeblocks.length - k.length;
  return [
    {
      figure: '7',
      title: 'deadlock: stop signal never sent, groups completed',
      cell: `KubeBlocks Parallel, ${fmtMs(r.runMs)} restores, its controller paused once the Jobs exist (${g.length} / ${k.length} groups, cap ${fmtMs(r.capMs)})`,
      value: `${fmtPct(done(r.arms.guard))} (p50 ${fmtMs(t.p50)} after the pause)`,
      baseline: `KubeBlocks alone ${fmtPct(done(r.arms.kubeblocks))}`,
      ratio: '—',
      target: '100%',
      verdict: atLeast(done(r.arms.guard), 1),
      ...(left
        ? { note: `${left} group(s) left out: a pod already had its stop signal when the controller was paused` }
        : {}),
    },
  ];
}

export function kbFigure3(samples: KbRecoverySample[]): { rows: Row[]; detail: string } {
  const use = (a: KbArm) => samples.filter((s) => s.arm === a && !s.discarded);
  const g = use('guard');
  const k = use('kubeblocks');
  const times = (xs: KbRecoverySample[]) => summarize(xs.map((s) => s.recoveryMs ?? NaN));
  const never = (xs: KbRecoverySample[]) => xs.filter((s) => s.recoveryMs === null).length;
  const elsewhere = (xs: KbRecoverySample[]) =>
    share(xs.filter((s) => s.replacementNode && s.replacementNode !== s.firstNode).length, xs.length);
  const gt = times(g);
  const kt = times(k);
  const discarded = samples.filter((s) => s.discarded).length;
  const note = [
    "KubeBlocks' Jobs carry no restoreguard.dev/retry label, so restore-guard's replacement Job does not apply: the retry is the Job's own (backoffLimit 1); restore-guard can only stop the failed pod's sidecar and remove its anchor",
    never(g) ? `${never(g)} guard failure(s) not retried within the cap` : '',
    never(k) ? `${never(k)} KubeBlocks-alone failure(s) not retried within the cap` : '',
    discarded ? `${discarded} sample(s) discarded` : '',
  ]
    .filter(Boolean)
    .join('; ');
  const rows: Row[] = [
    {
      figure: '3',
      title: 'recovery: retryable failure → replacement Running',
      cell: `KubeBlocks Job (backoffLimit 1, no opt-in), restore exits 1 (${g.length} / ${k.length} samples)`,
      value: `p50 ${fmtMs(gt.p50)}, max ${fmtMs(gt.max)}`,
      baseline: `KubeBlocks alone p50 ${fmtMs(kt.p50)}, max ${fmtMs(kt.max)}`,
      ratio: `${fmtRatio(gt.p50, kt.p50)} (p50)`,
      target: '≤ 20% of baseline',
      verdict: never(g) ? 'MISSED' : all([ratioAtMost(gt.p50, kt.p50, 0.2), ratioAtMost(gt.max, kt.p50, 0.2)]),
      note,
    },
    {
      figure: '3',
      title: 'recovery: replacement on another node',
      cell: 'KubeBlocks Job, 3 nodes allowed',
      value: fmtPct(elsewhere(g)),
      baseline: `KubeBlocks alone ${fmtPct(elsewhere(k))}`,
      ratio: '—',
      target: '100%',
      verdict: atLeast(elsewhere(g), 1),
    },
  ];
  const med = (xs: KbRecoverySample[], f: (s: KbRecoverySample) => number | null) =>
    fmtMs(summarize(xs.map((s) => f(s) ?? NaN)).p50);
  const detail = markdownTable(
    [
      'arm',
      'samples',
      'exit 1 → stop signal (p50)',
      '→ pod Failed (p50)',
      "→ Job's next pod created (p50)",
      '→ Running (p50)',
      'next pod on another node',
    ],
    ARMS.map((a) => {
      const xs = use(a);
      return [
        a,
        String(xs.length),
        med(xs, (s) => s.stopMs),
        med(xs, (s) => s.podFailedMs),
        med(xs, (s) => s.replacementCreatedMs),
        med(xs, (s) => s.recoveryMs),
        fmtPct(elsewhere(xs)),
      ];
    }),
  );
  return { rows, detail };
}
