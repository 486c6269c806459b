// Anchors in a namespace whose ResourceQuota has no room for them, on the real kube-apiserver (its
// ResourceQuota admission plugin, with kube-controller-manager's quota controller keeping the usage):
// the anchor is refused ("exceeded quota"), nothing can fit it (a LimitRange does not make room), so
// the refusal becomes a Warning Event `AnchorRefused` on the restore Job saying what to change, and the
// metric restoreguard_anchors_refused_total{fitted="false"} counts it (README, Profiles).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { L, startChain, waitFor, type Chain } from '../support/chain.ts';

let guard: Chain;

test.before(async () => {
  guard = await startChain({ mode: 'guard' });
  await guard.kube.post(`/api/v1/namespaces/${guard.ns}/resourcequotas`, {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: 'one-pod' },
    spec: { hard: { pods: '1' } },
  });
  // The quota admits nothing until the controller has written its usage.
  await waitFor('the quota controller counted the namespace', async () => {
    const q = await guard.kube.get(`/api/v1/namespaces/${guard.ns}/resourcequotas/one-pod`);
    return q?.status?.used?.pods !== undefined ? q : undefined;
  });
});

test.after(async () => {
  await guard?.teardown();
});

test('a ResourceQuota with no room for the anchor: a Warning Event AnchorRefused on the restore Job, counted', async () => {
  const g = await guard.createRestoreGroup({ name: 'quota', replicas: 1 });
  const job = g.jobNames[0]!;
  await waitFor('the restore pod placed', async () => {
    const [p] = await guard.pods(`${L.group}=quota,!${L.anchorFor}`);
    return p?.spec?.nodeName ? p : undefined;
  });
  const event = await waitFor('AnchorRefused on the Job', async () => {
    const list = await guard.kube.get(`/api/v1/namespaces/${guard.ns}/events`);
    return (list?.items ?? []).find(
      (e: any) => e.reason === 'AnchorRefused' && e.involvedObject?.kind === 'Job' && e.involvedObject?.name === job,
    );
  });
  assert.is(event.type, 'Warning');
  assert.match(event.message, /exceeded quota/, 'the API server’s own reason');
  assert.match(event.message, /ResourceQuota/, 'what to change');
  assert.is(event.involvedObject.uid, (await guard.job(job)).metadata.uid);
  assert.equal(await guard.pods(`${L.group}=quota,${L.anchorFor}`), [], 'no anchor was admitted');
  await waitFor('the refusal counted as not fitted', async () =>
    /restoreguard_anchors_refused_total\{fitted="false"\} [1-9]/.test(await guard.metricsText()),
  );
  g.stop();
});

test.run();
