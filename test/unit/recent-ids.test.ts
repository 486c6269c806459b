import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RecentIds } from '../../functions/core/recent-ids.ts';

test('repeats are recognised; the memory keeps a fixed-size hash per id, never the id itself nor the answer', async () => {
  const mem = new RecentIds(4096);
  const big = (i: number) => `${i}-${'x'.repeat(1024 * 1024)}`;
  const answer = { data: 'y'.repeat(64 * 1024) };
  for (let i = 0; i < 100; i++) assert.is(await mem.once(big(i), async () => answer, null), answer);
  for (let i = 0; i < 100; i++) assert.is(await mem.once(big(i), async () => answer, null), null, 'a repeat');
  assert.ok(mem.has(big(7)));
  assert.not.ok(mem.has(big(100)));
  // What is kept: the keys (and any values) of its internal map, measured as text.
  const seen = (mem as any).seen as Map<string, unknown> | Set<string>;
  let kept = 0;
  for (const [k, v] of seen.entries())
    kept += String(k).length + (v === k || v === true ? 0 : JSON.stringify(v ?? null).length);
  assert.ok(kept < 100 * 100, `kept ${kept} characters for 100 ids of 1 MiB`);
});

test('bounded: the oldest ids are forgotten past the size; size 0 remembers nothing', async () => {
  const mem = new RecentIds(2);
  for (const id of ['a', 'b', 'c']) await mem.once(id, async () => 1, 0);
  assert.not.ok(mem.has('a'));
  assert.ok(mem.has('b') && mem.has('c'));
  const none = new RecentIds(0);
  await none.once('a', async () => 1, 0);
  assert.is(await none.once('a', async () => 1, 0), 1, 'run again: nothing is remembered');
});

test.run();
