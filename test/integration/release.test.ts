// Release on the real control plane: a finished restore pod is deleted only after its outcome is on
// the Job and on its PVC (ordered by resourceVersion: one etcd, so revisions order every write);
// the group's anchors go when the group is done; the workload pods an operator creates right after
// the restore (same labels, same anti-affinity, each pinned to the node that restored its volume)
// schedule there and run. How long they waited on anchors is measured. The restores are fast (the
// first ends 300 ms after it starts), so the group uses the placement gate: without it, a loaded
// machine's placement → anchor time can exceed the restore and let a sibling onto its node (README,
// Profiles: the window without the gate).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  L,
  Observer,
  antiAffinityFor,
  condition,
  nodeAffinityFor,
  phaseAt,
  placement,
  recordingDir,
  startChain,
  waitFor,
  type Chain,
  type Change,
} from '../support/chain.ts';

let guard: Chain;
const NODES = ['rig-node-3', 'rig-node-4', 'rig-node-5'];

test.before(async () => {
  guard = await startChain({ mode: 'guard', recordDir: recordingDir('release') });
});

test.after(async () => {
  await guard?.teardown();
});

test('finished pods go only after their outcome is on the Job and the PVC; anchors go with the group; the workload follows', async () => {
  const g = await guard.createRestoreGroup({
    name: 'pg-restore',
    instance: 'pg',
    replicas: 3,
    runMs: [300, 800, 1500],
    nodes: NODES,
    claims: true,
    gate: true,
  });
  // the operator: once every restore Job is Complete, create the workload on the restored nodes
  await waitFor(
    'all restore Jobs Complete',
    async () => {
      const jobs = await Promise.all(g.jobNames.map((j) => guard.job(j)));
      return jobs.every((j) => condition(j, 'Complete')) ? Date.now() : undefined;
    },
    60_000,
    20,
  );
  const restorePods = g.jobNames.map(
    (j) => guard.observer.groupPods(g.name).find((h) => h[0]!.obj.metadata.labels['job-name'] === j)!,
  );
  const restoredOn = restorePods.map((h) => placement(h)!.node);
  // the workload below pins each replica to its restored node under the same anti-affinity: it can
  // only run if the restores kept to distinct nodes
  assert.is(new Set(restoredOn).size, restoredOn.length, `restores on distinct nodes: ${restoredOn.join(', ')}`);
  const workload: string[] = [];
  const createdAt: number[] = [];
  for (const [i, node] of restoredOn.entries()) {
    createdAt.push(Date.now());
    workload.push(
      await guard.createPod(`${g.instance}-${i}`, {
        labels: { [L.instance]: g.instance },
        affinity: { ...(antiAffinityFor(g.instance) as object), ...(nodeAffinityFor([node]) as object) },
        claims: [g.claimNames[i]!],
      }),
    );
  }
  await waitFor(
    'workload Running',
    async () => {
      const pods = await Promise.all(workload.map((w) => guard.pod(w)));
      return pods.every((p) => p?.status?.phase === 'Running');
    },
    30_000,
    20,
  );

  // 1. each restore pod: deleted (released), after its records
  for (const [i, h] of restorePods.entries()) {
    const pod = h[0]!.obj;
    const del = Observer.first(h, (o) => !!o.metadata.deletionTimestamp) ?? h.find((c: Change) => c.type === 'DELETED');
    assert.ok(del, `${pod.metadata.name} was deleted`);
    const jobH = guard.observer.histories('Job', (o) => o.metadata.name === g.jobNames[i])[0]!;
    const onJob = Observer.first(jobH, (o) => (o.metadata.annotations?.[L.history] ?? '').includes(pod.metadata.uid));
    const pvcH = guard.observer.histories('PersistentVolumeClaim', (o) => o.metadata.name === g.claimNames[i])[0]!;
    const onPvc = Observer.first(pvcH, (o) => !!o.metadata.annotations?.[L.outcome]);
    const onPod = Observer.first(
      h,
      (o) => o.metadata.labels?.[L.state] === 'succeeded' && !!o.metadata.annotations?.[L.outcome],
    );
    assert.ok(onJob && onPvc && onPod, `${pod.metadata.name}: records on Job, PVC and pod`);
    assert.ok(
      onJob!.rv < del!.rv,
      `${pod.metadata.name}: Job record (rv ${onJob!.rv}) before deletion (rv ${del!.rv})`,
    );
    assert.ok(
      onPvc!.rv < del!.rv,
      `${pod.metadata.name}: PVC record (rv ${onPvc!.rv}) before deletion (rv ${del!.rv})`,
    );
    assert.ok(onPod!.rv < del!.rv, `${pod.metadata.name}: pod record before deletion`);
    const rec = JSON.parse((await guard.pvc(g.claimNames[i]!)).metadata.annotations[L.outcome]);
    assert.is(rec.state, 'succeeded');
    assert.is(rec.node, restoredOn[i]);
  }

  // 2. anchors: one per replica on its node, all gone once the group is done
  const anchors = guard.observer.anchors(g.name);
  assert.equal(
    anchors.map((a) => placement(a)!.node).sort(),
    [...restoredOn].sort(),
    'an anchor per replica, on its node',
  );
  await waitFor('anchors gone', async () => (await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length === 0);
  const lastAnchorGone = Math.max(
    ...anchors.map((a) => (Observer.first(a, (o) => !!o.metadata.deletionTimestamp) ?? a[a.length - 1]!).at),
  );
  // a Job is finished at SuccessCriteriaMet; Complete follows once its pods' finalizers are gone
  const lastJobFinished = Math.max(
    ...g.jobNames.map(
      (j) =>
        Observer.first(
          guard.observer.histories('Job', (o) => o.metadata.name === j)[0]!,
          (o) => !!(condition(o, 'SuccessCriteriaMet') ?? condition(o, 'Complete')),
        )!.at,
    ),
  );

  // 3. the workload: on the restored nodes, Running
  const waits: string[] = [];
  for (const [i, w] of workload.entries()) {
    const h = guard.observer.histories('Pod', (o) => o.metadata.name === w)[0]!;
    assert.is(placement(h)!.node, restoredOn[i], `${w} on the node that restored its volume`);
    const runningAt = phaseAt(h, 'Running')!;
    waits.push(
      `${w} scheduled +${placement(h)!.at - createdAt[i]!} ms, Running +${runningAt - createdAt[i]!} ms after its creation`,
    );
  }
  console.log(
    `  anchors deleted ${lastAnchorGone - lastJobFinished} ms after the last Job finished (SuccessCriteriaMet); ` +
      `the operator saw every Job Complete and created the workload ${createdAt[0]! - lastAnchorGone} ms after that (negative: before, so it waited)`,
  );
  console.log(`  ${waits.join('\n  ')}`);
});

test.run();
