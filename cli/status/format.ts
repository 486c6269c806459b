/** The status view as text (a table per group) and as JSON for scripts. */
import type { AnchorStatus, GroupStatus, MemberStatus, RecordView, StatusReport } from './model.ts';

/** 45s, 3m12s, 1h02m; negative as "-5s" (a lease overrun). */
export function duration(seconds: number | null): string {
  if (seconds === null) return '-';
  const sign = seconds < 0 ? '-' : '';
  const s = Math.abs(Math.round(seconds));
  if (s < 60) return `${sign}${s}s`;
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${sign}${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

export function recordText(r: RecordView | null): string {
  if (!r) return '-';
  const parts = [r.state];
  if (r.reason) parts.push(`(${r.reason})`);
  if (r.node) parts.push(`on ${r.node}`);
  if (r.attempt !== null && r.attempt > 1) parts.push(`attempt ${r.attempt}`);
  return parts.join(' ');
}

function anchorText(a: AnchorStatus): string {
  const life = a.holding
    ? `${duration(a.ageSeconds)} old, lease ${a.leaseLeftSeconds === null ? 'none' : `${duration(a.leaseLeftSeconds)} left`}`
    : `${a.phase ?? 'ending'}, not holding`;
  return `${a.name} on ${a.node ?? '?'} (${life})`;
}

function memberRow(m: MemberStatus): string[] {
  const phase = `${m.phase ?? 'Pending'}${m.terminating ? ', terminating' : ''}${m.stopped ? ', stopped' : ''}`;
  return [
    m.pod,
    m.node ?? '-',
    phase,
    m.state ?? '-',
    m.reason ?? '-',
    String(m.attempt),
    m.anchors.length ? m.anchors.map(anchorText).join('; ') : '-',
    recordText(m.record),
  ];
}

export function groupHeading(g: GroupStatus): string {
  const counts = Object.entries(g.counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const anchors = [...g.members.flatMap((m) => m.anchors), ...g.orphanAnchors];
  const holding = anchors.filter((a) => a.holding).length;
  const members = `${g.members.length} member${g.members.length === 1 ? '' : 's'}${g.size !== null ? ` of ${g.size}` : ''}`;
  return `${g.namespace}/${g.group} · ${g.profile} · ${g.phase} · ${members}${counts ? `: ${counts}` : ''} · anchors ${holding} holding${anchors.length > holding ? `, ${anchors.length - holding} ending` : ''}`;
}

export function formatGroup(g: GroupStatus): string[] {
  const out = [groupHeading(g)];
  if (g.members.length)
    out.push(
      ...table([
        ['MEMBER', 'NODE', 'PHASE', 'STATE', 'REASON', 'ATTEMPT', 'ANCHOR (AGE, LEASE)', 'RECORD'],
        ...g.members.map(memberRow),
      ]),
    );
  if (g.ended.length)
    out.push(
      ...table([
        ['ENDED (POD GONE)', 'JOB', 'NODE', 'STATE', 'REASON', 'ATTEMPT', 'FINISHED'],
        ...g.ended.map((e) => [
          e.pod,
          e.job,
          e.node ?? '-',
          e.state,
          e.reason ?? '-',
          String(e.attempt),
          e.finishedAt?.replace('T', ' ').slice(0, 19) ?? '-',
        ]),
      ]),
    );
  if (g.jobs.length)
    out.push(
      ...table([
        ['JOB', 'CONDITION', 'STATE', 'ATTEMPT', 'HISTORY', 'RECORD'],
        ...g.jobs.map((j) => [
          j.name,
          j.condition ?? 'running',
          j.state ?? '-',
          String(j.attempt),
          String(j.history),
          recordText(j.record),
        ]),
      ]),
    );
  if (g.pvcs.length)
    out.push(
      ...table([['PVC', 'RECORD'], ...g.pvcs.map((p) => [p.name, p.present ? recordText(p.record) : 'not found'])]),
    );
  if (g.orphanAnchors.length)
    out.push(...table([['ANCHOR WITHOUT ITS POD'], ...g.orphanAnchors.map((a) => [`${anchorText(a)} for ${a.for}`])]));
  for (const r of g.retries)
    out.push(
      `  retry: ${r.job} retries ${r.of} (attempt ${r.attempt})${r.avoid.length ? `, avoids ${r.avoid.join(', ')}` : ''}`,
    );
  return out;
}

export interface FormatOptions {
  /** Show done groups too. */
  all: boolean;
}

export function shownGroups(r: StatusReport, opts: FormatOptions): GroupStatus[] {
  return opts.all ? r.groups : r.groups.filter((g) => g.phase === 'in flight');
}

export function formatStatus(r: StatusReport, opts: FormatOptions): string {
  const where = r.namespace ? `namespace ${r.namespace}` : 'all namespaces';
  const out = [`restore-guard status · ${r.source} · ${where} · ${r.at.replace('T', ' ').slice(0, 19)} UTC`];
  const inFlight = r.groups.filter((g) => g.phase === 'in flight').length;
  const done = r.groups.length - inFlight;
  out.push(
    `${inFlight} group${inFlight === 1 ? '' : 's'} in flight, ${done} done${done && !opts.all ? ' (shown with --all)' : ''}`,
  );
  let ns = '';
  for (const g of shownGroups(r, opts)) {
    if (g.namespace !== ns) {
      ns = g.namespace;
      out.push('', `namespace ${ns}`);
    }
    out.push('', ...formatGroup(g));
  }
  if (!r.groups.length)
    out.push(
      '',
      'no restore pods, Jobs or anchors found: nothing is being restored here (or RG_PROFILES/RG_DOMAIN differ from the deployment)',
    );
  return `${out.join('\n')}\n`;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** The report for scripts: times as ISO strings. */
export function jsonStatus(r: StatusReport, opts: FormatOptions): unknown {
  return {
    ...r,
    groups: shownGroups(r, opts).map((g) => ({
      ...g,
      members: g.members.map((m) => ({
        ...m,
        placedAt: iso(m.placedAt),
        restoreDoneAt: iso(m.restoreDoneAt),
        endAt: iso(m.endAt),
      })),
    })),
    hidden: r.groups.length - shownGroups(r, opts).length,
  };
}
