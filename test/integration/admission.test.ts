// Anchors in a namespace with a LimitRange, on the real kube-apiserver (its LimitRanger admission
// plugin): restore-guard's 1m/8Mi anchor is refused ("minimum cpu usage per Container is 10m"), then
// fitted to the namespace's minimum and admitted; the refusal is counted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { L, startChain, waitFor, type Chain } from '../support/chain.ts';

let guard: Chain;

test.before(async () => {
  guard = await startChain({ mode: 'guard' });
  await guard.kube.post(`/api/v1/namespaces/${guard.ns}/limitranges`, {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: { name: 'minimums' },
    spec: { limits: [{ type: 'Container', min: { cpu: '10m', memory: '16Mi' } }] },
  });
});

test.after(async () => {
  await guard?.teardown();
});

test('a LimitRange minimum: the anchor is fitted to it and admitted', async () => {
  const g = await guard.createRestoreGroup({ name: 'lr', replicas: 1 });
  const anchor = await waitFor('anchor admitted', async () => {
    const a = await guard.pods(`${L.group}=lr,${L.anchorFor}`);
    return a.length ? a[0] : undefined;
  });
  assert.equal(anchor.spec.containers[0].resources.requests, { cpu: '10m', memory: '16Mi' });
  assert.equal(anchor.spec.containers[0].resources.limits, { cpu: '10m', memory: '16Mi' });
  // counted once the fitted create has returned (just after the anchor became visible)
  await waitFor('the refusal counted as fitted', async () =>
    /restoreguard_anchors_refused_total\{fitted="true"\} [1-9]/.test(await guard.metricsText()),
  );
  g.stop();
});

test.run();
