/**
 * The chaos suite's invariants, checked after the run from two independent records: the suite's own
 * watch of the namespace's Pods, Jobs and PVCs (every change, in resourceVersion order per kind) and
 * kube-apiserver's audit log (every write restore-guard's identity made). Pure: data in, counts and
 * examples out, so each check can be shown to fail on data that breaks its property
 * (test/unit/chaos-invariants.test.ts).
 *
 * resourceVersions are compared across kinds: on the rig every one is the single etcd revision, so
 * "recorded before it was deleted" is an order of writes, not of arrival times.
 */
import type { Change } from '../support/chain.ts';
import { KB, keys } from '../../functions/core/restore/keys.ts';

export interface AuditEvent {
  verb: string;
  stage?: string;
  user?: { username?: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp?: string;
}

export interface GroupInfo {
  name: string;
  /** every Job the driver was to create has been created */
  allCreated: boolean;
}

export interface CheckInput {
  /** the watch: key kind/name/uid → changes, oldest first */
  changes: Map<string, Change[]>;
  /** audit events of restore-guard's identity within the run */
  audit: AuditEvent[];
  namespace: string;
  domain: string;
  groups: GroupInfo[];
  /** resync period: an anchor may outlive its group by this (plus slackMs) */
  resyncPeriodMs: number;
  slackMs: number;
  /** RG_RETRY_MAX_ATTEMPTS */
  maxAttempts: number;
  /** when the last fault ended, and when the run's observation ended (ms since epoch) */
  lastFaultAt: number;
  endAt: number;
  /** the never-killed replica's memory (memoryProblems) */
  memory: MemoryInput;
  /** helper containers (not restore containers) */
  helpers?: string[];
}

/**
 * The never-killed replica's memory over the run. Its RSS alone says little: V8 keeps heap it has
 * committed (the young generation, old-space pages) and the allocator keeps freed memory, so RSS
 * rises after a start and then levels off, leak or not. What is bounded is checked three ways:
 *  - the live heap after a full GC (through the replica's inspector) at the end vs once warm: a
 *    JavaScript leak keeps objects alive, and a GC cannot give them back;
 *  - the RSS plateau: its highest in the last third of the workload's window (the faults phase)
 *    vs its highest before, so memory that still grows when the process has long been warm (a
 *    native leak too) is reported, and a warm-up rise is not;
 *  - the RSS below the pod's memory limit (func.yaml limits.memory) at every sample: the kubelet
 *    would OOM-kill it there.
 */
export interface MemoryInput {
  /** the pod's memory limit, kB */
  limitKb: number;
  /** RSS samples (kB), from the first GC reading on */
  rss: { at: number; kb: number }[];
  /** the live heap after a full GC (kB): the first once the process is warm, the last after the run */
  heap: { at: number; usedKb: number }[];
  /** the live heap may grow this much (kB) from the first reading to the last */
  heapGrowthLimitKb: number;
  /** the plateau's window: samples from its start to this moment (the last fault) are split in thirds */
  windowEndAt: number;
  /** the last third's highest RSS may exceed the earlier highest by this much (kB) */
  lateRiseLimitKb: number;
}

const mb = (kb: number) => `${Math.round(kb / 1024)} MB`;

/** What breaks "memory stays bounded" in these samples (empty: nothing). Pure. */
export function memoryProblems(m: MemoryInput): string[] {
  const out: string[] = [];
  if (m.heap.length < 2) out.push('live heap not measured (no inspector reading at the start and the end)');
  else {
    const first = m.heap[0]!;
    const last = m.heap[m.heap.length - 1]!;
    if (last.usedKb - first.usedKb > m.heapGrowthLimitKb)
      out.push(
        `live heap after a full GC grew from ${mb(first.usedKb)} to ${mb(last.usedKb)} (limit +${mb(m.heapGrowthLimitKb)})`,
      );
  }
  if (m.rss.length < 3) {
    out.push('RSS not measured');
    return out;
  }
  const peak = m.rss.reduce((a, b) => (b.kb > a.kb ? b : a));
  if (peak.kb >= m.limitKb)
    out.push(`RSS reached ${mb(peak.kb)}, at or over the pod's memory limit (${mb(m.limitKb)})`);
  const from = m.rss[0]!.at;
  const window = m.rss.filter((x) => x.at <= m.windowEndAt);
  const cut = from + ((m.windowEndAt - from) * 2) / 3;
  const early = window.filter((x) => x.at < cut);
  const late = window.filter((x) => x.at >= cut);
  if (!early.length || !late.length) out.push('RSS samples do not cover the workload window');
  else {
    const hiEarly = Math.max(...early.map((x) => x.kb));
    const hiLate = Math.max(...late.map((x) => x.kb));
    if (hiLate - hiEarly > m.lateRiseLimitKb)
      out.push(
        `RSS still rising: highest ${mb(hiEarly)} in the first two thirds of the workload, ${mb(hiLate)} in the last (limit +${mb(m.lateRiseLimitKb)})`,
      );
  }
  return out;
}

export interface InvariantResult {
  name: string;
  count: number;
  examples: string[];
}

export interface CheckReport {
  invariants: InvariantResult[];
  groups: number;
  restorePods: number;
  anchors: number;
  /** per group: ms from the last fault to the group settled (complete, anchors gone); 0 when before */
  convergenceMs: number[];
  /** groups whose members used one node one after the other (not at once): informational */
  sequentialReuse: number;
  /** anchors made for a pod after an earlier anchor of that pod had been deleted (a late event made one again): informational */
  lateAnchors: number;
  /** anchors that ended (lease ran out) and were still there, not deleted, at the end: informational */
  endedAnchorsLeft: number;
  /** the longest an anchor outlived its group's completion while faults were still on, ms: informational */
  maxOverstayDuringFaultsMs: number;
}

const TERMINAL = new Set(['Succeeded', 'Failed']);
const json = (t: string | undefined): any => {
  try {
    return t ? JSON.parse(t) : null;
  } catch {
    return null;
  }
};
const cond = (o: any, type: string) =>
  (o?.status?.conditions ?? []).some((c: any) => c.type === type && c.status === 'True');

export function jobTerminal(o: any): boolean {
  return cond(o, 'Complete') || cond(o, 'Failed');
}

export function checkInvariants(inp: CheckInput): CheckReport {
  const k = keys(inp.domain);
  const helpers = new Set(inp.helpers ?? ['restore-manager']);
  const pods: Change[][] = [];
  const jobs = new Map<string, Change[][]>();
  const pvcs = new Map<string, Change[][]>();
  for (const [key, h] of inp.changes) {
    const kind = key.slice(0, key.indexOf('/'));
    const name = h[0]!.obj.metadata.name as string;
    if (kind === 'Pod') pods.push(h);
    else if (kind === 'Job') jobs.set(name, [...(jobs.get(name) ?? []), h]);
    else if (kind === 'PersistentVolumeClaim') pvcs.set(name, [...(pvcs.get(name) ?? []), h]);
  }
  const last = (h: Change[]) => h[h.length - 1]!;
  const groupOf = (o: any): string | undefined => o?.metadata?.labels?.[k.group] ?? o?.metadata?.labels?.[KB.restore];
  const isAnchor = (o: any) => !!o?.metadata?.labels?.[k.anchorFor];
  const isRestorePod = (o: any) => !isAnchor(o) && !!groupOf(o);
  const jobOfPod = (o: any): string | undefined =>
    o.metadata.labels?.['batch.kubernetes.io/job-name'] ??
    o.metadata.labels?.['job-name'] ??
    (o.metadata.ownerReferences ?? []).find((r: any) => r.kind === 'Job')?.name;
  const jobObj = (name: string | undefined): any =>
    name
      ? (jobs
          .get(name)
          ?.map((h) => last(h).obj)
          .pop() ?? null)
      : null;
  const memberOf = (o: any): string => {
    const job = jobOfPod(o);
    if (!job) return `pod:${o.metadata.name}`;
    return jobObj(job)?.metadata?.labels?.[k.rootJob] ?? job;
  };
  const finished = (o: any): boolean => {
    if (TERMINAL.has(o?.status?.phase)) return true;
    const names = (o?.spec?.containers ?? []).map((c: any) => c.name).filter((n: string) => !helpers.has(n));
    const st = new Map((o?.status?.containerStatuses ?? []).map((c: any) => [c.name, c]));
    return names.length > 0 && names.every((n: string) => !!(st.get(n) as any)?.state?.terminated);
  };
  const claimsOf = (o: any): string[] =>
    (o?.spec?.volumes ?? [])
      .filter((v: any) => v.persistentVolumeClaim?.claimName && v.name !== KB.repoVolume)
      .map((v: any) => v.persistentVolumeClaim.claimName as string);

  const restorePods = pods.filter((h) => h.some((c) => isRestorePod(c.obj)));
  const anchors = pods.filter((h) => h.some((c) => isAnchor(c.obj)));
  const podsByName = new Map<string, Change[][]>();
  for (const h of pods) {
    const n = h[0]!.obj.metadata.name as string;
    podsByName.set(n, [...(podsByName.get(n) ?? []), h]);
  }

  // -- 1. two members of a group on one node at once (pods bound and not ended, anchors included)
  type Span = { group: string; member: string; node: string; from: number; to: number; what: string };
  const spans: Span[] = [];
  const endRv = Number.MAX_SAFE_INTEGER;
  for (const h of pods) {
    const o0 = last(h).obj;
    const bound = h.find((c) => c.obj.spec?.nodeName && c.type !== 'DELETED');
    if (!bound) continue;
    const ended = h.find((c) => c.rv >= bound.rv && (c.type === 'DELETED' || TERMINAL.has(c.obj.status?.phase)));
    let group: string | undefined;
    let member: string;
    if (isAnchor(o0)) {
      const forPod = o0.metadata.annotations?.[k.anchorPod] ?? o0.metadata.labels?.[k.anchorFor];
      const target = podsByName.get(forPod)?.[0];
      group = groupOf(o0) ?? (target ? groupOf(target[0]!.obj) : undefined);
      member = target ? memberOf(last(target).obj) : `anchor-for:${forPod}`;
    } else if (isRestorePod(o0)) {
      group = groupOf(o0);
      member = memberOf(o0);
    } else continue;
    if (!group) continue;
    spans.push({
      group,
      member,
      node: bound.obj.spec.nodeName,
      from: bound.rv,
      to: ended?.rv ?? endRv,
      what: `${isAnchor(o0) ? 'anchor' : 'pod'} ${o0.metadata.name}`,
    });
  }
  const colocated: string[] = [];
  const reuse = new Set<string>();
  const byGroupNode = new Map<string, Span[]>();
  for (const s of spans) {
    const key = `${s.group}\u0000${s.node}`;
    byGroupNode.set(key, [...(byGroupNode.get(key) ?? []), s]);
  }
  for (const list of byGroupNode.values()) {
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i]!;
        const b = list[j]!;
        if (a.member === b.member) continue;
        if (a.from < b.to && b.from < a.to)
          colocated.push(`group ${a.group}: ${a.what} (${a.member}) and ${b.what} (${b.member}) on ${a.node} at once`);
        else if (!a.what.startsWith('anchor') && !b.what.startsWith('anchor')) reuse.add(a.group);
      }
  }

  // -- 2. every finished restore pod's outcome on its Job's history and on every PVC it mounts
  const recordRv = new Map<string, { job: number | null; pvcs: Map<string, number | null> }>();
  const lost: string[] = [];
  for (const h of restorePods) {
    const fin = h.find((c) => c.type !== 'DELETED' && finished(c.obj)) ?? (finished(last(h).obj) ? last(h) : undefined);
    const o = last(h).obj;
    const uid = o.metadata.uid as string;
    const name = o.metadata.name as string;
    const job = jobOfPod(o);
    let jobRv: number | null = null;
    for (const jh of jobs.get(job ?? '') ?? []) {
      for (const c of jh) {
        const hist = json(c.obj.metadata.annotations?.[k.history]);
        const out = json(c.obj.metadata.annotations?.[k.outcome]);
        const has =
          (Array.isArray(hist) && hist.some((e: any) => e?.scope === 'pod' && (e.uid === uid || e.pod === name))) ||
          (out?.scope === 'pod' && out.uid === uid);
        if (has) {
          jobRv = jobRv === null ? c.rv : Math.min(jobRv, c.rv);
          break;
        }
      }
    }
    // A PVC holds the latest outcome: a late record of an older attempt is not written over a newer
    // one (a pod that finished later, e.g. its retry), whose history stays on the Job; the PVC then
    // counts as recorded from the moment it held that newer one.
    const finishedAt = podFinishedAt(o, jobs.get(job ?? '') ?? [], uid);
    const pvcRv = new Map<string, number | null>();
    for (const claim of claimsOf(o)) {
      let rv: number | null = null;
      for (const ph of pvcs.get(claim) ?? [])
        for (const c of ph) {
          const out = json(c.obj.metadata.annotations?.[k.outcome]);
          const mine = out && (out.uid === uid || (out.pod === name && out.scope === 'pod'));
          const newer = out && !mine && finishedAt && typeof out.finishedAt === 'string' && out.finishedAt > finishedAt;
          if (mine || newer) {
            rv = rv === null ? c.rv : Math.min(rv, c.rv);
            break;
          }
        }
      pvcRv.set(claim, rv);
    }
    recordRv.set(name, { job: jobRv, pvcs: pvcRv });
    if (!fin) continue;
    const missing = [
      ...(job && jobRv === null ? [`Job ${job}`] : []),
      ...[...pvcRv].filter(([, rv]) => rv === null).map(([c]) => `PVC ${c}`),
    ];
    if (missing.length)
      lost.push(`pod ${name} (${fin.obj.status?.phase ?? 'finished'}): no record on ${missing.join(', ')}`);
  }

  // -- 3. no restore pod deleted by restore-guard unless finished and recorded before the delete
  const wrongDeletes: string[] = [];
  const ok2xx = (e: AuditEvent) => (e.responseStatus?.code ?? 0) >= 200 && (e.responseStatus?.code ?? 0) < 300;
  for (const e of inp.audit) {
    if (e.verb !== 'delete' || e.objectRef?.resource !== 'pods' || e.objectRef.subresource || !ok2xx(e)) continue;
    if (e.objectRef.namespace !== inp.namespace) continue; // counted by check 4
    const name = e.objectRef.name ?? '';
    const hs = podsByName.get(name) ?? [];
    const t = Date.parse(e.requestReceivedTimestamp ?? '') || 0;
    // the incarnation deleted: the one whose DELETED arrived first after the request (else the last)
    const cands = hs
      .map((h) => ({ h, del: h.find((c) => c.type === 'DELETED' || c.obj.metadata.deletionTimestamp) }))
      .filter((x) => x.del);
    const pick = cands.sort((a, b) => Math.abs(a.del!.at - t) - Math.abs(b.del!.at - t))[0];
    if (!pick) continue;
    const before = pick.del!.obj;
    if (isAnchor(before) || !isRestorePod(before)) continue;
    const rec = recordRv.get(name);
    const problems: string[] = [];
    if (!finished(before)) problems.push('not finished (running)');
    if (jobOfPod(before) && (rec?.job == null || rec.job > pick.del!.rv))
      problems.push('Job record not written before');
    for (const [c, rv] of rec?.pvcs ?? [])
      if (rv == null || rv > pick.del!.rv) problems.push(`PVC ${c} record not written before`);
    if (problems.length) wrongDeletes.push(`pod ${name} deleted: ${problems.join(', ')}`);
  }

  // -- 4. no write by restore-guard to anything but restore objects (its pods, anchors, Jobs, their PVCs; Events)
  const restorePodNames = new Set<string>();
  const anchorNames = new Set<string>();
  const restoreClaims = new Set<string>();
  for (const h of pods)
    for (const c of h) {
      if (isAnchor(c.obj)) anchorNames.add(c.obj.metadata.name);
      if (isRestorePod(c.obj)) {
        restorePodNames.add(c.obj.metadata.name);
        for (const cl of claimsOf(c.obj)) restoreClaims.add(cl);
      }
    }
  const restoreJobs = new Set<string>();
  for (const [n, hs] of jobs) if (hs.some((h) => h.some((c) => groupOf(c.obj)))) restoreJobs.add(n);
  const foreign: string[] = [];
  for (const e of inp.audit) {
    if (!ok2xx(e)) continue;
    const r = e.objectRef ?? {};
    const what = `${e.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ''} ${r.namespace ?? '(cluster)'}/${r.name ?? ''}`;
    if (r.namespace !== inp.namespace) {
      foreign.push(`${what}: outside the namespace`);
      continue;
    }
    if (r.resource === 'events') continue;
    const name = r.name ?? '';
    const allowed =
      (r.resource === 'pods' &&
        (restorePodNames.has(name) || anchorNames.has(name) || (e.verb === 'create' && !name))) ||
      (r.resource === 'jobs' && (restoreJobs.has(name) || (e.verb === 'create' && !name))) ||
      (r.resource === 'persistentvolumeclaims' && restoreClaims.has(name));
    if (!allowed) foreign.push(what);
  }

  // -- 5. groups: completion, anchors gone within one resync period of it, convergence
  const groupJobs = new Map<string, any[]>();
  for (const [, hs] of jobs)
    for (const h of hs) {
      const g = groupOf(last(h).obj) ?? groupOf(h[0]!.obj);
      if (g) groupJobs.set(g, [...(groupJobs.get(g) ?? []), h]);
    }
  const incomplete: string[] = [];
  const doneAt = new Map<string, number>();
  for (const g of inp.groups) {
    const hs = (groupJobs.get(g.name) ?? []) as Change[][];
    const pending = hs.filter((h) => {
      const o = last(h).obj;
      if (last(h).type === 'DELETED') return false;
      if (!jobTerminal(o)) return true;
      // an opted-in Job that failed waits for retry's word (retried, exhausted, or skipped)
      if (cond(o, 'Failed') && o.metadata.labels?.[k.retry] === 'true') {
        const st = o.metadata.labels?.[k.state];
        return !(st === 'retried' || st === 'exhausted' || o.metadata.annotations?.[k.retrySkipped]);
      }
      return false;
    });
    if (!g.allCreated || hs.length === 0 || pending.length) {
      incomplete.push(
        `group ${g.name}: ${!g.allCreated ? 'not every Job created; ' : ''}${pending.length} of ${hs.length} Jobs not done`,
      );
      continue;
    }
    const t = Math.max(
      ...hs.map((h) => (h.find((c) => jobTerminal(c.obj)) ?? last(h)).at),
      ...hs.map(
        (h) =>
          h.find(
            (c) =>
              c.obj.metadata.labels?.[k.state] === 'retried' ||
              c.obj.metadata.labels?.[k.state] === 'exhausted' ||
              c.obj.metadata.annotations?.[k.retrySkipped],
          )?.at ?? 0,
      ),
    );
    doneAt.set(g.name, t);
  }
  const leaked: string[] = [];
  let lateAnchors = 0;
  let maxOverstayDuringFaultsMs = 0;
  const settledAt = new Map<string, number>(doneAt);
  for (const h of anchors) {
    const o = last(h).obj;
    const forPod = o.metadata.annotations?.[k.anchorPod] ?? o.metadata.labels?.[k.anchorFor];
    const target = podsByName.get(forPod)?.[0];
    const g = groupOf(o) ?? (target ? groupOf(target[0]!.obj) : undefined);
    if (!g) continue;
    const done = doneAt.get(g);
    const gone = h.find((c) => c.type === 'DELETED' || TERMINAL.has(c.obj.status?.phase))?.at ?? null;
    if (done !== undefined && gone !== null) settledAt.set(g, Math.max(settledAt.get(g) ?? 0, gone));
    if (done === undefined) continue; // its group is not complete: counted there
    // While faults are on, a sweep can fail period after period (a list refused): the period is
    // counted from the later of the group's completion and the last fault.
    if (done < inp.lastFaultAt)
      maxOverstayDuringFaultsMs = Math.max(
        maxOverstayDuringFaultsMs,
        Math.min(gone ?? inp.endAt, inp.lastFaultAt) - done,
      );
    const from = Math.max(done, inp.lastFaultAt);
    const limit = from + inp.resyncPeriodMs + inp.slackMs;
    if ((gone ?? inp.endAt) > limit)
      leaked.push(
        `anchor ${o.metadata.name} (group ${g}): ${gone === null ? 'still there' : 'gone'} ${(((gone ?? inp.endAt) - from) / 1000).toFixed(1)} s after its group completed${from > done ? ' (and the faults ended)' : ''}`,
      );
  }
  // an anchor made for a pod after an earlier anchor of that pod had been deleted (renewals make the
  // copy before deleting the old one, so they do not count)
  const anchorsByPod = new Map<string, Change[][]>();
  for (const h of anchors) {
    const o = last(h).obj;
    const forPod = o.metadata.annotations?.[k.anchorPod] ?? o.metadata.labels?.[k.anchorFor];
    anchorsByPod.set(forPod, [...(anchorsByPod.get(forPod) ?? []), h]);
  }
  for (const hs of anchorsByPod.values())
    for (const h of hs) {
      const born = h[0]!.rv;
      if (hs.some((o) => o !== h && o.some((c) => c.type === 'DELETED' && c.rv < born))) lateAnchors++;
    }
  const convergenceMs = [...settledAt.values()].map((t) => Math.max(0, t - inp.lastFaultAt));

  // -- 6. retries: at most the configured attempts per member, one retry Job per attempt
  const retryProblems: string[] = [];
  const byRoot = new Map<string, Map<number, string[]>>();
  for (const [name, hs] of jobs) {
    const o = last(hs[hs.length - 1]!).obj;
    const root = o.metadata.labels?.[k.rootJob] ?? o.metadata.annotations?.[k.rootJob] ?? name;
    const attempt = Number(o.metadata.labels?.[k.attempt] ?? o.metadata.annotations?.[k.attempt] ?? 1);
    const m = byRoot.get(root) ?? new Map<number, string[]>();
    m.set(attempt, [...(m.get(attempt) ?? []), name]);
    byRoot.set(root, m);
  }
  for (const [root, m] of byRoot) {
    const n = [...m.values()].reduce((s, x) => s + x.length, 0);
    if (n > inp.maxAttempts) retryProblems.push(`${root}: ${n} Jobs, more than ${inp.maxAttempts} attempts`);
    for (const [a, names] of m)
      if (names.length > 1) retryProblems.push(`${root}: attempt ${a} has ${names.length} Jobs (${names.join(', ')})`);
  }

  // -- 7. memory
  const memory = memoryProblems(inp.memory);

  const result = (name: string, list: string[]): InvariantResult => ({
    name,
    count: list.length,
    examples: list.slice(0, 10),
  });
  return {
    invariants: [
      result('two members of a group on one node at once', colocated),
      result(
        'finished restore pods without their records (Job history, every PVC: its own or a newer attempt’s)',
        lost,
      ),
      result('restore pods deleted by restore-guard before finished and recorded', wrongDeletes),
      result('writes by restore-guard to non-restore objects', foreign),
      result('anchors alive more than one resync period after their group completed (and the faults ended)', leaked),
      result('retries beyond the attempts, or two retry Jobs for one attempt', retryProblems),
      result('groups not completed', incomplete),
      result('replica memory unbounded (live heap after GC, RSS plateau, pod limit)', memory),
    ],
    groups: inp.groups.length,
    restorePods: restorePods.length,
    anchors: anchors.length,
    convergenceMs,
    sequentialReuse: reuse.size,
    lateAnchors,
    endedAnchorsLeft: anchors.filter((h) => last(h).type !== 'DELETED' && TERMINAL.has(last(h).obj.status?.phase))
      .length,
    maxOverstayDuringFaultsMs,
  };
}

/** When a restore pod finished: its Job's history entry (as recorded), else its restore container's end. */
function podFinishedAt(pod: any, jobHistories: Change[][], uid: string): string | null {
  for (const h of jobHistories)
    for (const c of h) {
      const hist = json(c.obj.metadata.annotations?.['restoreguard.dev/history']);
      const e = Array.isArray(hist) ? hist.find((x: any) => x?.uid === uid && x.finishedAt) : null;
      if (e) return e.finishedAt as string;
    }
  const ends = (pod?.status?.containerStatuses ?? [])
    .map((c: any) => c.state?.terminated?.finishedAt as string | undefined)
    .filter((x: string | undefined): x is string => !!x)
    .sort();
  return ends[ends.length - 1] ?? null;
}

/** Audit log lines (JSON, one event each) of one user within [from, to], ResponseComplete only. */
export function parseAudit(text: string, username: string, from: number, to: number): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes(username)) continue;
    let e: AuditEvent;
    try {
      e = JSON.parse(line) as AuditEvent;
    } catch {
      continue;
    }
    if (e.user?.username !== username || (e.stage && e.stage !== 'ResponseComplete')) continue;
    const t = Date.parse(e.requestReceivedTimestamp ?? '');
    if (!(t >= from && t <= to)) continue;
    out.push(e);
  }
  return out;
}
