// The chaos suite's short mode (test/chaos/suite.ts; `npm run chaos` prints its table): restore-guard
// as 3 replica processes behind a Knative-like delivery front, a fault proxy before kube-apiserver,
// kill -9, an adapter restart, duplicated and delayed deliveries; every invariant must be at 0.
// `npm run chaos -- --full` is the long form.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SHORT, runChaos } from '../chaos/suite.ts';
import { chaosTable } from '../chaos/table.ts';

test('under faults, nothing is lost and nothing is wrongly deleted (short mode)', async () => {
  const r = await runChaos(SHORT);
  process.stderr.write(`${chaosTable(r)}\n`);
  assert.is(r.report.groups, SHORT.groups, 'every group of the workload was created');
  assert.ok(r.report.restorePods >= SHORT.groups * 2, 'restore pods ran');
  assert.ok(r.faults['replica kill -9']! >= 1, 'a replica was killed');
  assert.is(r.faults['adapter restart'], SHORT.adapterRestarts, 'the adapter was restarted');
  assert.ok(r.proxy.refused > 0, 'the proxy refused requests');
  for (const inv of r.report.invariants) assert.is(inv.count, 0, `${inv.name}: ${inv.examples.join('; ')}`);
});

test.run();
