// An anchor Kubernetes takes away (preempted, evicted, drained) or that ends is repaired within
// seconds through its own events: completion judges an anchor's event alone (no API request) and
// answers dev.restoreguard.anchor.lost only for such a loss; labeling recreates the anchor from the
// live restore pod (functions/labeling/repair.ts). Every other anchor event ends with no request.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventType } from '../../functions/core/restore/events.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { apiEvent, harness, restoreEvent } from '../support/harness.ts';
import { pvc, restoreJob, restorePod } from '../support/objects.ts';

type H = ReturnType<typeof harness>;
const ANCHOR = 'restore-0-abcde-anchor';

/** The restore pod placed and anchored, as the chain does it. */
async function anchored(): Promise<{ h: H; anchor: KubeObject }> {
  const h = harness();
  const pod = restorePod({ restore: 'running', phase: 'Pending' });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  const c = await h.post('/completion', apiEvent(pod));
  assert.is(c.reply?.type, EventType.placed, c.text);
  await h.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!));
  const anchor = await h.cluster.get('Pod', 'db', ANCHOR);
  assert.ok(anchor, 'anchored');
  return { h, anchor: anchor! };
}

/** Kubernetes API requests made so far (restoreguard_kube_requests_total, all verbs). */
async function requests(h: H): Promise<number> {
  const text = await (await h.server.app.request('/metrics')).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('restoreguard_kube_requests_total{'))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

const disrupted = (a: KubeObject, reason: string, phase = 'Running'): KubeObject => ({
  ...a,
  status: {
    phase,
    conditions: [{ type: 'DisruptionTarget', status: 'True', reason, message: `by ${reason}` }],
  },
});

/** completion → labeling for one event about an anchor; the labeling answer (null when completion said nothing). */
async function lose(h: H, obj: KubeObject, verb: 'add' | 'update' | 'delete') {
  const c = await h.post('/completion', apiEvent(obj, verb));
  if (c.status === 202) return { completion: c, labeling: null };
  assert.is(c.reply?.type, EventType.anchorLost, c.text);
  const l = await h.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!));
  assert.is(l.status, 202, l.text);
  return { completion: c, labeling: l };
}

test("an anchor's ordinary events (created, Running, deleted by restore-guard) and a loss with its node end in completion, with no API request", async () => {
  const { h, anchor } = await anchored();
  const before = await requests(h);
  for (const [obj, verb] of [
    [anchor, 'add'],
    [{ ...anchor, status: { phase: 'Running' } }, 'update'],
    // the scheduler marks its victim before deleting it: the update alone is not the loss yet
    [disrupted(anchor, 'PreemptionByScheduler'), 'update'],
    // being deleted gracefully: the final delete event says it
    [{ ...anchor, metadata: { ...anchor.metadata, deletionTimestamp: '2026-11-29T10:00:09Z' } }, 'update'],
    // deleted by restore-guard (its group completed, a renewal, its pod's failure) or by a person
    [anchor, 'delete'],
    // its node is gone (pod garbage collector) or tainted NoExecute: dropped, not recreated
    [disrupted(anchor, 'DeletionByPodGC'), 'delete'],
    [disrupted(anchor, 'DeletionByTaintManager'), 'delete'],
    // the kubelet refused it (no room): its copy would be refused too; resync tries on its next ping
    [{ ...anchor, status: { phase: 'Failed', reason: 'OutOfcpu' } }, 'update'],
  ] as const) {
    const r = await h.post('/completion', apiEvent(obj as KubeObject, verb));
    assert.is(r.status, 202, `${verb}: ${r.text}`);
  }
  assert.is(await requests(h), before, 'no request for an anchor event that needs no action');
});

test('a preempted anchor of a placed restore pod is recreated at once, on its node, for the same pod', async () => {
  const { h, anchor } = await anchored();
  await h.cluster.delete('Pod', 'db', ANCHOR, {}); // kube-scheduler deleted its victim
  const r = await lose(h, disrupted(anchor, 'PreemptionByScheduler'), 'delete');
  assert.equal(
    {
      anchor: r.completion.reply!.data.anchor,
      pod: r.completion.reply!.data.pod,
      reason: r.completion.reply!.data.reason,
    },
    { anchor: ANCHOR, pod: 'restore-0-abcde', reason: 'Preempted' },
  );
  const again = await h.cluster.get('Pod', 'db', ANCHOR);
  assert.ok(again, 'recreated');
  assert.is.not(again!.metadata.uid, anchor.metadata.uid, 'a new anchor');
  assert.is((again!.spec as any).nodeName, 'node-1');
  assert.is(again!.metadata.annotations!['restoreguard.dev/anchor-for-uid'], 'uid-restore-0-abcde');
  // the same loss told again (redelivered): nothing more
  const n = h.cluster.writes.filter((w) => w.changed).length;
  await lose(h, disrupted(anchor, 'PreemptionByScheduler'), 'delete');
  assert.is(h.cluster.writes.filter((w) => w.changed).length, n);
});

test('a drained (evicted) anchor is recreated; one that ended where it stands (kubelet eviction, its lease) is replaced by the next generation', async () => {
  const { h, anchor } = await anchored();
  await h.cluster.delete('Pod', 'db', ANCHOR, {});
  const drained = await lose(h, disrupted(anchor, 'EvictionByEvictionAPI'), 'delete');
  assert.is(drained.completion.reply!.data.reason, 'Evicted');
  const second = (await h.cluster.get('Pod', 'db', ANCHOR))!;
  assert.ok(second, 'recreated after the drain');
  // the kubelet evicts it: it stays, Failed
  const failed = { ...second, status: { phase: 'Failed', reason: 'Evicted' } };
  await h.cluster.patch('Pod', 'db', ANCHOR, { status: failed.status });
  const ended = await lose(h, failed, 'update');
  assert.is(ended.completion.reply!.data.reason, 'Evicted');
  const names = (await h.cluster.list('Pod', 'db', 'restoreguard.dev/anchor-for')).map((a) => a.metadata.name);
  assert.equal(names, [`${ANCHOR}-1`], 'the next generation holds; the ended one is gone');
});

const history = (state: string, node = 'node-1') =>
  JSON.stringify([
    {
      pod: 'restore-0-abcde',
      uid: 'uid-restore-0-abcde',
      scope: 'pod',
      state,
      reason: state === 'failed' ? 'Error' : null,
      node,
      attempt: 1,
      finishedAt: '2026-11-29T10:00:05Z',
    },
  ]);

test("a finished member whose pod is gone: its lost anchor is rebuilt from its Job's record, on the recorded node", async () => {
  const { h, anchor } = await anchored();
  assert.is(anchor.metadata.annotations!['restoreguard.dev/anchor-for-job'], 'restore-0', 'the anchor names its Job');
  // the restore succeeded, was recorded on its Job, and release deleted the pod
  await h.cluster.patch('Job', 'db', 'restore-0', {
    metadata: { annotations: { 'restoreguard.dev/history': history('succeeded') } },
  });
  await h.cluster.delete('Pod', 'db', 'restore-0-abcde', {});
  await h.cluster.delete('Pod', 'db', ANCHOR, {});
  const refused = () => h.server.deps.metrics.refused.get({ verb: 'create', kind: 'Pod' }) ?? 0;
  const before = refused();
  await lose(h, disrupted(anchor, 'PreemptionByScheduler'), 'delete');
  const again = await h.cluster.get('Pod', 'db', ANCHOR);
  assert.ok(again, 'recreated from the record');
  assert.is(refused(), before, 'the write guard admitted it (the Job records the pod on that node)');
  const { 'restoreguard.dev/constraint': _c, ...labels } = again!.metadata.labels!;
  const { 'restoreguard.dev/constraint': _d, ...was } = anchor.metadata.labels!;
  assert.equal(labels, was, 'the same labels');
  assert.equal((again!.spec as any).affinity, (anchor.spec as any).affinity, 'the same anti-affinity');
  assert.is((again!.spec as any).nodeName, 'node-1');
  assert.equal(again!.metadata.ownerReferences, anchor.metadata.ownerReferences);
  assert.is(again!.metadata.annotations!['restoreguard.dev/anchor-for-uid'], 'uid-restore-0-abcde');
});

test("not recreated: a failed member's anchor, one whose Job is gone, one whose Restore has ended", async () => {
  for (const setup of ['failed', 'job gone', 'restore ended'] as const) {
    const { h, anchor } = await anchored();
    await h.cluster.patch('Job', 'db', 'restore-0', {
      metadata: { annotations: { 'restoreguard.dev/history': history(setup === 'failed' ? 'failed' : 'succeeded') } },
    });
    if (setup === 'job gone') await h.cluster.delete('Job', 'db', 'restore-0', {});
    if (setup === 'restore ended')
      await h.seed({
        apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
        kind: 'Restore',
        metadata: { name: 'mysql-restore', namespace: 'db', uid: 'uid-r' },
        status: { phase: 'Completed' },
      } as KubeObject);
    await h.cluster.delete('Pod', 'db', 'restore-0-abcde', {});
    await h.cluster.delete('Pod', 'db', ANCHOR, {});
    await lose(h, disrupted(anchor, 'PreemptionByScheduler'), 'delete');
    assert.is(await h.cluster.get('Pod', 'db', ANCHOR), null, setup);
  }
});

test.run();
