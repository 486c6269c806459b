// core/kube/cluster.ts: the guarded patch (a JSON Patch whose tests cover exactly what a record was
// computed from) and its test semantics as kube-apiserver applies them. Pure: no cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { guardedJsonPatch, jsonPatchTestsPass } from '../../functions/core/kube/cluster.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';

const job = (labels?: Record<string, string>, annotations?: Record<string, string>, status: object = {}) =>
  ({
    kind: 'Job',
    metadata: { name: 'j', ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
    status,
  }) as unknown as KubeObject;

test('guardedJsonPatch: a test per named key (null for one absent), then an add per key, with JSON Pointer escapes', () => {
  const of = job({ 'restoreguard.dev/state': 'failed' }, { 'restoreguard.dev/history': '[1]', other: 'x' });
  const ops = guardedJsonPatch(
    { metadata: { annotations: { 'restoreguard.dev/history': '[1,2]', 'a~b': 'y' } } },
    { of, labels: ['restoreguard.dev/state', 'restoreguard.dev/group'], annotations: ['restoreguard.dev/history'] },
  );
  assert.equal(ops, [
    { op: 'test', path: '/metadata/labels/restoreguard.dev~1state', value: 'failed' },
    { op: 'test', path: '/metadata/labels/restoreguard.dev~1group', value: null },
    { op: 'test', path: '/metadata/annotations/restoreguard.dev~1history', value: '[1]' },
    { op: 'add', path: '/metadata/annotations/restoreguard.dev~1history', value: '[1,2]' },
    { op: 'add', path: '/metadata/annotations/a~0b', value: 'y' },
  ]);
});

test('guardedJsonPatch: a map absent from the object read is tested absent and added whole', () => {
  const ops = guardedJsonPatch(
    { metadata: { labels: { s: 'ok' }, annotations: { h: '[]' } } },
    { of: job(undefined, undefined), labels: ['s'], annotations: ['h'] },
  );
  assert.equal(ops, [
    { op: 'test', path: '/metadata/labels', value: null },
    { op: 'test', path: '/metadata/annotations', value: null },
    { op: 'add', path: '/metadata/labels', value: { s: 'ok' } },
    { op: 'add', path: '/metadata/annotations', value: { h: '[]' } },
  ]);
});

test('guardedJsonPatch refuses what it cannot express: other fields, removals', () => {
  const of = job({}, {});
  assert.throws(() => guardedJsonPatch({ spec: { x: 1 } }, { of }), /labels and annotations only, not spec/);
  assert.throws(
    () => guardedJsonPatch({ metadata: { resourceVersion: '5', labels: {} } }, { of }),
    /not resourceVersion/,
  );
  assert.throws(() => guardedJsonPatch({ metadata: { labels: { s: null } } }, { of }), /string values only/);
});

test("jsonPatchTestsPass: another controller's status update passes; a changed or added key, or a map that appeared, does not", () => {
  const of = job({ s: 'failed' }, { h: '[1]' });
  const ops = guardedJsonPatch(
    { metadata: { annotations: { h: '[1,2]' } } },
    { of, labels: ['s', 'g'], annotations: ['h'] },
  );
  assert.ok(jsonPatchTestsPass(job({ s: 'failed' }, { h: '[1]', other: 'y' }, { succeeded: 1 }), ops));
  assert.not.ok(jsonPatchTestsPass(job({ s: 'retried' }, { h: '[1]' }), ops), 'a label moved on');
  assert.not.ok(jsonPatchTestsPass(job({ s: 'failed' }, { h: '[1,3]' }), ops), 'the history moved on');
  assert.not.ok(jsonPatchTestsPass(job({ s: 'failed', g: 'x' }, { h: '[1]' }), ops), 'an absent key appeared');
  const none = guardedJsonPatch({ metadata: { annotations: { h: '[]' } } }, { of: job(), annotations: ['h'] });
  assert.ok(jsonPatchTestsPass(job(), none));
  assert.not.ok(jsonPatchTestsPass(job(undefined, { other: 'y' }), none), 'the annotations appeared meanwhile');
});

test.run();
