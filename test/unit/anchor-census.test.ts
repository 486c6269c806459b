/** The anchor census a resync sweep exports (functions/core/restore/anchor-census.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { anchorCensus } from '../../functions/core/restore/anchor-census.ts';

const NOW = new Date('2026-11-29T10:20:00Z');
const anchor = (name: string, created: string, phase = 'Running', lease = 600): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'db', creationTimestamp: created },
  spec: { activeDeadlineSeconds: lease },
  status: { phase },
});

test('counts what the sweep listed less what it removed, plus what it created; past lease and oldest age', () => {
  const listed = [
    anchor('a-anchor', '2026-11-29T10:15:00Z'), // 5 min old, holding
    anchor('b-anchor', '2026-11-29T10:05:00Z', 'Failed'), // 15 min: past its 10 min lease, ended
    anchor('c-anchor', '2026-11-29T10:00:00Z'), // 20 min, deleted by this sweep
  ];
  const c = anchorCensus(listed, new Set(['db/c-anchor']), 2, NOW);
  assert.equal(c, { holding: 3, ended: 1, pastLease: 1, oldestSeconds: 900 });
});

test('no anchors: zeros', () => {
  assert.equal(anchorCensus([], new Set(), 0, NOW), { holding: 0, ended: 0, pastLease: 0, oldestSeconds: 0 });
});

test.run();
