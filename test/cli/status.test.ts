/**
 * restore-guard status, offline: the view built and printed from fixed objects (a KubeBlocks group
 * in flight with anchors and records, a generic group done), the JSON for scripts, the SVG, and
 * the CLI over an in-memory cluster: one shot, --watch redrawing on change and ending on Ctrl-C
 * (the abort signal) or --count, errors with what to do next. test/integration/status.test.ts runs
 * it on the real control plane.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../functions/core/config.ts';
import type { Cluster } from '../../functions/core/kube/cluster.ts';
import { MemoryCluster } from '../../functions/core/kube/memory-cluster.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { ClusterRequestError, TransientClusterError } from '../../functions/core/errors.ts';
import { keys } from '../../functions/core/restore/keys.ts';
import { createSelector } from '../../functions/core/restore/selection.ts';
import { renderTimelineSvg } from '../../cli/shared/timeline-svg.ts';
import { buildStatus, toTimeline, type Snapshot } from '../../cli/status/model.ts';
import { duration, formatStatus, jsonStatus } from '../../cli/status/format.ts';
import { readSnapshot } from '../../cli/status/read.ts';
import { main, parseStatusCli } from '../../cli/status/main.ts';
import { pvc, restoreJob, restorePod } from '../support/objects.ts';
import { captureIo } from '../support/io.ts';

const cfg = loadConfig({});
const selector = createSelector(cfg);
const k = keys(cfg.RG_DOMAIN);
const NOW = Date.parse('2026-11-29T10:00:30Z');

const outcome = (node: string, pod: string, state = 'succeeded', reason: string | null = null) =>
  JSON.stringify({
    state,
    scope: 'pod',
    reason,
    node,
    pod,
    attempt: 1,
    exitCode: state === 'succeeded' ? 0 : 1,
    startedAt: '2026-11-29T10:00:01Z',
    finishedAt: '2026-11-29T10:00:05Z',
  });

function anchor(forPod: string, node: string, group = 'mysql-restore', created = '2026-11-29T10:00:02Z'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${forPod}-anchor`,
      namespace: 'db',
      creationTimestamp: created,
      labels: { [k.group]: group, [k.anchorFor]: forPod },
      annotations: { [k.anchorPod]: forPod, [k.profile]: 'kubeblocks' },
    },
    spec: { nodeName: node, activeDeadlineSeconds: 600, containers: [{ name: 'pause', image: 'pause' }] },
    status: { phase: 'Running' },
  };
}

/** A KubeBlocks group in flight (one restore done and recorded, one running), a generic group done. */
function fixture() {
  const done = restorePod({
    name: 'restore-0-abcde',
    job: 'restore-0',
    node: 'node-1',
    phase: 'Running', // the restore-manager sidecar keeps it Running
    restore: { exit: 0 },
    claims: ['data-mysql-0'],
    labels: { [k.state]: 'succeeded' },
    annotations: { [k.outcome]: outcome('node-1', 'restore-0-abcde') },
    status: {
      conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-29T10:00:01Z' }],
    },
  });
  const running = restorePod({
    name: 'restore-1-fghij',
    job: 'restore-1',
    node: 'node-2',
    phase: 'Running',
    claims: ['data-mysql-1'],
    status: {
      conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-29T10:00:01Z' }],
    },
  });
  const jobs = [
    restoreJob({
      name: 'restore-0',
      claims: ['data-mysql-0'],
      labels: { [k.state]: 'succeeded' },
      annotations: {
        [k.outcome]: outcome('node-1', 'restore-0-abcde'),
        [k.history]: JSON.stringify([
          {
            pod: 'restore-0-abcde',
            uid: 'uid-restore-0-abcde',
            scope: 'pod',
            state: 'succeeded',
            reason: null,
            node: 'node-1',
            attempt: 1,
            finishedAt: '2026-11-29T10:00:05Z',
          },
        ]),
      },
      condition: { type: 'Complete' },
    }),
    restoreJob({ name: 'restore-1', claims: ['data-mysql-1'] }),
    restoreJob({
      name: 'pg-0',
      profile: 'generic',
      group: 'pg',
      claims: ['data-pg-0'],
      condition: { type: 'Complete' },
      annotations: { [k.outcome]: outcome('node-3', 'pg-0-xyz') },
    }),
  ];
  const anchors = [anchor('restore-0-abcde', 'node-1'), anchor('restore-1-fghij', 'node-2')];
  const pvcs = [pvc('data-mysql-0', 'db', { [k.outcome]: outcome('node-1', 'restore-0-abcde') }), pvc('data-mysql-1')];
  return { pods: [done, running] as unknown as KubeObject[], jobs: jobs as unknown as KubeObject[], anchors, pvcs };
}

function snapshot(): Snapshot {
  return { at: NOW, source: 'kubeconfig /tmp/k', namespace: 'db', ...fixture() };
}

test('the view: groups, members, nodes, states, anchors with age and lease, records on Jobs and PVCs', () => {
  const r = buildStatus(snapshot(), selector, k);
  assert.equal(
    r.groups.map((g) => [g.namespace, g.group, g.profile, g.phase]),
    [
      ['db', 'mysql-restore', 'kubeblocks', 'in flight'],
      ['db', 'pg', 'generic', 'done'],
    ],
  );
  const g = r.groups[0]!;
  assert.equal(g.counts, { running: 1, succeeded: 1 });
  assert.equal(
    g.members.map((m) => [m.pod, m.job, m.node, m.phase, m.state, m.record?.state ?? null, m.claims]),
    [
      ['restore-0-abcde', 'restore-0', 'node-1', 'Running', 'succeeded', 'succeeded', ['data-mysql-0']],
      ['restore-1-fghij', 'restore-1', 'node-2', 'Running', null, null, ['data-mysql-1']],
    ],
  );
  const a = g.members[1]!.anchors[0]!;
  assert.equal(
    [a.name, a.node, a.holding, a.ageSeconds, a.leaseLeftSeconds],
    ['restore-1-fghij-anchor', 'node-2', true, 28, 572],
  );
  assert.equal(
    g.jobs.map((j) => [j.name, j.condition, j.state, j.record?.node ?? null, j.history]),
    [
      ['restore-0', 'Complete', 'succeeded', 'node-1', 1],
      ['restore-1', null, null, null, 0],
    ],
  );
  assert.equal(
    g.pvcs.map((p) => [p.name, p.present, p.record?.state ?? null]),
    [
      ['data-mysql-0', true, 'succeeded'],
      ['data-mysql-1', true, null],
    ],
  );
  // Times for the timeline come from the pod: placement, and the restore container's end.
  assert.is(g.members[0]!.placedAt, Date.parse('2026-11-29T10:00:01Z'));
  assert.is(g.members[0]!.restoreDoneAt, Date.parse('2026-11-29T10:00:05Z'));
  assert.is(g.members[1]!.restoreDoneAt, null);
  // The generic group is done: its Job is Complete; its PVC is named by the Job's template (no pod left).
  assert.equal(r.groups[1]!.pvcs, [{ name: 'data-pg-0', present: false, record: null }]);
});

test('an anchor whose pod is gone stays in its group; a group with a holding anchor is in flight', () => {
  const s = snapshot();
  s.pods = s.pods.filter((p) => p.metadata.name !== 'restore-0-abcde');
  s.jobs = s.jobs.filter((j) => j.metadata.name === 'restore-0');
  const g = buildStatus(s, selector, k).groups[0]!;
  assert.equal(
    g.orphanAnchors.map((a) => [a.name, a.for, a.node]),
    [['restore-0-abcde-anchor', 'restore-0-abcde', 'node-1']],
  );
  assert.is(g.phase, 'in flight', 'the anchor of the gone pod still holds node-1');
  // The gone pod is still told, from its Job's history and record: in the text and in the picture.
  assert.equal(g.ended, [
    {
      pod: 'restore-0-abcde',
      job: 'restore-0',
      node: 'node-1',
      state: 'succeeded',
      reason: null,
      attempt: 1,
      startedAt: '2026-11-29T10:00:01Z',
      finishedAt: '2026-11-29T10:00:05Z',
    },
  ]);
  const text = formatStatus(buildStatus(s, selector, k), { all: false });
  const lines = text.split('\n');
  const header = lines.findIndex((l) => l.trim().startsWith('ENDED (POD GONE)'));
  assert.ok(header > 0, text);
  assert.equal(lines[header + 1]!.trim().split(/\s+/), [
    'restore-0-abcde',
    'restore-0',
    'node-1',
    'succeeded',
    '-',
    '1',
    '2026-11-29',
    '10:00:05',
  ]);
  assert.match(text, 'restore-0-abcde-anchor on node-1 (28s old, lease 9m32s left) for restore-0-abcde');
  const svg = renderTimelineSvg(toTimeline(buildStatus(s, selector, k)));
  assert.match(svg, '<title>restore-0-abcde on node-1: succeeded</title>');
});

const TEXT = `restore-guard status · kubeconfig /tmp/k · namespace db · 2026-11-29 10:00:30 UTC
1 group in flight, 1 done (shown with --all)

namespace db

db/mysql-restore · kubeblocks · in flight · 2 members: 1 running, 1 succeeded · anchors 2 holding
  MEMBER           NODE    PHASE    STATE      REASON  ATTEMPT  ANCHOR (AGE, LEASE)                                           RECORD
  restore-0-abcde  node-1  Running  succeeded  -       1        restore-0-abcde-anchor on node-1 (28s old, lease 9m32s left)  succeeded on node-1
  restore-1-fghij  node-2  Running  -          -       1        restore-1-fghij-anchor on node-2 (28s old, lease 9m32s left)  -
  JOB        CONDITION  STATE      ATTEMPT  HISTORY  RECORD
  restore-0  Complete   succeeded  1        1        succeeded on node-1
  restore-1  running    -          1        0        -
  PVC           RECORD
  data-mysql-0  succeeded on node-1
  data-mysql-1  -
`;

test('text: one table per group, done groups only with --all', () => {
  const r = buildStatus(snapshot(), selector, k);
  assert.fixture(formatStatus(r, { all: false }), TEXT);
  const all = formatStatus(r, { all: true });
  assert.match(all, '1 group in flight, 1 done\n');
  assert.match(all, 'db/pg · generic · done · 0 members · anchors 0 holding');
  assert.match(all, '  pg-0  Complete   -      1        0        succeeded on node-3');
  assert.match(all, '  data-pg-0  not found');
});

test('text: failures, retries, and nothing to show', () => {
  const s = snapshot();
  const failed = s.pods[1]!;
  failed.metadata.labels![k.state] = 'failed';
  failed.metadata.annotations![k.outcome] = outcome('node-2', 'restore-1-fghij', 'failed', 'Evicted');
  s.jobs.push({
    ...restoreJob({
      name: 'restore-1-r1',
      annotations: { [k.retryOf]: 'restore-1', [k.attempt]: '2' },
    }),
  } as unknown as KubeObject);
  const retryJob = s.jobs.at(-1)!;
  (retryJob.spec as any).template.spec.affinity = {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['node-2'] }] },
        ],
      },
    },
  };
  const text = formatStatus(buildStatus(s, selector, k), { all: false });
  assert.match(text, /restore-1-fghij {2}node-2 {2}Running {2}failed {5}Evicted {2}1 /);
  assert.match(text, 'failed (Evicted) on node-2');
  assert.match(text, '  retry: restore-1-r1 retries restore-1 (attempt 2), avoids node-2');
  const empty = formatStatus(buildStatus({ ...s, pods: [], jobs: [], anchors: [], pvcs: [] }, selector, k), {
    all: false,
  });
  assert.match(empty, '0 groups in flight, 0 done');
  assert.match(empty, 'no restore pods, Jobs or anchors found');
});

test('durations', () => {
  assert.equal([0, 45, 60, 192, 3599, 3600, 3720, -5, null].map(duration), [
    '0s',
    '45s',
    '1m00s',
    '3m12s',
    '59m59s',
    '1h00m',
    '1h02m',
    '-5s',
    '-',
  ]);
});

test('JSON for scripts: times as ISO strings, done groups counted as hidden', () => {
  const r = buildStatus(snapshot(), selector, k);
  const j = JSON.parse(JSON.stringify(jsonStatus(r, { all: false })));
  assert.is(j.hidden, 1);
  assert.is(j.groups.length, 1);
  assert.is(j.groups[0].members[0].placedAt, '2026-11-29T10:00:01.000Z');
  assert.is(j.groups[0].members[0].anchors[0].leaseLeftSeconds, 572);
  assert.is(j.groups[0].jobs[0].record.state, 'succeeded');
});

test('SVG: the same per-node timeline replay draws, from the live objects', () => {
  const r = buildStatus(snapshot(), selector, k);
  const svg = renderTimelineSvg(toTimeline(r));
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, 'restore-guard status: where each restore ran, and when');
  for (const node of ['node-1', 'node-2']) assert.match(svg, `>${node}</text>`);
  assert.match(svg, '<title>restore-0-abcde-anchor: anchor on node-1, still there at the end</title>');
  assert.match(svg, '<title>restore-0-abcde on node-1: succeeded</title>');
  assert.match(svg, '<title>restore-1-fghij on node-2: Running</title>');
  // restore-0's pod is kept Running by its sidecar after the restore container ended: hatched.
  assert.match(svg, 'pod still Running after its restore container ended (helper sidecar)');
});

// --- the CLI over an in-memory cluster -----------------------------------------------------------

async function memoryCluster(): Promise<MemoryCluster> {
  const c = new MemoryCluster(() => new Date(NOW));
  const f = fixture();
  for (const o of [...f.pods, ...f.anchors]) await c.create('Pod', 'db', o);
  for (const o of f.jobs) await c.create('Job', 'db', o);
  for (const o of f.pvcs) await c.create('PersistentVolumeClaim', 'db', o);
  c.writes.length = 0;
  return c;
}

/** The cluster with its list replaced (to change the world between polls, or to fail). */
function withList(c: Cluster, list: Cluster['list']): Cluster {
  return {
    get: c.get.bind(c),
    list,
    create: c.create.bind(c),
    patch: c.patch.bind(c),
    delete: c.delete.bind(c),
    logs: c.logs.bind(c),
  };
}

test('read.ts reads what the view needs, with list and get only', async () => {
  const c = await memoryCluster();
  const s = await readSnapshot(c, selector, k, 'db', 'x', () => NOW);
  assert.equal(s.pods.map((p) => p.metadata.name).sort(), ['restore-0-abcde', 'restore-1-fghij']);
  assert.equal(s.anchors.map((p) => p.metadata.name).sort(), ['restore-0-abcde-anchor', 'restore-1-fghij-anchor']);
  assert.equal(s.jobs.length, 3);
  assert.equal(s.pvcs.map((p) => p.metadata.name).sort(), ['data-mysql-0', 'data-mysql-1']);
  assert.is(c.writes.length, 0);
});

test('one shot: the text, and the same over all namespaces', async () => {
  const c = await memoryCluster();
  const x = captureIo();
  const code = await main(['--kubeconfig', '/tmp/k', '-n', 'db'], x.io, {
    connect: async () => c,
    env: {},
    now: () => NOW,
  });
  assert.is(code, 0, x.err());
  assert.fixture(x.out(), TEXT);
  const y = captureIo();
  assert.is(await main(['--kubeconfig', '/tmp/k'], y.io, { connect: async () => c, env: {}, now: () => NOW }), 0);
  assert.match(y.out(), '· all namespaces ·');
  assert.match(y.out(), 'db/mysql-restore · kubeblocks · in flight');
});

test('--watch: redraws when something changes (not when only ages move), stops after --count', async () => {
  const c = await memoryCluster();
  const x = captureIo();
  let polls = 0;
  let t = NOW;
  const watched = withList(c, async (kind, ns, sel) => {
    const items = await c.list(kind, ns, sel);
    if (kind === 'Job') {
      polls++;
      t += 1000; // ages move every poll
      // After the second poll read its objects, the running restore ends and is recorded.
      if (polls === 2)
        await c.patch('Pod', 'db', 'restore-1-fghij', {
          metadata: {
            labels: { [k.state]: 'succeeded' },
            annotations: { [k.outcome]: outcome('node-2', 'restore-1-fghij') },
          },
        });
    }
    return items;
  });
  const code = await main(['-n', 'db', '--watch', '--interval', '0.5', '--count', '2', '--json'], x.io, {
    connect: async () => watched,
    env: {},
    now: () => t,
  });
  assert.is(code, 0, x.err());
  const draws = x
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(draws.length, 2);
  assert.is(polls, 3, 'the second poll changed nothing but ages: no redraw');
  assert.equal(
    draws.map((d) => d.groups[0].members[1].state),
    [null, 'succeeded'],
  );
});

test('--watch ends cleanly on Ctrl-C (abort), and rides out an unreachable API server', async () => {
  const c = await memoryCluster();
  const x = captureIo();
  const ac = new AbortController();
  let calls = 0;
  const flaky = withList(c, async (kind, ns, sel) => {
    if (kind === 'Job' && ++calls === 1)
      throw new TransientClusterError('API server 127.0.0.1:1 unreachable: ECONNREFUSED');
    if (kind === 'Job' && calls === 2) setTimeout(() => ac.abort(), 10);
    return c.list(kind, ns, sel);
  });
  const t0 = Date.now();
  const code = await main(['-n', 'db', '--watch', '--interval', '0.5'], x.io, {
    connect: async () => flaky,
    env: {},
    now: () => NOW,
    signal: ac.signal,
  });
  assert.is(code, 0);
  assert.match(x.err(), 'unreachable: ECONNREFUSED\n  hint: check that the cluster is up');
  assert.match(x.err(), 'trying again in 1 s (Ctrl-C to stop)');
  assert.match(x.out(), 'db/mysql-restore · kubeblocks · in flight');
  assert.ok(Date.now() - t0 < 5000, 'the abort ended the wait at once');
});

test('errors say what to do next, and end the watch when waiting cannot help', async () => {
  const forbidden = withList(await memoryCluster(), async () => {
    throw new ClusterRequestError('list Pod restoreguard.dev/group: API server answered 403: pods is forbidden', {
      details: { status: 403 },
    });
  });
  const x = captureIo();
  assert.is(await main(['-n', 'db', '--watch'], x.io, { connect: async () => forbidden, env: {} }), 1);
  assert.match(x.err(), 'forbidden: list Pod');
  assert.match(x.err(), 'hint: status needs list on pods and jobs and get on persistentvolumeclaims in namespace db');
  assert.match(x.err(), 'kubectl auth can-i list pods -n db');
  const y = captureIo();
  assert.is(await main(['--kubeconfig', '/nonexistent/kubeconfig'], y.io, { env: {} }), 1);
  assert.match(y.err(), 'cannot load Kubernetes configuration');
  assert.match(y.err(), 'hint: set KUBECONFIG or pass --kubeconfig FILE');
});

test('the command line', () => {
  assert.is(parseStatusCli([], { KUBECONFIG: '/a:/b' }).kubeconfig, '/a');
  assert.is(parseStatusCli(['--kubeconfig', '/c'], { KUBECONFIG: '/a' }).kubeconfig, '/c');
  assert.is(parseStatusCli([], {}).namespace, null);
  assert.is(parseStatusCli(['--watch', '--interval', '1.5'], {}).intervalMs, 1500);
  for (const [argv, want] of [
    [['--interval', '1'], /--interval only goes with --watch/],
    [['--watch', '--interval', '0.1'], /--interval takes seconds, 0.5 or more/],
    [['--count', '2'], /--count only goes with --watch/],
    [['-n', 'Not_A_Namespace'], /--namespace takes a namespace name/],
    [['extra'], /positional/i],
  ] as [string[], RegExp][])
    assert.throws(() => parseStatusCli(argv, {}), want);
});

test('a usage error exits 2 and shows the usage', async () => {
  const x = captureIo();
  assert.is(await main(['--bogus'], x.io, { env: {} }), 2);
  assert.match(x.err(), 'Usage: npm run status');
  const h = captureIo();
  assert.is(await main(['--help'], h.io, { env: {} }), 0);
  assert.match(h.out(), '--watch');
});

test.run();
