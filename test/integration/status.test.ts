// `restore-guard status` on the real control plane: a group of two restores runs under restore-guard
// (one finishes at once, one runs until the test ends it); the CLI, reading the cluster with the
// rig's admin kubeconfig, must show the group in flight with its members, their nodes and states,
// the anchors holding each node (age, lease), and the outcome records on the Job and the PVC; its
// --watch must redraw when the second restore ends; errors must say what to do next.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/status/main.ts';
import { L, startChain, waitFor, type Chain, type RestoreGroup } from '../support/chain.ts';
import { saKubeconfig } from '../rig/index.ts';
import { captureIo } from '../support/io.ts';

let guard: Chain;
let g: RestoreGroup;
const NODES = ['rig-node-1', 'rig-node-2'];
const tmp = mkdtempSync(join(tmpdir(), 'rg-status-'));

async function status(...args: string[]) {
  const c = captureIo();
  const code = await main(['--kubeconfig', guard.rig.adminKubeconfig, '-n', guard.ns, ...args], c.io, { env: {} });
  return { code, out: c.out(), err: c.err() };
}

const anchors = async () => (await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)) as any[];
const podOf = async (job: string) => ((await guard.pods(`job-name=${job}`)) as any[])[0];

test.before(async () => {
  guard = await startChain({ mode: 'guard' });
  g = await guard.createRestoreGroup({
    name: 'status-restore',
    replicas: 2,
    runMs: [200, undefined],
    nodes: NODES,
    claims: true,
  });
  // The first restore is recorded on its Job and PVC and its pod deleted (release); both pods were
  // anchored and the anchors stay while the group runs; the second restore runs on.
  await waitFor('Job 0 and its PVC recorded, pod 0 gone, two anchors, pod 1 running', async () => {
    const [job0, pvc0, as, pod0, pod1] = await Promise.all([
      guard.job(g.jobNames[0]!),
      guard.pvc(g.claimNames[0]!),
      anchors(),
      podOf(g.jobNames[0]!),
      podOf(g.jobNames[1]!),
    ]);
    const ok =
      job0?.metadata.annotations?.[L.outcome] &&
      !pod0 &&
      pvc0?.metadata.annotations?.[L.outcome] &&
      as.length === 2 &&
      pod1?.spec.nodeName &&
      pod1.status?.phase === 'Running';
    return ok ? true : undefined;
  });
});

test.after(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await guard?.teardown();
});

test('--json: the group in flight with its members, nodes, anchors and records', async () => {
  const r = await status('--json');
  assert.is(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.is(s.namespace, guard.ns);
  assert.is(s.groups.length, 1);
  const grp = s.groups[0];
  assert.equal(
    [grp.namespace, grp.group, grp.profile, grp.phase],
    [guard.ns, 'status-restore', 'generic', 'in flight'],
  );
  assert.is(grp.size, 2);

  // The running member: its node, no state or record yet (labeling writes them with the outcome),
  // its anchor on the same node.
  const pod1 = await podOf(g.jobNames[1]!);
  const m1 = grp.members.find((m: any) => m.pod === pod1.metadata.name);
  assert.ok(m1, JSON.stringify(grp.members));
  assert.equal(
    [m1.job, m1.node, m1.phase, m1.state, m1.record, m1.attempt],
    [g.jobNames[1], pod1.spec.nodeName, 'Running', null, null, 1],
  );
  assert.equal(m1.claims, [g.claimNames[1]]);
  assert.is(m1.anchors.length, 1);
  const a1 = m1.anchors[0];
  assert.is(a1.node, pod1.spec.nodeName);
  assert.ok(a1.holding);
  assert.ok(a1.ageSeconds >= 0 && a1.ageSeconds < 600, String(a1.ageSeconds));
  assert.ok(a1.leaseLeftSeconds > 0, String(a1.leaseLeftSeconds));
  assert.ok(m1.placedAt, 'placement time from the pod');

  // Every anchor the cluster holds for the group is shown (the first pod's, with or without its pod).
  const live = await anchors();
  const shown = [...grp.members.flatMap((m: any) => m.anchors), ...grp.orphanAnchors];
  assert.equal(shown.map((a: any) => a.name).sort(), live.map((a) => a.metadata.name).sort());
  for (const a of shown) {
    const l = live.find((x) => x.metadata.name === a.name);
    assert.is(a.node, l.spec.nodeName);
  }

  // Records: the first restore's outcome on its Job and its PVC, as labeling wrote them.
  const job0 = await guard.job(g.jobNames[0]!);
  const rec = JSON.parse(job0.metadata.annotations[L.outcome]);
  const j0 = grp.jobs.find((j: any) => j.name === g.jobNames[0]);
  assert.equal([j0.record.state, j0.record.node, j0.state], ['succeeded', rec.node, job0.metadata.labels[L.state]]);
  assert.ok(j0.history >= 1);
  const j1 = grp.jobs.find((j: any) => j.name === g.jobNames[1]);
  assert.equal([j1.condition, j1.record], [null, null]);
  const p0 = grp.pvcs.find((p: any) => p.name === g.claimNames[0]);
  const pvcRec = JSON.parse((await guard.pvc(g.claimNames[0]!)).metadata.annotations[L.outcome]);
  assert.ok(pvcRec.node, 'the PVC record names the node that restored it');
  // The first pod is gone (deleted once recorded): it is told from its Job's history, and its
  // anchor, still holding its node, is shown without it.
  assert.equal(
    grp.ended.map((e: any) => [e.pod, e.job, e.node, e.state]),
    [[pvcRec.pod, g.jobNames[0], pvcRec.node, 'succeeded']],
  );
  assert.equal(
    grp.orphanAnchors.map((a: any) => [a.for, a.node, a.holding]),
    [[pvcRec.pod, pvcRec.node, true]],
  );
  assert.equal([p0.present, p0.record.state, p0.record.node], [true, 'succeeded', pvcRec.node]);
  const p1 = grp.pvcs.find((p: any) => p.name === g.claimNames[1]);
  assert.equal([p1.present, p1.record], [true, null]);
});

test('text: the same facts, one table per group', async () => {
  const r = await status();
  assert.is(r.code, 0, r.err);
  const pod1 = await podOf(g.jobNames[1]!);
  const job0 = await guard.job(g.jobNames[0]!);
  const jobRec = JSON.parse(job0.metadata.annotations[L.outcome]);
  const pvcNode = JSON.parse((await guard.pvc(g.claimNames[0]!)).metadata.annotations[L.outcome]).node;
  assert.match(r.out, `restore-guard status · kubeconfig ${guard.rig.adminKubeconfig} · namespace ${guard.ns}`);
  assert.match(r.out, '1 group in flight, 0 done');
  assert.match(
    r.out,
    `${guard.ns}/status-restore · generic · in flight · 1 member of 2: 1 running · anchors 2 holding`,
  );
  const row = r.out.split('\n').find((l) => l.includes(pod1.metadata.name))!;
  assert.ok(row, r.out);
  for (const s of [
    pod1.spec.nodeName,
    'Running',
    `${pod1.metadata.name}-anchor on ${pod1.spec.nodeName} (`,
    'old, lease ',
  ])
    assert.ok(row.includes(s), `${s} in ${row}`);
  // The Job's own row (the ended pod's row starts with the Job's name too: <job>-<suffix>).
  const jobRow = r.out.split('\n').find((l) => l.trim().split(/\s+/)[0] === g.jobNames[0])!;
  assert.ok(jobRow.includes(jobRec.node ? `succeeded on ${jobRec.node}` : 'succeeded'), jobRow);
  const endedRow = r.out
    .split('\n')
    .find((l) => l.trim().startsWith(`${g.jobNames[0]}-`) && l.includes(` ${g.jobNames[0]} `))!;
  assert.ok(endedRow?.includes(`${pvcNode}  succeeded`), `${endedRow}\n${r.out}`);
  const pvcRow = r.out.split('\n').find((l) => l.trim().startsWith(g.claimNames[0]!))!;
  assert.ok(pvcRow.includes(`succeeded on ${pvcNode}`), pvcRow);
});

test('--svg: the per-node timeline of the live group', async () => {
  const file = join(tmp, 'status.svg');
  const r = await status('--svg', file);
  assert.is(r.code, 0, r.err);
  const svg = readFileSync(file, 'utf8');
  const pod1 = await podOf(g.jobNames[1]!);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, 'restore-guard status: where each restore ran, and when');
  assert.match(svg, `>${pod1.spec.nodeName}</text>`);
  assert.match(svg, `<title>${pod1.metadata.name}-anchor: anchor on ${pod1.spec.nodeName}`);
});

test('--watch redraws when the running restore ends, and ends cleanly on Ctrl-C (abort)', async () => {
  const c = captureIo();
  const pod1 = await podOf(g.jobNames[1]!);
  const ac = new AbortController();
  const watching = main(
    ['--kubeconfig', guard.rig.adminKubeconfig, '-n', guard.ns, '--watch', '--interval', '0.5', '--all', '--json'],
    c.io,
    { env: {}, signal: ac.signal },
  );
  const draws = () =>
    c
      .out()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  await waitFor('the first draw', async () => (draws().length ? true : undefined));
  const first = draws()[0].groups[0].members.find((m: any) => m.pod === pod1.metadata.name);
  assert.is(first.phase, 'Running');
  // End the second restore: the rig's stages finish a pod at its finish-at annotation.
  await guard.kube.patch(`/api/v1/namespaces/${guard.ns}/pods/${pod1.metadata.name}`, {
    metadata: { annotations: { 'rig.restoreguard.dev/finish-at': new Date().toISOString() } },
  });
  // A later draw shows it: its pod ended or is gone (released), its Job recorded.
  const ended = (d: any) => {
    const grp = d.groups.find((x: any) => x.group === 'status-restore');
    const m = grp?.members.find((x: any) => x.pod === pod1.metadata.name);
    const j1 = grp?.jobs.find((j: any) => j.name === g.jobNames[1]);
    return m?.phase !== 'Running' && j1?.record?.state === 'succeeded';
  };
  await waitFor('a redraw with the second restore ended and recorded', async () =>
    draws().some(ended) ? true : undefined,
  );
  ac.abort();
  assert.is(await watching, 0, c.err());
  const all = draws();
  assert.ok(all.length >= 2);
});

test('errors say what to do next: no kubeconfig, unreachable API server, forbidden', async () => {
  const c1 = captureIo();
  assert.is(await main(['--kubeconfig', join(tmp, 'missing')], c1.io, { env: {} }), 1);
  assert.match(c1.err(), /cannot load Kubernetes configuration/);
  assert.match(c1.err(), /hint: set KUBECONFIG or pass --kubeconfig FILE/);

  // The rig's kubeconfig pointed at a port nothing listens on.
  const dead = join(tmp, 'dead.kubeconfig');
  writeFileSync(dead, readFileSync(guard.rig.adminKubeconfig, 'utf8').replace(guard.rig.server, 'https://127.0.0.1:1'));
  const c2 = captureIo();
  assert.is(await main(['--kubeconfig', dead], c2.io, { env: {} }), 1);
  assert.match(c2.err(), /unreachable/);
  assert.match(c2.err(), /hint: check that the cluster is up .*kubectl cluster-info/);

  // A ServiceAccount with no rights: authenticated, forbidden (403).
  const nobody = await saKubeconfig(guard.ns, 'status-nobody');
  const c4 = captureIo();
  assert.is(await main(['--kubeconfig', nobody, '-n', guard.ns], c4.io, { env: {} }), 1);
  assert.match(c4.err(), /forbidden: .*403/);
  assert.match(
    c4.err(),
    `hint: status needs list on pods and jobs and get on persistentvolumeclaims in namespace ${guard.ns}`,
  );
  assert.match(c4.err(), `kubectl auth can-i list pods -n ${guard.ns}`);

  // A token the API server does not know: 401.
  const anon = join(tmp, 'anon.kubeconfig');
  writeFileSync(
    anon,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: rig, cluster: {server: '${guard.rig.server}', certificate-authority: '${guard.rig.caFile}'}}]`,
      'users: [{name: nobody, user: {token: not-a-token}}]',
      'contexts: [{name: rig, context: {cluster: rig, user: nobody}}]',
      'current-context: rig',
    ].join('\n'),
  );
  const c3 = captureIo();
  assert.is(await main(['--kubeconfig', anon], c3.io, { env: {} }), 1);
  assert.match(c3.err(), /unauthorized: .*401/);
  assert.match(c3.err(), /hint: the kubeconfig's credentials were refused/);
});

test.run();
