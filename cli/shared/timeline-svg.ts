/**
 * A restore group's life as a picture: one lane per node, time left to right. Restore pods are bars
 * from placement to the end of their restore container (solid), then, when a helper sidecar kept the
 * pod Running, to the pod's end (hatched); anchors are thin bars under them from creation to
 * deletion; failures, the stop annotation, retries and the group's release are marked.
 *
 * Shared by the CLIs: replay draws what a replay saw (cli/replay/svg.ts), status what the cluster
 * holds now (cli/status/). The input types are the least each needs; replay's report types fit them.
 */
import { oneLine } from './escape.ts';

/** One restore pod (times in ms). */
export interface TimelinePod {
  name: string;
  job: string | null;
  node: string | null;
  /** First seen bound to a node. */
  placedAt: number | null;
  /** Every restore container had terminated. */
  restoreDoneAt: number | null;
  /** The pod reached Succeeded/Failed. */
  endAt: number | null;
  deletedAt: number | null;
  phase: string | null;
  outcome: 'succeeded' | 'failed' | null;
  reason: string | null;
  /** KubeBlocks' stop annotation: when, and who set it. */
  stopAt: number | null;
  stopBy: string | null;
  present: boolean;
}

export interface TimelineAnchor {
  name: string;
  /** The pod it stands for. */
  for: string;
  node: string | null;
  createdAt: number | null;
  deletedAt: number | null;
  present: boolean;
}

export interface TimelineRetry {
  job: string;
  of: string;
  attempt: number;
  avoid: string[];
  /** When the replacement Job was created. */
  at: number;
}

export interface TimelineGroup {
  namespace: string;
  group: string;
  profile: string;
  completedAt: number | null;
  releasedAt: number | null;
  releasedBy: string | null;
  pods: TimelinePod[];
  anchors: TimelineAnchor[];
  retries: TimelineRetry[];
}

export interface Timeline {
  /** The heading, after "restore-guard ": e.g. "offline replay", "status of cluster X". */
  what: string;
  /** The line under it. */
  subtitle: string;
  groups: TimelineGroup[];
  /** The span to show at least (ms); drawn objects widen it. */
  start: number;
  end: number;
}

const PALETTE = [
  { main: '#3566a8', light: '#a9c1e3', anchor: '#1f3f6b' },
  { main: '#23877b', light: '#9fd3cb', anchor: '#135048' },
  { main: '#7b4fa6', light: '#cdb6e3', anchor: '#4a2c68' },
  { main: '#b9771f', light: '#ecc893', anchor: '#6e4510' },
];
const FAIL = '#c62828';
const W = 1120;
const LEFT = 120;
const RIGHT = 40;
const ROW = 34;
const LANE_PAD = 10;

// Recorded and live names are untrusted text: control characters are shown, never drawn raw (escape.ts).
const esc = (s: string) =>
  oneLine(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

/** A short, still recognisable pod name: the tail after the group's common prefix. */
function shortName(name: string): string {
  const parts = name.split('-');
  return parts.length > 3 ? `…${parts.slice(-3).join('-')}` : name;
}

function niceStep(spanMs: number): number {
  const target = spanMs / 8;
  for (const s of [
    100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000,
  ])
    if (s >= target) return s;
  return 3_600_000;
}

interface Placed {
  g: number;
  pod: TimelinePod;
  anchor: TimelineAnchor | null;
  start: number;
  restoreEnd: number;
  podEnd: number;
  row: number;
}

export function renderTimelineSvg(r: Timeline): string {
  const groups = r.groups;
  const anchorFor = new Map<string, TimelineAnchor>();
  for (const g of groups) for (const a of g.anchors) anchorFor.set(`${g.namespace}/${a.for}`, a);

  // Time span: everything drawn.
  const times: number[] = [];
  for (const g of groups) {
    for (const p of g.pods)
      times.push(
        ...[p.placedAt, p.restoreDoneAt, p.endAt, p.deletedAt, p.stopAt].filter((x): x is number => x !== null),
      );
    for (const a of g.anchors) times.push(...[a.createdAt, a.deletedAt].filter((x): x is number => x !== null));
    for (const x of g.retries) times.push(x.at);
    if (g.completedAt !== null) times.push(g.completedAt);
    if (g.releasedAt !== null) times.push(g.releasedAt);
  }
  const t0raw = times.length ? Math.min(...times) : r.start;
  const t1raw = times.length ? Math.max(...times, r.end) : r.end;
  const span = Math.max(1000, t1raw - t0raw);
  const t0 = t0raw - span * 0.02;
  const t1 = t1raw + span * 0.04;
  const x = (t: number) => LEFT + ((t - t0) / (t1 - t0)) * (W - LEFT - RIGHT);

  // Lanes: one per node; rows within a lane so bars never overlap.
  const placed: Placed[] = [];
  groups.forEach((g, gi) => {
    for (const pod of g.pods) {
      if (pod.placedAt === null || !pod.node) continue;
      const anchor = anchorFor.get(`${g.namespace}/${pod.name}`) ?? null;
      const podEnd = pod.endAt ?? pod.deletedAt ?? (pod.present ? t1raw : (pod.restoreDoneAt ?? t1raw));
      const restoreEnd = Math.min(pod.restoreDoneAt ?? podEnd, podEnd);
      placed.push({ g: gi, pod, anchor, start: pod.placedAt, restoreEnd, podEnd, row: 0 });
    }
  });
  const nodes = [
    ...new Set([...placed.map((p) => p.pod.node!), ...groups.flatMap((g) => g.anchors.map((a) => a.node ?? '?'))]),
  ].sort();
  const laneRows = new Map<string, number[]>();
  for (const p of [...placed].sort((a, b) => a.start - b.start)) {
    const rows = laneRows.get(p.pod.node!) ?? [];
    const busyUntil = Math.max(p.podEnd, p.anchor ? (p.anchor.deletedAt ?? t1) : 0);
    let row = rows.findIndex((end) => end <= p.start);
    if (row < 0) row = rows.length;
    rows[row] = busyUntil;
    p.row = row;
    laneRows.set(p.pod.node!, rows);
  }
  const TOP = 92;
  const laneY = new Map<string, number>();
  let y = TOP;
  for (const n of nodes) {
    laneY.set(n, y);
    y += Math.max(1, laneRows.get(n)?.length ?? 1) * ROW + LANE_PAD * 2;
  }
  const plotBottom = y;
  const H = plotBottom + (groups.length > 1 ? 130 : 110);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
  );
  out.push('<defs>');
  PALETTE.forEach((c, i) => {
    out.push(
      `<pattern id="held${i}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="${c.light}"/><line x1="0" y1="0" x2="0" y2="6" stroke="${c.main}" stroke-width="2"/></pattern>`,
    );
  });
  out.push(
    '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#e07b00"/></marker>',
  );
  out.push('</defs>');
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);

  // Title.
  out.push(
    `<text x="${LEFT}" y="30" font-size="18" font-weight="bold" fill="#222">restore-guard ${esc(r.what)}: where each restore ran, and when</text>`,
  );
  out.push(`<text x="${LEFT}" y="52" font-size="12" fill="#555">${esc(r.subtitle)}</text>`);
  out.push(
    `<text x="${LEFT}" y="70" font-size="11" fill="#777">time from ${new Date(t0raw).toISOString().replace('T', ' ').slice(0, 23)} UTC</text>`,
  );

  // Axis and grid.
  const step = niceStep(t1 - t0);
  for (let t = Math.ceil((t0 - t0raw) / step) * step; t0raw + t <= t1; t += step) {
    const gx = x(t0raw + t);
    if (gx < LEFT) continue;
    out.push(`<line x1="${fmt(gx)}" y1="${TOP - 6}" x2="${fmt(gx)}" y2="${plotBottom}" stroke="#eee"/>`);
    const label = step >= 60_000 ? `+${fmt(t / 60_000)} min` : `+${fmt(t / 1000)} s`;
    out.push(
      `<text x="${fmt(gx)}" y="${plotBottom + 16}" font-size="11" fill="#555" text-anchor="middle">${label}</text>`,
    );
  }
  out.push(`<line x1="${LEFT}" y1="${plotBottom}" x2="${W - RIGHT}" y2="${plotBottom}" stroke="#888"/>`);

  // Lanes.
  nodes.forEach((n, i) => {
    const ly = laneY.get(n)!;
    const h = Math.max(1, laneRows.get(n)?.length ?? 1) * ROW + LANE_PAD * 2;
    if (i % 2 === 0)
      out.push(
        `<rect x="${LEFT - 110}" y="${ly - LANE_PAD}" width="${W - RIGHT - LEFT + 110}" height="${h}" fill="#f6f7f9"/>`,
      );
    out.push(
      `<text x="${LEFT - 12}" y="${ly + h / 2 - LANE_PAD + 4}" font-size="13" font-weight="bold" fill="#333" text-anchor="end">${esc(n)}</text>`,
    );
  });

  const rowY = (p: Placed) => laneY.get(p.pod.node!)! + p.row * ROW + 4;
  const podAt = new Map(placed.map((p) => [p.pod.name, p]));

  // Release lines (behind the bars).
  groups.forEach((g, gi) => {
    const at = g.completedAt ?? g.releasedAt;
    if (at === null) return;
    const gx = x(at);
    const c = PALETTE[gi % PALETTE.length]!;
    out.push(
      `<line x1="${fmt(gx)}" y1="${TOP - 10}" x2="${fmt(gx)}" y2="${plotBottom}" stroke="${c.anchor}" stroke-dasharray="5,4" stroke-width="1.2"/>`,
    );
    const who = g.completedAt !== null ? 'group completed' : `anchors released by ${g.releasedBy}`;
    out.push(
      `<text x="${fmt(gx - 4)}" y="${TOP - 14}" font-size="10.5" fill="${c.anchor}" text-anchor="end">${esc(who)}</text>`,
    );
  });

  // Anchors, then pods on top.
  for (const p of placed) {
    const c = PALETTE[p.g % PALETTE.length]!;
    const by = rowY(p);
    if (p.anchor && p.anchor.createdAt !== null) {
      const end = p.anchor.deletedAt ?? t1;
      const ax = x(p.anchor.createdAt);
      out.push(
        `<rect x="${fmt(ax)}" y="${by + 16}" width="${fmt(Math.max(2, x(end) - ax))}" height="5" rx="1.5" fill="${c.anchor}" opacity="0.85"><title>${esc(`${p.anchor.name}: anchor on ${p.anchor.node}, ${p.anchor.present ? 'still there at the end' : 'deleted'}`)}</title></rect>`,
      );
      if (p.anchor.present) out.push(`<path d="M${fmt(x(end) - 1)},${by + 14} l6,4.5 l-6,4.5 z" fill="${c.anchor}"/>`);
    }
  }
  for (const p of placed) {
    const c = PALETTE[p.g % PALETTE.length]!;
    const by = rowY(p);
    const failed = p.pod.outcome === 'failed';
    const sx = x(p.start);
    const rw = Math.max(3, x(p.restoreEnd) - sx);
    out.push(
      `<rect x="${fmt(sx)}" y="${by}" width="${fmt(rw)}" height="13" rx="2" fill="${failed ? '#ef9a9a' : c.main}" stroke="${failed ? FAIL : c.main}"><title>${esc(`${p.pod.name} on ${p.pod.node}: ${p.pod.outcome ?? p.pod.phase ?? ''}${p.pod.reason ? ` (${p.pod.reason})` : ''}`)}</title></rect>`,
    );
    if (p.podEnd - p.restoreEnd > 50) {
      out.push(
        `<rect x="${fmt(sx + rw)}" y="${by}" width="${fmt(Math.max(1, x(p.podEnd) - sx - rw))}" height="13" rx="2" fill="url(#held${p.g % PALETTE.length})" stroke="${c.main}" stroke-width="0.8"><title>pod still Running after its restore container ended (helper sidecar)</title></rect>`,
      );
    }
    out.push(`<text x="${fmt(sx)}" y="${by - 3}" font-size="9.5" fill="#333">${esc(shortName(p.pod.name))}</text>`);
    if (failed) {
      const fx = x(p.restoreEnd);
      out.push(
        `<g stroke="${FAIL}" stroke-width="2.4"><line x1="${fmt(fx - 5)}" y1="${by + 1}" x2="${fmt(fx + 5)}" y2="${by + 12}"/><line x1="${fmt(fx + 5)}" y1="${by + 1}" x2="${fmt(fx - 5)}" y2="${by + 12}"/></g>`,
      );
      out.push(
        `<text x="${fmt(fx + 8)}" y="${by + 11}" font-size="10" font-weight="bold" fill="${FAIL}">${esc(p.pod.reason ?? 'failed')}</text>`,
      );
    }
    if (p.pod.stopAt !== null) {
      const tx = x(p.pod.stopAt);
      out.push(
        `<path d="M${fmt(tx - 4.5)},${by - 1} l9,0 l-4.5,7 z" fill="#111"><title>stop annotation set by ${p.pod.stopBy}</title></path>`,
      );
    }
  }

  // Retries: from the failure to the replacement's pod.
  for (const g of groups) {
    for (const rt of g.retries) {
      const failedPod = placed.find((p) => p.pod.outcome === 'failed' && p.pod.job === rt.of);
      const next = [...podAt.values()].find((p) => p.pod.job === rt.job);
      if (!failedPod || !next) continue;
      const x1 = x(failedPod.restoreEnd);
      const y1 = rowY(failedPod) + 13;
      const x2 = x(next.start);
      const y2 = rowY(next) + 6;
      const mx = (x1 + x2) / 2;
      out.push(
        `<path d="M${fmt(x1)},${y1} C${fmt(mx)},${y1 + 30} ${fmt(mx - 20)},${y2} ${fmt(x2 - 2)},${y2}" fill="none" stroke="#e07b00" stroke-width="1.6" stroke-dasharray="5,3" marker-end="url(#arrow)"/>`,
      );
      const label = `${rt.job.split('-').slice(-2).join('-')} (attempt ${rt.attempt})${rt.avoid.length ? `, avoids ${rt.avoid.join(',')}` : ''}`;
      out.push(
        `<text x="${fmt(Math.min(x1, x2) - 12)}" y="${fmt(y2 + 4)}" font-size="10.5" fill="#b35f00" text-anchor="end">${esc(label)}</text>`,
      );
    }
  }

  // Legend.
  const ly = plotBottom + 40;
  const c0 = PALETTE[0]!;
  const items: [string, string][] = [
    [`<rect x="0" y="-9" width="26" height="11" rx="2" fill="${c0.main}"/>`, 'restore container running'],
    [
      `<rect x="0" y="-9" width="26" height="11" rx="2" fill="url(#held0)" stroke="${c0.main}" stroke-width="0.8"/>`,
      'pod kept Running by a sidecar',
    ],
    [
      `<rect x="0" y="-5" width="26" height="5" rx="1.5" fill="${c0.anchor}"/>`,
      'anchor pod (holds the scheduling footprint)',
    ],
    [`<path d="M8,-9 l9,0 l-4.5,7 z" fill="#111"/>`, 'stop annotation set'],
    [
      `<rect x="0" y="-9" width="26" height="11" rx="2" fill="#ef9a9a" stroke="${FAIL}"/><g stroke="${FAIL}" stroke-width="2.2"><line x1="8" y1="-8" x2="18" y2="1"/><line x1="18" y1="-8" x2="8" y2="1"/></g>`,
      'failed restore',
    ],
    [
      `<path d="M0,-3 L24,-3" stroke="#e07b00" stroke-width="1.6" stroke-dasharray="5,3" marker-end="url(#arrow)"/>`,
      'retry (new Job, elsewhere)',
    ],
    [
      `<path d="M13,-12 L13,4" stroke="${c0.anchor}" stroke-dasharray="4,3" stroke-width="1.2"/>`,
      'group done: anchors released',
    ],
  ];
  items.forEach(([glyph, text], i) => {
    const col = i % 3;
    const row = Math.floor(i / 3);
    out.push(
      `<g transform="translate(${LEFT + col * 320},${ly + row * 24})">${glyph}<text x="34" y="0" font-size="11.5" fill="#333">${esc(text)}</text></g>`,
    );
  });
  if (groups.length > 1) {
    groups.forEach((g, i) => {
      const c = PALETTE[i % PALETTE.length]!;
      out.push(
        `<g transform="translate(${LEFT + i * 320},${ly + 80})"><rect x="0" y="-9" width="12" height="11" fill="${c.main}"/><text x="18" y="0" font-size="11.5" fill="#333">${esc(`${g.namespace}/${g.group}`)}</text></g>`,
      );
    });
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
