import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { formatProblem } from './inputs.ts';
import type { WriteRecord } from './view.ts';
import { KB } from '../../functions/core/restore/keys.ts';
import type { HopRecord, Report, Step, GroupState, Outcome } from './report.ts';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** HH:MM:SS.mmm (UTC). */
export function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

const shortType = (t: string) =>
  t
    .replace(/^dev\.restoreguard\./, '')
    .replace(/^dev\.knative\.apiserver\.resource\./, '')
    .replace(/^dev\.knative\.sources\./, '');
const shortKey = (key: string, domain = 'restoreguard.dev') =>
  key === KB.stop ? 'stop-restore-manager' : key.replace(`${domain}/`, '');

type Json = Record<string, unknown>;

/** A one-line summary of what a Pod or Job in an event looked like. */
export function objectSummary(o: KubeObject): string {
  if (o.kind === 'Pod') {
    const spec = (o.spec ?? {}) as Json;
    const st = (o.status ?? {}) as {
      phase?: string;
      reason?: string;
      containerStatuses?: {
        name: string;
        state?: { terminated?: { exitCode: number; reason?: string }; waiting?: { reason?: string } };
      }[];
    };
    const node = spec.nodeName ? ` on ${String(spec.nodeName)}` : '';
    const containers = (st.containerStatuses ?? [])
      .map((c) =>
        c.state?.terminated
          ? `${c.name} exited ${c.state.terminated.exitCode}`
          : c.state?.waiting?.reason
            ? `${c.name} ${c.state.waiting.reason}`
            : null,
      )
      .filter(Boolean);
    const del = o.metadata.deletionTimestamp ? ', terminating' : '';
    return `${st.phase ?? 'Pending'}${st.reason ? ` (${st.reason})` : ''}${node}${containers.length ? `; ${containers.join(', ')}` : ''}${del}`;
  }
  if (o.kind === 'Job') {
    const st = (o.status ?? {}) as {
      active?: number;
      conditions?: { type: string; status: string; reason?: string }[];
    };
    const c = ['Complete', 'Failed', 'SuccessCriteriaMet', 'FailureTarget', 'Suspended']
      .map((t) => (st.conditions ?? []).find((x) => x.status === 'True' && x.type === t))
      .find(Boolean);
    return c ? `${c.type}${c.reason ? ` (${c.reason})` : ''}` : `active ${st.active ?? 0}`;
  }
  return `${o.kind}`;
}

function stepHeader(s: Step): string {
  const t = clockTime(s.at);
  const extras = [
    s.copy ? `copy ${s.copy + 1}` : '',
    s.view === 'stale' ? 'older than the view: view kept' : '',
    s.view === 'gone' ? 'after its deletion: view kept' : '',
  ].filter(Boolean);
  const tail = extras.length ? `  [${extras.join('; ')}]` : '';
  if (s.kind === 'observation' && s.object) {
    return `${t}  observe ${s.object.kind} ${s.object.metadata.namespace ?? ''}/${s.object.metadata.name}  ${statusOf(s.object)}${tail}`;
  }
  const ev = s.event!;
  const o = s.object;
  if (o)
    return `${t}  ${pad(shortType(ev.type), 7)} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}  ${objectSummary(o)}${tail}`;
  return `${t}  ${shortType(ev.type)}  ${ev.subject ?? ev.source}${tail}`;
}

function statusOf(o: KubeObject): string {
  const phase = (o.status as { phase?: string } | undefined)?.phase;
  return o.kind === 'Pod' || o.kind === 'Job' ? objectSummary(o) : phase ? `phase ${phase}` : '';
}

/** What a hop decided, in a few words. */
export function decision(h: HopRecord): string {
  const again = h.attempt ? `(delivery ${h.attempt + 1}) ` : '';
  if (h.status >= 400 || h.status === 0) return `${again}✗ ${h.status || 'not sent'} ${h.error ?? ''}`.trim();
  if (!h.reply) return `${again}· nothing to say (${h.status})`;
  const d = (h.reply.data ?? {}) as Json;
  const type = shortType(h.reply.type);
  let detail = '';
  switch (h.reply.type) {
    case 'dev.restoreguard.restore.placed':
      detail = `on ${String(d.node)}`;
      break;
    case 'dev.restoreguard.restore.succeeded':
      detail = `${String(d.scope)} ${String(d.scope === 'job' ? d.job : d.pod)}`;
      break;
    case 'dev.restoreguard.restore.failed':
      detail = `${String(d.scope)} ${String(d.scope === 'job' ? d.job : d.pod)}: ${String(d.reason)}${d.exitCode !== null && d.exitCode !== undefined ? ` exit ${String(d.exitCode)}` : ''}${d.retryable ? ', retryable' : ''}`;
      break;
    case 'dev.restoreguard.restore.recorded':
      detail = `${String(d.state)} (${String(d.scope)})`;
      break;
    case 'dev.restoreguard.group.completed':
      detail = `${(d.anchorsDeleted as string[] | undefined)?.length ?? 0} anchor(s) deleted`;
      break;
    case 'dev.restoreguard.retry.scheduled': {
      const avoid = (d.avoidNodes as string[] | undefined) ?? [];
      detail = `${String(d.retryJob)} attempt ${String(d.attempt)}${avoid.length ? `, avoiding ${avoid.join(',')}` : ''}${d.delayMs ? `, after ${(Number(d.delayMs) / 1000).toFixed(1)} s` : ''}`;
      break;
    }
    default:
      detail = d.message ? String(d.message) : '';
  }
  return `${again}→ ${type}${detail ? ` ${detail}` : ''}`;
}

/** A write, in a few words. */
export function writeLine(w: WriteRecord, domain = 'restoreguard.dev'): string {
  const what = `${w.kind} ${w.namespace}/${w.name}`;
  const mark = w.dryRun ? '?' : w.changed === false ? '=' : w.verb === 'create' ? '+' : w.verb === 'delete' ? '-' : '~';
  const verb = w.dryRun ? `would ${w.verb}` : w.verb;
  let detail = '';
  if (w.verb === 'create') {
    const b = w.body as KubeObject & { spec?: Json; reason?: string };
    if (w.kind === 'Pod') detail = `anchor on ${String(b.spec?.nodeName ?? '?')}`;
    else if (w.kind === 'Job') detail = `attempt ${b.metadata.annotations?.[`${domain}/attempt`] ?? '?'}`;
    else if (w.kind === 'Event') detail = String(b.reason ?? '');
    if (w.changed === false) detail += detail ? ', already exists' : 'already exists';
  } else if (w.verb === 'patch') {
    const m =
      (w.body as { metadata?: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> } })
        .metadata ?? {};
    const parts = [
      ...Object.entries(m.labels ?? {}).map(([k, v]) => `${shortKey(k, domain)}=${v}`),
      ...Object.entries(m.annotations ?? {}).map(([k, v]) =>
        v !== null && v.length <= 12 ? `${shortKey(k, domain)}=${v}` : `${shortKey(k, domain)}`,
      ),
    ];
    detail = parts.join(' ') + (w.changed === false ? ' (no change)' : '');
  } else if (w.changed === false) detail = 'already gone';
  return `${mark} ${verb} ${what}${detail ? `  ${detail}` : ''}`;
}

function outcomeText(o: Outcome | null): string {
  if (!o) return 'no record';
  return `${o.state}${o.reason ? ` (${o.reason})` : ''} ${o.scope}${o.node ? ` on ${o.node}` : ''}${o.pod && o.scope === 'pod' ? ` by ${o.pod}` : ''}`;
}

function groupLines(g: GroupState, at: (ms: number | null) => string): string[] {
  const out: string[] = [];
  const done =
    g.completedAt !== null
      ? `group completed at ${at(g.completedAt)}`
      : g.releasedAt !== null
        ? `anchors released by ${g.releasedBy} at ${at(g.releasedAt)}`
        : g.anchors.some((a) => a.present)
          ? 'not completed: anchors still held'
          : 'not completed';
  out.push(`  ${g.namespace}/${g.group}  (${g.profile})  ${done}`);
  out.push('    pods');
  for (const p of g.pods) {
    const state = p.state ? `state=${p.state}, ` : '';
    const fate = p.present
      ? `${state}present`
      : p.deletedBy
        ? `${state}deleted ${p.deletedBy === 'recording' ? 'in the recording' : 'by restore-guard'} at ${at(p.deletedAt)}`
        : `${state}gone`;
    const stop = p.stopAt !== null ? `, stop set by ${p.stopBy} at ${at(p.stopAt)}` : '';
    out.push(
      `      ${pad(p.name, 44)} ${pad(p.node ?? '(no node)', 10)} ${pad(p.outcome ?? p.phase ?? '?', 10)}${p.reason ? ` ${p.reason}` : ''}  ${fate}${stop}`,
    );
  }
  if (!g.pods.length) out.push('      (none seen)');
  const left = g.anchors.filter((a) => a.present).length;
  out.push(`    anchors  (${g.anchors.length} created, ${left} left)`);
  for (const a of g.anchors) {
    out.push(
      `      ${pad(a.name, 44)} ${pad(a.node ?? '?', 10)} ${at(a.createdAt)} → ${a.present ? 'still there' : at(a.deletedAt)}${a.owner ? `  owner ${a.owner}` : ''}`,
    );
  }
  out.push('    jobs');
  for (const j of g.jobs) {
    const fate = j.present
      ? ''
      : `  [deleted ${j.deletedBy === 'recording' ? 'in the recording' : 'by restore-guard'}]`;
    const retry = j.retryOf ? `  retry of ${j.retryOf} (attempt ${j.attempt})` : '';
    out.push(
      `      ${pad(j.name, 44)} ${pad(j.condition ?? 'running', 30)} state=${j.state ?? '-'}  outcome: ${outcomeText(j.outcome)}${retry}${fate}`,
    );
  }
  if (!g.jobs.length) out.push('      (none seen)');
  out.push('    pvcs');
  for (const p of g.pvcs)
    out.push(
      `      ${pad(p.name, 44)} outcome: ${outcomeText(p.outcome)}${p.inferred ? '  (PVC inferred from pod volumes)' : ''}`,
    );
  if (!g.pvcs.length) out.push('      (none)');
  out.push('    retries');
  for (const r of g.retries)
    out.push(
      `      ${pad(r.job, 44)} of ${r.of}, attempt ${r.attempt}${r.avoid.length ? `, avoids ${r.avoid.join(',')} (${r.required ? 'required' : 'preferred'})` : ''}, created ${at(r.at)}${r.createdBy === 'recording' ? ' (already in the recording)' : ' by restore-guard'}`,
    );
  if (!g.retries.length) out.push('      (none)');
  return out;
}

/** The human report: header, problems, timeline, end state, summary. */
export function formatReport(r: Report): string {
  const out: string[] = [];
  const day = new Date(r.start).toISOString().slice(0, 10);
  const where =
    r.mode === 'offline'
      ? 'offline (in-process chain, no cluster)'
      : r.mode === 'target'
        ? `to ${r.target}`
        : `against the cluster${r.dryRun ? ' (dry-run: writes are shown, not made)' : ' (--apply: writes are made)'}`;
  out.push(`restore-guard replay ${where}`);
  out.push(
    `  ${r.events} event(s), ${r.observations} observation(s) from ${r.files.length} file(s); times UTC on ${day}`,
  );
  if (r.eventingDir) out.push(`  routing by ${r.triggers.length} Trigger(s) in ${r.eventingDir}`);
  if (r.problems.length) {
    out.push('', `Unreadable input (${r.problems.length}):`);
    for (const p of r.problems) out.push(`  ${formatProblem(p)}`);
  }
  out.push(
    '',
    'Timeline   (→ reply  · nothing to say  ✗ error;  + created  ~ patched  - deleted  = no change  ? dry-run)',
  );
  for (const s of r.steps) {
    out.push(stepHeader(s));
    if (s.skipped) out.push(`              skipped: ${s.skipped}`);
    const hops = [...s.hops].sort((a, b) => a.depth - b.depth);
    for (const h of hops) {
      out.push(`              ${pad(h.function, 11)} ${decision(h)}`);
      for (const w of h.writes) out.push(`                ${writeLine(w)}`);
    }
  }
  for (const w of r.strayWrites) out.push(`  (outside any delivery) ${writeLine(w)}`);
  const at = (ms: number | null) => (ms === null ? '?' : clockTime(ms));
  if (r.state) {
    out.push('', 'End state');
    if (!r.state.groups.length) out.push('  no restore group was seen');
    for (const g of r.state.groups) out.push(...groupLines(g, at));
  } else if (r.mode === 'target') out.push('', `End state: held by the server at ${r.target}`);
  const hops = r.steps.reduce((n, s) => n + s.hops.length, 0);
  const changed = r.writes.filter((w) => w.changed !== false).length;
  out.push(
    '',
    `${r.steps.length} item(s) replayed, ${hops} deliveries, ${r.writes.length} write(s) (${changed} ${r.dryRun ? 'would change' : 'changed'} something), ${r.errors} error answer(s)${r.problems.length ? `, ${r.problems.length} unreadable input(s)` : ''}`,
  );
  return `${out.join('\n')}\n`;
}

/** The machine report (--json): the same content, times as ISO strings. */
export function jsonReport(r: Report): unknown {
  const iso = (ms: number | null) => (ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString());
  return {
    mode: r.mode,
    dryRun: r.dryRun,
    target: r.target,
    eventingDir: r.eventingDir,
    triggers: r.triggers,
    files: r.files,
    problems: r.problems,
    events: r.events,
    observations: r.observations,
    errors: r.errors,
    start: iso(r.start),
    end: iso(r.end),
    timeline: r.steps.map((s) => ({
      index: s.index,
      at: iso(s.at),
      recordedAt: iso(s.recordedAt),
      origin: s.origin,
      copy: s.copy,
      kind: s.kind,
      event: s.event,
      object: s.object
        ? {
            kind: s.object.kind,
            namespace: s.object.metadata.namespace ?? null,
            name: s.object.metadata.name,
            uid: s.object.metadata.uid ?? null,
            summary: statusOf(s.object),
          }
        : null,
      deleted: s.deleted,
      view: s.view,
      skipped: s.skipped,
      hops: s.hops.map((h) => ({
        ...h,
        decision: decision(h),
        writes: h.writes.map((w) => ({ ...w, at: iso(w.at), before: undefined })),
      })),
    })),
    state: r.state
      ? {
          groups: r.state.groups.map((g) => ({
            ...g,
            completedAt: iso(g.completedAt),
            releasedAt: iso(g.releasedAt),
            pods: g.pods.map((p) => ({
              ...p,
              placedAt: iso(p.placedAt),
              restoreDoneAt: iso(p.restoreDoneAt),
              endAt: iso(p.endAt),
              stopAt: iso(p.stopAt),
              deletedAt: iso(p.deletedAt),
            })),
            anchors: g.anchors.map((a) => ({ ...a, createdAt: iso(a.createdAt), deletedAt: iso(a.deletedAt) })),
            retries: g.retries.map((x) => ({ ...x, at: iso(x.at) })),
            failures: g.failures.map((f) => ({ ...f, at: iso(f.at) })),
          })),
        }
      : null,
    inferred: r.inferred,
  };
}
