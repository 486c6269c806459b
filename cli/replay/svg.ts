import type { Report } from './report.ts';
import { renderTimelineSvg } from '../shared/timeline-svg.ts';

/** The replay as a picture (cli/shared/timeline-svg.ts): what the replayed events did, per node. */
export function renderSvg(r: Report): string {
  const groups = r.state?.groups ?? [];
  const dirs = [...new Set(r.files.map((f) => f.split('/').slice(0, -1).join('/')))];
  const title =
    r.files.length === 1
      ? r.files[0]!
      : dirs.length === 1 && dirs[0]
        ? `${dirs[0]}/ (${r.files.length} files)`
        : `${r.files.length} files`;
  const what =
    r.mode === 'offline'
      ? 'offline replay'
      : r.mode === 'cluster'
        ? `replay against a cluster${r.dryRun ? ' (dry-run)' : ''}`
        : 'replay';
  const gnames = groups.map((g) => `${g.namespace}/${g.group} (${g.profile})`).join(', ') || 'no restore group seen';
  return renderTimelineSvg({
    what,
    subtitle: `${title} · ${r.events} events · ${gnames}`,
    groups,
    start: r.start,
    end: r.end,
  });
}
