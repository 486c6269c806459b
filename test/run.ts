/**
 * The test runner behind `npm test`: every `*.test.ts` under test/ (or those whose path contains
 * one of the arguments), in one process with uvu, then one closing line `N passed, N failed`.
 * A skipped test is never counted as a pass: any skip fails the run.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname);
const filters = process.argv.slice(2);

function find(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      if (f === 'node_modules' || f === 'fixtures') return [];
      if (statSync(p).isDirectory()) return find(p);
      return f.endsWith('.test.ts') ? [p] : [];
    });
}

const files = find(root).filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}

// uvu prints its own summary; read the numbers from it as they go by.
let out = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  if (out.length > 1 << 16) out = out.slice(-4096);
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

(globalThis as { UVU_DEFER?: number }).UVU_DEFER = 1;
const uvu = await import('uvu');
const queue = (globalThis as unknown as { UVU_QUEUE: unknown[][] }).UVU_QUEUE;
let index = 0;
for (const f of files) {
  (globalThis as { UVU_INDEX?: number }).UVU_INDEX = index++;
  queue.push([relative(root, f)]);
  await import(pathToFileURL(f).href);
}
await uvu.exec(false);
process.stdout.write = write;

const num = (label: string) => Number(out.match(new RegExp(`${label}:\\s+(?:\\u001b\\[\\d+m)?(\\d+)`))?.[1] ?? NaN);
const total = num('Total');
const passed = num('Passed');
const skipped = num('Skipped');
if (!Number.isFinite(total)) {
  console.error('could not read the test summary');
  process.exit(1);
}
const failed = total - passed - skipped;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
if (skipped) console.error('skipped tests are not allowed: remove .skip or the test');
process.exit(failed || skipped || process.exitCode ? 1 : 0);
