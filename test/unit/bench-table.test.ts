// The benchmark's pure parts: percentiles, quantities, verdicts and the markdown table.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  all,
  workloadWaitTable,
  atLeast,
  atMost,
  backupSetOf,
  compactMembers,
  expandMembers,
  fmtMs,
  fmtPct,
  fmtRatio,
  headlineTable,
  heldAfter,
  markdownTable,
  mean,
  percentile,
  podRequests,
  quantity,
  ratioAtMost,
  setsApart,
  share,
  sharedNodes,
  summarize,
  tally,
  type Row,
} from '../bench/table.ts';

test('percentile is nearest-rank over the finite samples', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
  assert.is(percentile(xs, 50), 50);
  assert.is(percentile(xs, 99), 99);
  assert.is(percentile(xs, 100), 100);
  assert.is(percentile(xs, 0), 1);
  assert.is(percentile([7], 99), 7);
  assert.is(percentile([1, 2, 3, 1000], 99), 1000, 'a small sample: p99 is the worst');
  assert.is(percentile([5, NaN, Infinity, 3], 50), 3, 'non-finite samples are ignored');
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('summarize, mean and share', () => {
  const s = summarize([10, 20, 30, Infinity]);
  assert.equal(s, { n: 3, p50: 20, p99: 30, max: 30, mean: 20 });
  assert.ok(Number.isNaN(mean([])));
  assert.is(share(1, 4), 0.25);
  assert.ok(Number.isNaN(share(0, 0)), 'no groups is not 0% violated');
});

test('quantities and pod requests', () => {
  assert.is(quantity('500m'), 0.5);
  assert.is(quantity('2'), 2);
  assert.is(quantity('512Mi'), 512 * 1024 * 1024);
  assert.is(quantity('1G'), 1e9);
  assert.ok(Number.isNaN(quantity('lots')));
  const r = podRequests({
    containers: [
      { resources: { requests: { cpu: '500m', memory: '512Mi' } } },
      { resources: { requests: { cpu: '10m', memory: '16Mi' } } },
      {},
    ],
    initContainers: [{ resources: { requests: { cpu: '2', memory: '1Mi' } } }],
  });
  assert.is(r.cpu, 2, 'an init container asking more than all regular ones together sets the reservation');
  assert.is(r.memory, 528 * 1024 * 1024);
  assert.equal(podRequests(undefined), { cpu: 0, memory: 0 });
});

test('verdicts: a limit, a ratio to the baseline, and no data is a miss', () => {
  assert.is(atMost(249, 250), 'met');
  assert.is(atMost(251, 250), 'MISSED');
  assert.is(atMost(NaN, 250), 'MISSED');
  assert.is(atLeast(20_000, 20_000), 'met');
  assert.is(atLeast(19_999, 20_000), 'MISSED');
  assert.is(ratioAtMost(10, 100, 0.1), 'met');
  assert.is(ratioAtMost(11, 100, 0.1), 'MISSED');
  assert.is(ratioAtMost(0, 0, 0.1), 'met', 'nothing held against nothing held');
  assert.is(ratioAtMost(1, 0, 0.1), 'MISSED');
  assert.is(ratioAtMost(1, NaN, 0.1), 'MISSED');
  assert.is(all(['met', 'n/a', 'met']), 'met');
  assert.is(all(['met', 'MISSED']), 'MISSED');
  assert.is(all([]), 'MISSED');
  assert.is(all(['n/a']), 'MISSED');
});

test('formatting', () => {
  assert.is(fmtMs(12.4), '12 ms');
  assert.is(fmtMs(1234), '1.23 s');
  assert.is(fmtMs(12_345), '12.3 s');
  assert.is(fmtMs(NaN), '—');
  assert.is(fmtPct(0), '0%');
  assert.is(fmtPct(1), '100%');
  assert.is(fmtPct(0.78), '78%');
  assert.is(fmtPct(0.012), '1.2%');
  assert.is(fmtRatio(5, 100), '0.050×');
  assert.is(fmtRatio(150, 100), '1.50×');
  assert.is(fmtRatio(1, 0), '—');
});

test('markdown table: escaped pipes, checked widths', () => {
  const t = markdownTable(['a', 'b'], [['x|y', 'z']]);
  assert.is(t, '| a | b |\n| --- | --- |\n| x\\|y | z |');
  assert.throws(() => markdownTable(['a', 'b'], [['only one']]), /1 cells, want 2/);
});

test('the headline table shows a missed target as MISSED, and tally counts it', () => {
  const rows: Row[] = [
    {
      figure: '1',
      title: 'accuracy',
      cell: '3 nodes',
      value: '0%',
      baseline: 'plain 78%',
      ratio: '—',
      target: '0',
      verdict: 'met',
    },
    {
      figure: '4',
      title: 'latency',
      cell: 'bound → anchor',
      value: 'p99 300 ms',
      baseline: '—',
      ratio: '—',
      target: 'p99 < 250 ms',
      verdict: 'MISSED',
    },
  ];
  const t = headlineTable(rows);
  const lines = t.split('\n');
  assert.is(lines.length, 4);
  assert.match(
    lines[0]!,
    /^\| # \| figure \| cell \| restore-guard \| baseline \(same run\) \| ratio \| target \| verdict \|$/,
  );
  assert.ok(lines[3]!.endsWith('| **MISSED** |'), lines[3]);
  assert.ok(lines[2]!.endsWith('| met |'));
  assert.equal(tally(rows), { met: 1, missed: 1, na: 0 });
});

test('members compact to one row each, times after t0, and expand back unchanged', () => {
  const members = [
    {
      job: 'g-0',
      pod: 'g-0-a',
      node: 'n1',
      boundAt: 1_000_100,
      anchorAt: 1_000_180,
      recordedAt: null,
      stopReactionMs: 12,
      cpu: 0.5,
    },
    {
      job: 'g-1',
      pod: null,
      node: null,
      boundAt: 1_000_000,
      anchorAt: null,
      recordedAt: 1_000_900,
      stopReactionMs: null,
      cpu: 0.5,
    },
  ];
  const c = compactMembers(members);
  assert.is(c.t0, 1_000_000);
  assert.equal(c.columns, ['job', 'pod', 'node', 'boundAt', 'anchorAt', 'recordedAt', 'stopReactionMs', 'cpu']);
  assert.equal(c.rows[0], ['g-0', 'g-0-a', 'n1', 100, 180, null, 12, 0.5]); // durations are not shifted
  assert.equal(expandMembers(c), members);
  assert.equal(compactMembers([]), { t0: null, columns: [], rows: [] });
});

test("backupSetOf reads the backup set from KubeBlocks' Job name", () => {
  const sets = ['full-1', 'wal-1'];
  assert.is(backupSetOf('restore-preparedata-1a2b3c4d-full-1-0', sets), 'full-1');
  assert.is(backupSetOf('restore-preparedata-1a2b3c4d-wal-1-2', sets), 'wal-1');
  assert.is(backupSetOf('restore-preparedata-1a2b3c4d-other-0', sets), '');
  assert.is(backupSetOf(null, sets), '');
});

test('sharedNodes: two members of one backup set on a node; retries and the next set of a member are not', () => {
  assert.equal(
    sharedNodes([
      { member: 'm-0', set: 'full-1', node: 'n1' },
      { member: 'm-1', set: 'full-1', node: 'n2' },
      { member: 'm-0', set: 'full-1', node: 'n1' }, // a retry of m-0
      { member: 'm-0', set: 'wal-1', node: 'n1' }, // m-0's next set on its own node
      { member: 'm-1', set: 'wal-1', node: 'n2' },
      { member: 'm-2', set: 'full-1', node: null }, // never placed
    ]),
    [],
  );
  assert.equal(
    sharedNodes([
      { member: 'm-0', set: 'full-1', node: 'n2' },
      { member: 'm-1', set: 'full-1', node: 'n2' },
      { member: 'm-2', set: 'full-1', node: 'n2' },
      { member: 'm-0', set: 'wal-1', node: 'n1' },
      { member: 'm-1', set: 'wal-1', node: 'n1' },
    ]),
    ['n1', 'n2'],
  );
});

test('heldAfter counts from the restore end to the release, or to the end of measurement', () => {
  assert.equal(heldAfter(1000, 3500, 9000), { seconds: 2.5, still: false });
  assert.equal(heldAfter(1000, null, 9000), { seconds: 8, still: true });
  assert.equal(heldAfter(5000, 4000, 9000), { seconds: 0, still: false });
  assert.equal(heldAfter(null, null, 9000), { seconds: 0, still: false });
});

test("setsApart: a member's backup sets on different nodes, successful restores only", () => {
  const ok = true;
  assert.equal(
    setsApart([
      { member: 'm-0', set: 'full-1', node: 'n1', ok },
      { member: 'm-0', set: 'wal-1', node: 'n1', ok },
      { member: 'm-1', set: 'full-1', node: 'n2', ok },
      { member: 'm-1', set: 'wal-1', node: 'n3', ok },
      { member: 'm-2', set: 'full-1', node: 'n3', ok: false }, // failed attempt elsewhere
      { member: 'm-2', set: 'full-1', node: 'n1', ok },
      { member: 'm-2', set: 'wal-1', node: 'n1', ok },
      { member: 'm-3', set: 'full-1', node: 'n2', ok }, // one set only
    ]),
    { together: 2, apart: 1 },
  );
});

test.run();

test('workloadWaitTable: per cell, both arms, skipped groups counted', () => {
  const t = workloadWaitTable(
    [
      {
        label: 'c1',
        arms: {
          guard: [
            { workloadWaitMs: [100, 200, 300] },
            { workloadWaitMs: null, workloadSkipped: 'members never placed' },
          ],
          alone: [{ workloadWaitMs: [50] }],
        },
      },
    ],
    'guard',
    'alone',
    'KubeBlocks alone',
    'alone',
  );
  const lines = t.split('\n');
  assert.match(lines[0]!, /KubeBlocks alone p50 .* groups skipped \(guard \/ alone\)/);
  assert.match(lines[2]!, /^\| c1 \| 200 ms \| 300 ms \| 50 ms \| 50 ms \| 1 \/ 0 \|$/);
});
