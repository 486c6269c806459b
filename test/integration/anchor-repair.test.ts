// Anchors that Kubernetes takes away while their group is in flight are recreated within seconds,
// on the real control plane: kube-scheduler 1.34 preempts an anchor for a pod of a higher
// PriorityClass, a drain evicts one through the Eviction API. Both carry the DisruptionTarget
// condition into their delete event; the ApiServerSource's anchor entry sends it to completion, which
// answers dev.restoreguard.anchor.lost, and labeling recreates the anchor on the restore pod's node, with
// no resync ping. A plain delete (no DisruptionTarget: a person) is left to resync, as the PingSource
// would call it. With RG_ANCHOR_PRIORITY_CLASS above the preemptor's class, the same pod does not
// preempt the anchor, and the admission policy (eventing/admission.yaml) admits the anchor.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { L, startChain, waitFor, type Chain } from '../support/chain.ts';

let guard: Chain;
const tag = randomBytes(3).toString('hex');
const PREEMPTOR_CLASS = `rg-test-preemptor-${tag}`;
const ANCHOR_CLASS = `rg-test-anchors-${tag}`;

test.before(async () => {
  guard = await startChain({ mode: 'guard' });
  for (const [name, value] of [
    [PREEMPTOR_CLASS, 1000],
    [ANCHOR_CLASS, 2000],
  ] as const) {
    await guard.kube.create('/apis/scheduling.k8s.io/v1/priorityclasses', {
      apiVersion: 'scheduling.k8s.io/v1',
      kind: 'PriorityClass',
      metadata: { name },
      value,
      description: 'restore-guard rig test (test/integration/anchor-repair.test.ts)',
    });
  }
});

test.after(async () => {
  await guard?.teardown();
  for (const name of [PREEMPTOR_CLASS, ANCHOR_CLASS])
    await guard?.kube.del(`/apis/scheduling.k8s.io/v1/priorityclasses/${name}`).catch(() => undefined);
});

/** A running one-member group and its anchor (holding, Running). */
async function anchoredGroup(chain: Chain, name: string) {
  await chain.createRestoreGroup({ name, replicas: 1 });
  const pod = await waitFor(`${name}: restore pod running`, async () => {
    const [p] = await chain.pods(`${L.group}=${name},!${L.anchorFor}`);
    return p?.status?.phase === 'Running' ? p : undefined;
  });
  const anchor = await waitFor(`${name}: anchor running`, async () => {
    const [a] = await chain.pods(`${L.group}=${name},${L.anchorFor}`);
    return a?.status?.phase === 'Running' ? a : undefined;
  });
  assert.is(anchor.spec.nodeName, pod.spec.nodeName);
  return { pod, anchor };
}

/**
 * A pod of a higher PriorityClass that fits only on the anchor's node, and only without the anchor
 * there (its required anti-affinity to anchors; the restore pod it does not mind), so kube-scheduler
 * picks the anchor as its one victim whatever the start times of the node's equal-priority pods.
 */
async function preemptor(chain: Chain, name: string, node: string) {
  await chain.kube.post(`/api/v1/namespaces/${chain.ns}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'preemptor' } },
    spec: {
      priorityClassName: PREEMPTOR_CLASS,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'main', image: 'registry.invalid/urgent:1', resources: { requests: { cpu: '10m' } } }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
            ],
          },
        },
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            {
              labelSelector: { matchExpressions: [{ key: L.anchorFor, operator: 'Exists' }] },
              topologyKey: 'kubernetes.io/hostname',
            },
          ],
        },
      },
    },
  });
}

/** The anchor standing for the pod again, a new one (another uid), holding on the pod's node. */
function recreated(chain: Chain, group: string, old: any, what: string) {
  return waitFor(what, async () => {
    const list = await chain.pods(`${L.group}=${group},${L.anchorFor}`);
    return list.find(
      (a) =>
        a.metadata.uid !== old.metadata.uid &&
        !a.metadata.deletionTimestamp &&
        a.metadata.annotations?.[`${L.anchorFor}-uid`] === old.metadata.annotations?.[`${L.anchorFor}-uid`] &&
        a.spec.nodeName === old.spec.nodeName,
    );
  });
}

/** How the old anchor left, from the observer's history of it: its last state before it was gone. */
async function leftAs(chain: Chain, anchor: any): Promise<any> {
  return waitFor(`${anchor.metadata.name} gone`, async () => {
    const h = chain.observer.changes.get(`Pod/${anchor.metadata.name}/${anchor.metadata.uid}`) ?? [];
    return h.find((c) => c.type === 'DELETED')?.obj;
  });
}

test('a preempted anchor of a running restore is recreated on its node within seconds, without a resync ping', async () => {
  const { anchor } = await anchoredGroup(guard, 'pre');
  const t0 = Date.now();
  await preemptor(guard, 'urgent', anchor.spec.nodeName);
  const again = await recreated(guard, 'pre', anchor, 'the preempted anchor recreated');
  const took = Date.now() - t0;
  const last = await leftAs(guard, anchor);
  const cond = (last.status?.conditions ?? []).find((c: any) => c.type === 'DisruptionTarget');
  assert.is(cond?.reason, 'PreemptionByScheduler', 'kube-scheduler preempted it');
  // recreated by the anchor.lost event (its log line follows the create by a moment), not by a sweep
  await waitFor('the repair logged', async () =>
    guard.logs.some(
      (l) => l.msg === 'lost anchor recreated' && l.reason === 'Preempted' && l.anchor === anchor.metadata.name,
    ),
  );
  assert.not.ok(
    guard.logs.some((l) => l.fn === 'resync'),
    'no resync ran',
  );
  assert.is(again.spec.nodeName, anchor.spec.nodeName);
  console.log(`preempted anchor recreated ${took} ms after the preemptor was created`);
  await waitFor('the preemptor bound to the node', async () => {
    const p = await guard.pod('urgent');
    return p?.spec?.nodeName === anchor.spec.nodeName ? p : undefined;
  });
});

test("a finished member's anchor, preempted after release deleted its pod, is recreated from its Job's record while its sibling still runs", async () => {
  // member 0 restores at once; member 1 runs on, so the group is in flight
  await guard.createRestoreGroup({ name: 'fin', replicas: 2, runMs: [0, undefined] });
  const job0 = 'fin-0';
  const anchor = await waitFor('member 0 finished, recorded, its pod deleted; its anchor holds', async () => {
    const pods = await guard.pods(`${L.group}=fin,!${L.anchorFor}`);
    const [a] = (await guard.pods(`${L.group}=fin,${L.anchorFor}`)).filter(
      (x) => x.metadata.annotations?.[`${L.anchorFor}-job`] === job0 && x.status?.phase === 'Running',
    );
    const job = await guard.job(job0);
    const recorded = job?.metadata?.labels?.[L.state] === 'succeeded';
    const gone = !pods.some((p) => p.metadata.labels?.['batch.kubernetes.io/job-name'] === job0);
    return recorded && gone && a ? a : undefined;
  });
  await preemptor(guard, 'urgent-fin', anchor.spec.nodeName);
  const again = await recreated(guard, 'fin', anchor, "the finished member's anchor recreated");
  const cond = ((await leftAs(guard, anchor)).status?.conditions ?? []).find((c: any) => c.type === 'DisruptionTarget');
  assert.is(cond?.reason, 'PreemptionByScheduler');
  await waitFor('recreated from the record', async () =>
    guard.logs.some(
      (l) => l.msg === 'lost anchor recreated' && l.from === 'record' && l.anchor === anchor.metadata.name,
    ),
  );
  assert.equal(again.metadata.labels, anchor.metadata.labels, 'the same labels');
  assert.equal(again.spec.affinity, anchor.spec.affinity, 'the same anti-affinity');
  assert.not.ok(
    guard.logs.some((l) => l.msg === 'write refused'),
    'the write guard admitted it',
  );
  assert.not.ok(
    guard.logs.some((l) => l.fn === 'resync'),
    'no resync ran',
  );
});

test('a drained anchor (the Eviction API) is recreated within seconds; a plain delete is repaired by the next resync ping', async () => {
  const { anchor } = await anchoredGroup(guard, 'drain');
  const t0 = Date.now();
  await guard.kube.post(`/api/v1/namespaces/${guard.ns}/pods/${anchor.metadata.name}/eviction`, {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: anchor.metadata.name, namespace: guard.ns },
  });
  const again = await recreated(guard, 'drain', anchor, 'the evicted anchor recreated');
  const cond = ((await leftAs(guard, anchor)).status?.conditions ?? []).find((c: any) => c.type === 'DisruptionTarget');
  assert.is(cond?.reason, 'EvictionByEvictionAPI');
  console.log(`evicted anchor recreated ${Date.now() - t0} ms after the eviction`);
  assert.not.ok(
    guard.logs.some((l) => l.fn === 'resync'),
    'no resync ran',
  );

  // A plain delete (kubectl delete) carries no DisruptionTarget: no event repairs it, resync does.
  await guard.kube.del(`/api/v1/namespaces/${guard.ns}/pods/${again.metadata.name}`);
  await leftAs(guard, again);
  await guard.settle(1000);
  assert.equal(
    (await guard.pods(`${L.group}=drain,${L.anchorFor}`)).filter((a) => !a.metadata.deletionTimestamp),
    [],
    'a person’s delete is not undone by an event',
  );
  await guard.ping();
  await recreated(guard, 'drain', again, 'recreated by resync');
});

test('with RG_ANCHOR_PRIORITY_CLASS above the preemptor, the anchor is admitted with that class and holds', async () => {
  const high = await startChain({ mode: 'guard', env: { RG_ANCHOR_PRIORITY_CLASS: ANCHOR_CLASS } });
  try {
    const { anchor, pod } = await anchoredGroup(high, 'held');
    assert.is(anchor.spec.priorityClassName, ANCHOR_CLASS, 'admitted by the admission policy with its own class');
    assert.is(anchor.spec.priority, 2000);
    assert.is(pod.spec.priority ?? 0, 0, 'the restore pod has none');
    await preemptor(high, 'urgent', anchor.spec.nodeName);
    await waitFor('the preemptor found no victim', async () => {
      const p = await high.pod('urgent');
      const c = (p?.status?.conditions ?? []).find((x: any) => x.type === 'PodScheduled');
      return c?.status === 'False' && c?.reason === 'Unschedulable' ? p : undefined;
    });
    await high.settle(1000);
    const still = await high.pod(anchor.metadata.name);
    assert.is(still?.metadata?.uid, anchor.metadata.uid, 'the same anchor holds the node');
    assert.not.ok(still.metadata.deletionTimestamp);
    assert.not.ok((await high.pod('urgent')).spec.nodeName, 'the preemptor stays pending');
  } finally {
    await high.teardown();
  }
});

test.run();
