// KubeBlocks' own dataprotection controller (v1.0.2, built from the module proxy and started by the
// rig) makes the restore Jobs from a Restore: its names, labels, owner, finalizer and backoffLimit, the
// restore and restore-manager containers, the stop signal, the Serial policy's deletions and the
// point-in-time backup sets. restore-guard runs beside it as it would in a cluster (the Pod and Job
// ApiServerSource, and the second one over Restores). KWOK plays the containers: each restore
// container ends after the Restore's RIG_RUN_MS; restore-manager ends once the stop annotation is set.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { L, Observer, placement, startChain, waitFor, type Chain } from '../support/chain.ts';
import {
  createKubeBlocksRestore,
  DP,
  ensureBackups,
  restorePhase,
  type KubeBlocksRestoreOptions,
} from '../support/kubeblocks.ts';
import { saKubeconfig, startAdapter, type AdapterHandle } from '../rig/index.ts';

let plain: Chain;
let guard: Chain;
let restores: AdapterHandle | null = null;
const THREE = ['rig-node-1', 'rig-node-2', 'rig-node-3'];
const TWO = ['rig-node-4', 'rig-node-5'];

test.before(async () => {
  [plain, guard] = await Promise.all([startChain({ mode: 'plain' }), startChain({ mode: 'guard' })]);
  await Promise.all([ensureBackups(plain.kube, plain.ns), ensureBackups(guard.kube, guard.ns)]);
  restores = startAdapter({
    name: 'restores',
    sink: guard.ingress!,
    namespaces: [guard.ns],
    resources: [{ group: 'dataprotection.kubeblocks.io', version: 'v1alpha1', resource: 'restores' }],
    kubeconfig: await saKubeconfig('restore-guard', 'restore-guard-source'),
  });
  await restores.ready;
});

test.after(async () => {
  await restores?.stop();
  // Restores carry KubeBlocks' finalizer: delete them while the controller still runs.
  for (const c of [plain, guard]) {
    if (!c) continue;
    const list = await c.kube.find(`${DP}/namespaces/${c.ns}/restores`);
    for (const r of list?.items ?? []) await c.kube.del(`${DP}/namespaces/${c.ns}/restores/${r.metadata.name}`);
  }
  await Promise.all([plain?.teardown(), guard?.teardown()]);
});

async function run(c: Chain, o: KubeBlocksRestoreOptions, end: 'Completed' | 'Failed' = 'Completed') {
  const r = await createKubeBlocksRestore(c.kube, c.ns, o);
  const phase = await waitFor(
    `Restore ${o.name} ${end}`,
    async () => {
      const p = await restorePhase(c.kube, c.ns, o.name);
      return p === 'Completed' || p === 'Failed' ? p : undefined;
    },
    120_000,
    200,
  );
  assert.is(phase, end, `Restore ${o.name} ends ${end}`);
  const pods = c.observer.groupPods(o.name);
  return { ...r, pods, nodes: pods.map((h) => placement(h)?.node).filter((n): n is string => !!n) };
}

/** Restore pods per member (apps.kubeblocks.io/pod-name) and the nodes they ran on. */
function byMember(pods: ReturnType<Chain['observer']['groupPods']>) {
  const m = new Map<string, string[]>();
  for (const h of pods) {
    const member = h[0]!.obj.metadata.labels['apps.kubeblocks.io/pod-name'] as string;
    const node = placement(h)?.node;
    if (node) m.set(member, [...(m.get(member) ?? []), node]);
  }
  return m;
}

test('what KubeBlocks makes: Jobs and pods of its own shape, selected by restore-guard', async () => {
  const r = await run(guard, {
    name: 'shape',
    instance: 'shape',
    component: 'mysql',
    replicas: 2,
    policy: 'Parallel',
    runMs: 200,
    nodes: THREE,
  });
  const jobs = guard.observer.histories('Job', (o) => o.metadata.labels?.[L.kbRestore] === 'shape');
  assert.is(jobs.length, 2);
  for (const h of jobs) {
    const job = h[0]!.obj;
    assert.match(job.metadata.name, new RegExp(`^restore-preparedata-${r.uid.slice(0, 8)}-full-1-[01]$`));
    assert.equal(
      job.metadata.ownerReferences.map((o: any) => [o.kind, o.name, o.controller]),
      [['Restore', 'shape', true]],
    );
    assert.ok(job.metadata.finalizers.includes('dataprotection.kubeblocks.io/finalizer'));
    assert.is(job.spec.backoffLimit, 1);
    assert.equal(
      job.spec.template.spec.containers.map((c: any) => c.name),
      ['restore', 'restore-manager'],
    );
  }
  // restore-guard records every member on its PVC (KubeBlocks does not wait for it: see below)
  for (const claim of r.claims) {
    const rec = await waitFor(`${claim} has its record`, async () => {
      const text = (await guard.pvc(claim)).metadata.annotations?.[L.outcome];
      return text ? JSON.parse(text) : undefined;
    });
    assert.is(rec.state, 'succeeded', `${claim}: the outcome recorded`);
  }
  await waitFor(
    'anchors of shape gone',
    async () => (await guard.pods(`${L.group}=shape,${L.anchorFor}`)).length === 0,
  );
});

test('baseline without restore-guard: Serial, instant restores, 3 replicas on 2 nodes share a node', async () => {
  const r = await run(plain, {
    name: 'base',
    instance: 'base',
    component: 'mysql',
    replicas: 3,
    policy: 'Serial',
    runMs: 0,
    nodes: TWO,
  });
  assert.is(r.nodes.length, 3);
  assert.ok(new Set(r.nodes).size < 3, `two members on one node: ${r.nodes.join(', ')}`);
});

for (const policy of ['Serial', 'Parallel'] as const) {
  test(`restore-guard, ${policy}: 3 replicas on distinct nodes, records on every PVC, Restore Completed, anchors gone`, async () => {
    const name = `r-${policy.toLowerCase()}`;
    const r = await run(guard, {
      name,
      instance: name,
      component: 'mysql',
      replicas: 3,
      policy,
      runMs: 0,
      nodes: THREE,
    });
    const completedSeen = Date.now();
    assert.is(new Set(r.nodes).size, 3, `members on distinct nodes: ${r.nodes.join(', ')}`);
    // KubeBlocks completes the Restore (and deletes its Jobs) without waiting for restore-guard: each
    // record lands when labeling gets to it, from the live pod or, once that is gone, the live Restore.
    for (const claim of r.claims) {
      const rec = await waitFor(`${claim} has its record`, async () => {
        const text = (await guard.pvc(claim)).metadata.annotations?.[L.outcome];
        return text ? JSON.parse(text) : undefined;
      });
      assert.is(rec.state, 'succeeded', `${claim}: the outcome recorded`);
    }
    // The anchors are owned by the Restore as controller, not by the Jobs KubeBlocks deletes.
    const anchors = guard.observer.anchors(name);
    assert.is(anchors.length, 3, 'an anchor per member');
    for (const a of anchors) {
      assert.equal(
        a[0]!.obj.metadata.ownerReferences.map((o: any) => [o.kind, o.name, o.uid, o.controller]),
        [['Restore', name, r.uid, true]],
      );
    }
    await waitFor(
      `anchors of ${name} gone`,
      async () => (await guard.pods(`${L.group}=${name},${L.anchorFor}`)).length === 0,
    );
    // released on the Restore's own event (the second ApiServerSource), not on a resync ping
    const gone = (h: (typeof anchors)[number]) =>
      (Observer.first(h, (o) => !!o.metadata.deletionTimestamp) ?? h.find((c) => c.type === 'DELETED'))!.at;
    const lastGone = Math.max(...anchors.map(gone));
    assert.ok(lastGone - completedSeen < 5000, `anchors gone ${lastGone - completedSeen} ms after Completed was seen`);
    await waitFor('release answered group.completed', async () =>
      guard.logs.some(
        (l) =>
          l.msg === 'answered' && l.out === 'dev.restoreguard.group.completed' && l.subject === `${guard.ns}/${name}`,
      ),
    );
    if (policy === 'Serial') {
      // KubeBlocks deletes each finished Job before it creates the next: the anchors outlive them.
      const jobs = guard.observer.histories('Job', (o) => o.metadata.labels?.[L.kbRestore] === name);
      const firstJobGone = Math.min(
        ...jobs.map((h) => h.find((c) => c.type === 'DELETED')?.at ?? Number.POSITIVE_INFINITY),
      );
      const lastJobMade = Math.max(...jobs.map((h) => h[0]!.at));
      assert.ok(firstJobGone < lastJobMade, 'Serial: the first Job was deleted before the last was made');
      for (const a of anchors) assert.ok(gone(a) > lastJobMade, 'every anchor outlived the Jobs deleted before it');
    }
  });
}

test('deleting a Restore collects the anchors it owns', async () => {
  await createKubeBlocksRestore(guard.kube, guard.ns, {
    name: 'gone',
    instance: 'gone',
    component: 'mysql',
    replicas: 1,
    policy: 'Parallel',
    runMs: 600_000,
    nodes: THREE,
  });
  await waitFor('anchor of gone', async () => (await guard.pods(`${L.group}=gone,${L.anchorFor}`)).length === 1);
  await guard.kube.del(`${DP}/namespaces/${guard.ns}/restores/gone`);
  await waitFor(
    'garbage collector removes the anchor',
    async () => (await guard.pods(`${L.group}=gone,${L.anchorFor}`)).length === 0,
    60_000,
  );
});

test('one component, two instance templates (two Restores): anchors stay until both are done, members on distinct nodes', async () => {
  const base = { instance: 'two', component: 'mysql', policy: 'Parallel' as const, nodes: THREE };
  // Template A's restores last 1.5 s: KubeBlocks stops a backup set's sidecars itself once its restore
  // containers are done, so an instant restore can end before its anchor exists (README, Profiles: the
  // window without a gate, which KubeBlocks pods cannot carry); this test is about the second Restore.
  await createKubeBlocksRestore(guard.kube, guard.ns, {
    ...base,
    name: 'two-a',
    template: 'data-two-a',
    replicas: 2,
    runMs: 1500,
  });
  await createKubeBlocksRestore(guard.kube, guard.ns, {
    ...base,
    name: 'two-b',
    template: 'data-two-b',
    startingIndex: 2,
    replicas: 1,
    runMs: 4000,
  });
  await waitFor(
    'Restore two-a Completed',
    async () => (await restorePhase(guard.kube, guard.ns, 'two-a')) === 'Completed',
    120_000,
    100,
  );
  assert.is.not(await restorePhase(guard.kube, guard.ns, 'two-b'), 'Completed', 'two-b still restores');
  await guard.settle(500);
  assert.is(
    (await guard.pods(`${L.group}=two-a,${L.anchorFor}`)).length,
    2,
    "two-a is Completed but two-b restores under the same anti-affinity: two-a's anchors hold",
  );
  await waitFor(
    'Restore two-b Completed',
    async () => (await restorePhase(guard.kube, guard.ns, 'two-b')) === 'Completed',
    120_000,
    100,
  );
  await waitFor('anchors of both gone', async () => {
    const left = await Promise.all(['two-a', 'two-b'].map((g) => guard.pods(`${L.group}=${g},${L.anchorFor}`)));
    return left.every((l) => l.length === 0);
  });
  const nodes = ['two-a', 'two-b'].flatMap((g) =>
    guard.observer
      .groupPods(g)
      .map((h) => placement(h)?.node)
      .filter((n): n is string => !!n),
  );
  assert.is(nodes.length, 3);
  assert.is(new Set(nodes).size, 3, `members of both templates on distinct nodes: ${nodes.join(', ')}`);
});

test('point in time: the continuous set restores onto the nodes of the full set (no deadlock)', async () => {
  const r = await run(guard, {
    name: 'pitr',
    instance: 'pitr',
    component: 'mysql',
    replicas: 3,
    policy: 'Parallel',
    pointInTime: true,
    runMs: 100,
    nodes: THREE,
  });
  const members = byMember(r.pods);
  assert.is(members.size, 3);
  const first = [...members.values()].map((n) => n[0]);
  assert.is(new Set(first).size, 3, `the full set on distinct nodes: ${first.join(', ')}`);
  for (const [m, nodes] of members) assert.is(nodes.length, 2, `${m}: a pod per backup set`);
  await waitFor('anchors of pitr gone', async () => (await guard.pods(`${L.group}=pitr,${L.anchorFor}`)).length === 0);
});

test.run();
