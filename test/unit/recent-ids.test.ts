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

/** A run whose end the test decides: `fn` records when it starts and resolves when told. */
function gatedRuns() {
  const runs: { release: (v: string) => void; fail: (e: Error) => void }[] = [];
  const fn = () =>
    new Promise<string>((resolve, reject) => {
      const n = runs.length;
      runs.push({ release: (v) => resolve(`${v}${n}`), fail: reject });
    });
  return { runs, fn };
}
async function rejects(p: Promise<unknown>, re: RegExp, msg?: string): Promise<void> {
  const e = await p.then(
    () => null,
    (x: Error) => x,
  );
  assert.ok(e && re.test(e.message), msg ?? `rejected with ${re}`);
}
const tick = () => new Promise((r) => setImmediate(r));

test('latest: a burst of callers costs two runs; each caller is answered by a run that started after it called', async () => {
  const mem = new RecentIds(16);
  const { runs, fn } = gatedRuns();
  const a = mem.latest('g', fn, 'repeat');
  await tick();
  assert.is(runs.length, 1, 'the first caller runs at once');
  const b = mem.latest('g', fn, 'repeat');
  const c = mem.latest('g', fn, 'repeat');
  const d = mem.latest('g', fn, 'repeat');
  await tick();
  assert.is(runs.length, 1, 'the others queue one run behind the one in progress, never beside it');
  runs[0]!.release('run');
  assert.is(await a, 'run0');
  await tick();
  assert.is(runs.length, 2, 'the queued run starts once the first one settles');
  // A caller arriving while the queued run is in progress queues a third run: the second one started before it called.
  const e = mem.latest('g', fn, 'repeat');
  await tick();
  assert.is(runs.length, 2);
  runs[1]!.release('run');
  assert.is(await b, 'run1', 'the caller that queued the run gets its answer');
  assert.is(await c, 'repeat', 'callers that joined it are answered by it too, as repeats');
  assert.is(await d, 'repeat');
  await tick();
  assert.is(runs.length, 3);
  runs[2]!.release('run');
  assert.is(await e, 'run2');
  // Settled with nothing queued: forgotten, so the next caller runs at once.
  await tick();
  const f = mem.latest('g', fn, 'repeat');
  await tick();
  assert.is(runs.length, 4);
  runs[3]!.release('run');
  assert.is(await f, 'run3');
  assert.is((mem as any).checks.size, 0, 'nothing kept once every run settled');
});

test('latest: other ids run beside each other; a failed run fails the callers it answers, and the next one runs', async () => {
  const mem = new RecentIds(16);
  const { runs, fn } = gatedRuns();
  const a = mem.latest('g1', fn, 'repeat');
  const other = mem.latest('g2', fn, 'repeat');
  await tick();
  assert.is(runs.length, 2, 'another id is not held back');
  const b = mem.latest('g1', fn, 'repeat');
  const c = mem.latest('g1', fn, 'repeat');
  runs[0]!.fail(new Error('first'));
  await rejects(a, /first/);
  await tick();
  assert.is(runs.length, 3, 'a failed run still lets the queued one start');
  runs[2]!.fail(new Error('queued'));
  await rejects(b, /queued/);
  await rejects(c, /queued/, 'a caller that joined the failed run is failed too (its event is redelivered)');
  runs[1]!.release('other');
  assert.is(await other, 'other1');
  const d = mem.latest('g1', fn, 'repeat');
  await tick();
  runs[3]!.release('run');
  assert.is(await d, 'run3');
});

test.run();
