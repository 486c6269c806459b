/**
 * The layout's rules (README, Architecture), derived from the sources like rbac.test.ts derives RBAC:
 * every relative import in functions/ and cli/ (static, dynamic, re-exports, type-only ones included)
 * is an edge of the graph, and each rule is a check over that graph. The checks are pure functions of
 * the graph, so they are also run on a small made-up graph with one forbidden edge per rule, to show
 * that each of them can fail.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const FUNCTIONS = ['completion', 'labeling', 'release', 'retry', 'resync'];

/** file → the files it imports (repository-relative paths). */
type Graph = Map<string, Set<string>>;

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir))
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(join(ROOT, p)).isDirectory() ? tsFiles(p) : f.endsWith('.ts') ? [p] : [];
    });
}

/** Relative specifiers of `import … from`, `export … from`, `import(…)` and bare `import '…'`. */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

function sourceGraph(): Graph {
  const g: Graph = new Map();
  for (const f of [...tsFiles('functions'), ...tsFiles('cli')]) {
    const deps = new Set(
      specifiers(readFileSync(join(ROOT, f), 'utf8')).map((s) => relative(ROOT, resolve(ROOT, dirname(f), s))),
    );
    g.set(f, deps);
  }
  return g;
}

const fnOf = (f: string): string | null => {
  const m = /^functions\/([^/]+)\//.exec(f);
  return m && FUNCTIONS.includes(m[1]!) ? m[1]! : null;
};
const inCore = (f: string, part = '') => f.startsWith(`functions/core/${part}`);

function reach(g: Graph, from: string): Set<string> {
  const seen = new Set<string>();
  const todo = [from];
  while (todo.length) {
    for (const d of g.get(todo.pop()!) ?? []) {
      if (seen.has(d)) continue;
      seen.add(d);
      todo.push(d);
    }
  }
  return seen;
}

/** Every broken rule, one line each; empty when the layout holds. */
export function violations(g: Graph): string[] {
  const out: string[] = [];
  for (const [f, deps] of g) {
    const fn = fnOf(f);
    for (const d of deps) {
      if (!g.has(d)) out.push(`${f} imports ${d}, which does not exist`);
      // A function imports only its own folder and the shared core.
      if (fn && fnOf(d) !== fn && !inCore(d))
        out.push(`function ${fn}: ${f} imports ${d} (only its own folder and functions/core/)`);
      // The core never imports a function, the composition root, the process entry or the CLIs.
      if (inCore(f) && !inCore(d)) out.push(`core: ${f} imports ${d} (the core depends on nothing above it)`);
      // Nothing that ships imports the CLIs (they are never bundled).
      if (f.startsWith('functions/') && d.startsWith('cli/')) out.push(`${f} imports the CLI file ${d}`);
    }
    // Transport and Kubernetes access know nothing of restores, not even through another file.
    if (inCore(f, 'http/') || inCore(f, 'kube/')) {
      for (const d of reach(g, f)) if (inCore(d, 'restore/')) out.push(`core: ${f} reaches the restore domain (${d})`);
    }
  }
  // Exactly one file wires every function: the composition root.
  const roots = [...g]
    .filter(([, deps]) => FUNCTIONS.every((fn) => [...deps].some((d) => fnOf(d) === fn)))
    .map(([f]) => f);
  if (roots.length !== 1 || roots[0] !== 'functions/server.ts')
    out.push(`composition roots: ${roots.join(', ') || 'none'} (want functions/server.ts alone)`);
  // Outside the functions themselves, only the root imports a function's files.
  for (const [f, deps] of g) {
    if (fnOf(f) || f === 'functions/server.ts') continue;
    for (const d of deps) if (fnOf(d)) out.push(`${f} imports ${d}: only functions/server.ts wires the functions`);
  }
  // No cycles, type-only imports included.
  for (const f of g.keys()) if (reach(g, f).has(f)) out.push(`cycle through ${f}`);
  return out;
}

test('the sources keep every layout rule', () => {
  const g = sourceGraph();
  assert.ok(g.size > 40, `only ${g.size} files found: is the scan broken?`);
  assert.ok([...g.values()].reduce((n, d) => n + d.size, 0) > 150, 'too few imports found: is the scan broken?');
  assert.equal(violations(g), []);
});

test('the tree shows the parts: four functions and resync, the core in three parts, the root, the CLI', () => {
  const g = sourceGraph();
  for (const fn of FUNCTIONS) assert.ok(g.has(`functions/${fn}/index.ts`), `functions/${fn}/index.ts`);
  for (const part of ['http', 'kube', 'restore'])
    assert.ok(
      [...g.keys()].some((f) => inCore(f, `${part}/`)),
      `functions/core/${part}/`,
    );
  assert.ok(g.has('functions/server.ts') && g.has('functions/index.ts'));
  assert.ok(g.has('cli/replay/main.ts'));
});

test('resync has the chain steps handed in: it declares them and imports no sibling', () => {
  const sweep = readFileSync(join(ROOT, 'functions/resync/sweep.ts'), 'utf8');
  assert.match(sweep, /export interface SweepSteps/);
  assert.match(readFileSync(join(ROOT, 'functions/server.ts'), 'utf8'), /createResync\(/);
});

test('the scan reads every kind of import', () => {
  const text = [
    "import { a } from './a.ts';",
    "import type { B } from '../b.ts';",
    "export { c } from './c.ts';",
    "export type { D } from './d.ts';",
    "const e = await import('./e.ts');",
    "import './f.ts';",
    "import { z } from 'zod';",
  ].join('\n');
  assert.equal(specifiers(text), ['./a.ts', '../b.ts', './c.ts', './d.ts', './e.ts', './f.ts']);
});

test('each rule fails on a forbidden edge', () => {
  const good = (): Graph =>
    new Map<string, Set<string>>([
      ['functions/server.ts', new Set(FUNCTIONS.map((f) => `functions/${f}/index.ts`))],
      ...FUNCTIONS.map(
        (f) => [`functions/${f}/index.ts`, new Set(['functions/core/restore/x.ts'])] as [string, Set<string>],
      ),
      ['functions/core/restore/x.ts', new Set(['functions/core/kube/y.ts'])],
      ['functions/core/kube/y.ts', new Set<string>()],
      ['functions/core/http/z.ts', new Set<string>()],
      ['cli/replay/main.ts', new Set(['functions/server.ts'])],
    ]);
  assert.equal(violations(good()), []);
  const broken: [string, (g: Graph) => void, RegExp][] = [
    ['sibling import', (g) => g.get('functions/retry/index.ts')!.add('functions/labeling/index.ts'), /function retry/],
    [
      'core imports a function',
      (g) => g.get('functions/core/kube/y.ts')!.add('functions/release/index.ts'),
      /core: .* depends on nothing/,
    ],
    ['core imports the root', (g) => g.get('functions/core/http/z.ts')!.add('functions/server.ts'), /core: /],
    [
      'kube reaches restore',
      (g) =>
        g.get('functions/core/kube/y.ts')!.add('functions/core/http/z.ts') &&
        g.get('functions/core/http/z.ts')!.add('functions/core/restore/x.ts'),
      /reaches the restore domain/,
    ],
    [
      'a second root',
      (g) => g.set('functions/other.ts', new Set(FUNCTIONS.map((f) => `functions/${f}/index.ts`))),
      /composition roots/,
    ],
    [
      'the CLI imports a function',
      (g) => g.get('cli/replay/main.ts')!.add('functions/completion/index.ts'),
      /only functions\/server.ts wires/,
    ],
    [
      'shipped code imports the CLI',
      (g) => g.get('functions/completion/index.ts')!.add('cli/replay/main.ts'),
      /imports the CLI file/,
    ],
    ['a type-only cycle', (g) => g.get('functions/core/kube/y.ts')!.add('functions/core/kube/y.ts'), /cycle through/],
  ];
  for (const [name, breakIt, want] of broken) {
    const g = good();
    breakIt(g);
    const v = violations(g);
    assert.ok(
      v.some((line) => want.test(line)),
      `${name}: ${JSON.stringify(v)}`,
    );
  }
});

test.run();
