// core/restore/gate.ts: which gated pod of a group may be scheduled now. Pure: no cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KubeObject, Pod } from '../../functions/core/kube/objects.ts';
import { gateDecision, templateGated } from '../../functions/core/restore/gate.ts';
import { hasPlacementGate } from '../../functions/core/restore/judge.ts';
import { restoreJob, restorePod } from '../support/objects.ts';

const GATE = 'restoreguard.dev/placement';
const D = 'restoreguard.dev';
const gated = (name: string, at: string, gates = [GATE]): Pod =>
  restorePod({
    name,
    profile: 'generic',
    node: null,
    restore: 'waiting',
    phase: 'Pending',
    gates,
    creationTimestamp: at,
  });
const anchorFor = (p: Pod): KubeObject => ({
  metadata: { name: `${p.metadata.name}-anchor`, annotations: { 'restoreguard.dev/anchor-for-uid': p.metadata.uid! } },
});

test('all gated: the oldest goes first, one at a time', () => {
  const pods = [
    gated('b', '2026-11-29T10:00:01Z'),
    gated('a', '2026-11-29T10:00:01Z'),
    gated('c', '2026-11-29T10:00:00Z'),
  ];
  const d = gateDecision(pods, [], D);
  assert.is(d.admit?.metadata.name, 'c');
  assert.is(d.gated, 3);
  assert.equal(d.waitingFor, []);
  // same creation time: by name, so two deciders agree
  assert.is(gateDecision(pods.slice(0, 2), [], D).admit?.metadata.name, 'a');
});

test('a sibling let go but not anchored holds the gate: bound and running, or not bound yet', () => {
  const running = restorePod({ name: 'r', profile: 'generic', node: 'node-1' });
  const pending = restorePod({ name: 'p', profile: 'generic', node: null, restore: 'waiting', phase: 'Pending' });
  const finished = restorePod({
    name: 'f',
    profile: 'generic',
    node: 'node-2',
    restore: { exit: 0 },
    phase: 'Succeeded',
  });
  for (const s of [running, pending, finished]) {
    const d = gateDecision([s, gated('g', '2026-11-29T10:00:00Z')], [], D);
    assert.is(d.admit, null, s.metadata.name);
    assert.equal(d.waitingFor, [s.metadata.name]);
  }
});

test('settled siblings: anchored, failed, going, or with nothing to anchor', () => {
  const anchored = restorePod({
    name: 'a',
    profile: 'generic',
    node: 'node-1',
    restore: { exit: 0 },
    phase: 'Succeeded',
  });
  const failed = restorePod({ name: 'f', profile: 'generic', node: 'node-2', restore: { exit: 1 }, phase: 'Failed' });
  const going = restorePod({
    name: 'd',
    profile: 'generic',
    node: 'node-3',
    deletionTimestamp: '2026-11-29T10:00:05Z',
  });
  const free = restorePod({ name: 'n', profile: 'generic', node: 'node-3', antiAffinity: false });
  const d = gateDecision([anchored, failed, going, free, gated('g', '2026-11-29T10:00:00Z')], [anchorFor(anchored)], D);
  assert.is(d.admit?.metadata.name, 'g');
  // an anchor that stands for another uid (a predecessor's) does not settle the pod
  const stale = { metadata: { name: 'x', annotations: { 'restoreguard.dev/anchor-for-uid': 'uid-other' } } };
  assert.is(gateDecision([anchored, gated('g', '2026-11-29T10:00:00Z')], [stale], D).admit, null);
});

test('nothing gated: nothing to admit; other gates are not ours', () => {
  assert.is(gateDecision([restorePod({ profile: 'generic' })], [], D).admit, null);
  const foreign = gated('o', '2026-11-29T10:00:00Z', ['example.com/quota']);
  assert.is(hasPlacementGate(foreign, D), false);
  assert.is(gateDecision([foreign], [], D).admit, null);
  assert.is(hasPlacementGate(gated('g', '2026-11-29T10:00:00Z'), D), true);
});

test('a Job is gated when its pod template carries the gate', () => {
  assert.is(templateGated(restoreJob({ profile: 'generic', gates: [GATE] }), D), true);
  assert.is(templateGated(restoreJob({ profile: 'generic' }), D), false);
  assert.is(templateGated(null, D), false);
});

test.run();
