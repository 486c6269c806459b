// core/restore/admission.ts: anchors fitted to a namespace's LimitRanges. Pure: no cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fitToLimits, quantity } from '../../functions/core/restore/admission.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';

const anchor = (cpu = '1m', memory = '8Mi'): KubeObject => ({
  metadata: { name: 'a' },
  spec: { containers: [{ name: 'anchor', resources: { requests: { cpu, memory }, limits: { cpu, memory } } }] },
});
const limitRange = (limits: unknown[]): KubeObject => ({ metadata: { name: 'lr' }, spec: { limits } });

test('quantities: cpu in cores, memory in bytes, the suffixes Kubernetes uses', () => {
  assert.is(quantity('1m'), 0.001);
  assert.is(quantity('10m'), 0.01);
  assert.is(quantity('0.5'), 0.5);
  assert.is(quantity('8Mi'), 8 * 1024 * 1024);
  assert.is(quantity('1G'), 1e9);
  assert.ok(Number.isNaN(quantity('lots')));
});

test('a LimitRange minimum raises requests and limits to it; what is already enough stays', () => {
  const fit = fitToLimits(anchor(), [limitRange([{ type: 'Container', min: { cpu: '10m', memory: '4Mi' } }])]);
  const res = (fit.anchor!.spec as any).containers[0].resources;
  assert.equal(res.requests, { cpu: '10m', memory: '8Mi' });
  assert.equal(res.limits, res.requests, 'requests = limits: a ratio limit is always met');
  assert.match(fit.why, /cpu=10m/);
  // the input is left as it was
  assert.is((anchor().spec as any).containers[0].resources.requests.cpu, '1m');
});

test('Pod minimums count too; PersistentVolumeClaim limits do not', () => {
  const fit = fitToLimits(anchor(), [
    limitRange([
      { type: 'Pod', min: { memory: '16Mi' } },
      { type: 'PersistentVolumeClaim', min: { storage: '1Gi' } },
    ]),
  ]);
  assert.equal((fit.anchor!.spec as any).containers[0].resources.requests, { cpu: '1m', memory: '16Mi' });
});

test('nothing to change, or a maximum below what an anchor needs: no fitted anchor, and why', () => {
  assert.is(fitToLimits(anchor(), []).anchor, null);
  const none = fitToLimits(anchor(), [limitRange([{ type: 'Container', min: { cpu: '1m' } }])]);
  assert.is(none.anchor, null);
  const capped = fitToLimits(anchor(), [limitRange([{ type: 'Container', min: { cpu: '10m' }, max: { cpu: '5m' } }])]);
  assert.is(capped.anchor, null);
  assert.match(capped.why, /at most 5m cpu/);
});

test.run();
