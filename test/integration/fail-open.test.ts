// restore-guard fails open: anchors are leases. With restore-guard cut off mid-group (its event source
// stopped, no resync ping), nothing renews the anchors, so the workload pod an operator creates on a
// restored node (same labels and anti-affinity as the restore, no member label) waits at most one
// lease (RG_ANCHOR_DEADLINE_SECONDS, here its minimum of 120 s), then runs: plain scheduling, never a
// deadlock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  L,
  antiAffinityFor,
  condition,
  nodeAffinityFor,
  phaseAt,
  placement,
  startChain,
  waitFor,
  type Chain,
} from '../support/chain.ts';

const LEASE_S = 120;
let guard: Chain;

test.before(async () => {
  guard = await startChain({ mode: 'guard', env: { RG_ANCHOR_DEADLINE_SECONDS: String(LEASE_S) } });
});

test.after(async () => {
  await guard?.teardown();
});

test('restore-guard gone mid-group: the workload waits at most one lease, then runs', async () => {
  // member 0 restores at once; member 1 runs on (the group stays in flight). The placement gate keeps
  // the instant restore's window closed (README, Profiles), so each member has its own node.
  const g = await guard.createRestoreGroup({
    name: 'lapse',
    replicas: 2,
    runMs: [0, undefined],
    nodes: ['rig-node-1', 'rig-node-2'],
    gate: true,
  });
  await waitFor('member 0 Complete', async () => condition(await guard.job(g.jobNames[0]!), 'Complete') ?? undefined);
  const anchor = await waitFor('both members anchored', async () => {
    const a = await guard.pods(`${L.group}=lapse,${L.anchorFor}`);
    return a.length === 2 ? a : undefined;
  });
  const member0 = guard.observer
    .groupPods('lapse')
    .find((h) => h[0]!.obj.metadata.labels['job-name'] === g.jobNames[0])!;
  const node0 = placement(member0)!.node;
  anchor.sort((x: any, y: any) => (x.spec.nodeName === node0 ? -1 : y.spec.nodeName === node0 ? 1 : 0));
  const node = anchor[0].spec.nodeName as string;
  const anchorMadeAt = Date.parse(anchor[0].metadata.creationTimestamp);
  // restore-guard is cut off: no event, no ping from here on
  await guard.stopAdapter();
  const created = Date.now();
  const w = await guard.createPod('lapse-workload-0', {
    labels: { [L.instance]: g.instance },
    affinity: { ...(antiAffinityFor(g.instance) as object), ...(nodeAffinityFor([node]) as object) },
  });
  await new Promise((r) => setTimeout(r, 3000));
  assert.is((await guard.pod(w)).spec.nodeName, undefined, 'held by the anchor while its lease runs');
  try {
    await waitFor(
      'workload Running',
      async () => (await guard.pod(w))?.status?.phase === 'Running',
      (LEASE_S + 60) * 1000,
      500,
    );
  } catch (e) {
    const all = await guard.pods();
    console.log(
      JSON.stringify(
        all.map((p: any) => [
          p.metadata.name,
          p.spec.nodeName,
          p.status?.phase,
          p.metadata.creationTimestamp,
          p.spec.activeDeadlineSeconds,
          p.status?.conditions?.find((c: any) => c.type === 'PodScheduled')?.message,
        ]),
      ),
    );
    throw e;
  }
  const h = guard.observer.histories('Pod', (o) => o.metadata.name === w)[0]!;
  const boundAt = placement(h)!.at;
  assert.is(placement(h)!.node, node);
  const lapse = boundAt - anchorMadeAt;
  console.log(
    `  workload bound ${boundAt - created} ms after its creation, ${lapse} ms after the anchor was made (lease ${LEASE_S} s)`,
  );
  assert.ok(lapse <= (LEASE_S + 30) * 1000, `bound within one lease of the anchor (${lapse} ms)`);
  assert.ok(phaseAt(h, 'Running'));
  const ended = (await guard.pods(`${L.group}=lapse,${L.anchorFor}`)).find((a) => a.spec.nodeName === node);
  assert.is(ended?.status?.phase, 'Failed', 'the anchor ended at its lease, unrenewed');
  g.stop();
});

test.run();
