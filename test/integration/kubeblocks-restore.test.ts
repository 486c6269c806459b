// KubeBlocks with its Restore object present (a minimal Restore CRD is installed on the rig): the
// anchors are owned by the Restore as controller; the Jobs alone never say the group is done (the
// Serial policy creates them one after another), the Restore's phase does; and release hears the
// Restore turn Completed through the second ApiServerSource (eventing/apiserversource-kubeblocks.yaml)
// and removes the anchors at once, not on the next resync ping.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { L, condition, startChain, waitFor, type Chain } from '../support/chain.ts';
import { saKubeconfig, sleep, startAdapter, type AdapterHandle } from '../rig/index.ts';

let guard: Chain;
let restores: AdapterHandle | null = null;
const CRD = 'restores.dataprotection.kubeblocks.io';

test.before(async () => {
  guard = await startChain({ mode: 'guard' });
  await guard.kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD },
    spec: {
      group: 'dataprotection.kubeblocks.io',
      scope: 'Namespaced',
      names: { plural: 'restores', singular: 'restore', kind: 'Restore', listKind: 'RestoreList' },
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });
  await waitFor('Restore CRD established', async () => {
    const crd = await guard.kube.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD}`);
    return crd.status?.conditions?.some(
      (c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True',
    )
      ? true
      : undefined;
  });
  // The second ApiServerSource of eventing/: KubeBlocks' Restores, as restore-guard-source.
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
  await guard?.teardown();
});

const anchorsOf = async (group: string) => (await guard.pods(`${L.group}=${group},${L.anchorFor}`)) as any[];

test('anchors are owned by the Restore; they stay while it runs, and go the moment it is Completed', async () => {
  const restore = await guard.kube.post(`/apis/dataprotection.kubeblocks.io/v1alpha1/namespaces/${guard.ns}/restores`, {
    apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'pg-restore' },
    spec: {},
  });
  await guard.kube.patch(
    `/apis/dataprotection.kubeblocks.io/v1alpha1/namespaces/${guard.ns}/restores/pg-restore/status`,
    { status: { phase: 'Running' } },
  );
  const g = await guard.createRestoreGroup({
    name: 'pg-restore',
    profile: 'kubeblocks',
    replicas: 2,
    runMs: [200, 400],
  });
  await waitFor('every Job complete', async () => {
    const jobs = await Promise.all(g.jobNames.map((j) => guard.job(j)));
    return jobs.every((j) => condition(j, 'Complete') || condition(j, 'SuccessCriteriaMet')) ? true : undefined;
  });
  await guard.settle(500);
  const held = await anchorsOf(g.name);
  assert.is(held.length, 2, 'every Job finished, but the Restore is Running: the anchors hold');
  for (const a of held) {
    assert.equal(
      a.metadata.ownerReferences.map((r: any) => [r.kind, r.name, r.uid, r.controller]),
      [['Restore', 'pg-restore', restore.metadata.uid, true]],
    );
  }

  const completedAt = Date.now();
  await guard.kube.patch(
    `/apis/dataprotection.kubeblocks.io/v1alpha1/namespaces/${guard.ns}/restores/pg-restore/status`,
    { status: { phase: 'Completed' } },
  );
  await waitFor('anchors gone', async () => ((await anchorsOf(g.name)).length === 0 ? true : undefined), 10_000, 20);
  const ms = Date.now() - completedAt;
  console.log(`  anchors gone ${ms} ms after the Restore turned Completed (no ping)`);
  assert.ok(ms < 5000, `released on the Restore's own event, not a resync ping (${ms} ms)`);
  assert.ok(
    guard.logs.some((l) => l.msg === 'answered' && l.out === 'dev.restoreguard.group.completed'),
    'release answered group.completed',
  );
});

test('deleting the Restore collects anchors it still owns', async () => {
  await guard.kube.post(`/apis/dataprotection.kubeblocks.io/v1alpha1/namespaces/${guard.ns}/restores`, {
    apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'gone-restore' },
    spec: {},
  });
  const g = await guard.createRestoreGroup({ name: 'gone-restore', profile: 'kubeblocks', replicas: 1 }); // runs on
  await waitFor('anchor', async () => ((await anchorsOf(g.name)).length ? true : undefined));
  await guard.kube.must(
    'DELETE',
    `/apis/dataprotection.kubeblocks.io/v1alpha1/namespaces/${guard.ns}/restores/gone-restore`,
    { propagationPolicy: 'Background' },
  );
  await waitFor(
    'garbage collector removes the anchor',
    async () => ((await anchorsOf(g.name)).length === 0 ? true : undefined),
    30_000,
  );
  await sleep(10);
});

test.run();
