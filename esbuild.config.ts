/**
 * Builds the shipped form: one ESM bundle of the server (dist/server.js) with the Kubernetes client
 * split into a chunk (dist/rest-cluster-*.js) that functions/index.ts loads in the background once
 * the server has answered its first request, so a cold start (Knative scales to zero) does not wait
 * for it, and the first event that calls the API seldom does.
 *
 * Every dependency is inside the bundle: the image needs no node_modules (package.json keeps them
 * all in devDependencies, so the buildpack's launch layer has none; see README, Deployment).
 *
 * Start-up cost (README, Benchmarks, figure 6): of the instructions Node runs from spawn to
 * listening (valgrind --tool=callgrind), a bare `node -e 0` is about a fifth, and undici, which Node
 * loads for the global Request and Response that Hono and @hono/node-server build on (at module
 * load: `class extends Request`), over half. Bundling, minifying or stubbing builtins changes
 * neither (measured: no difference), so this build stays plain:
 *  - No source maps: Node reads them only with --enable-source-maps (at every start). Identifiers are
 *    not minified instead, so stack traces name the real functions.
 *
 * `node esbuild.config.ts --sourcemap` also writes linked source maps (for local debugging with
 * `node --enable-source-maps dist/server.js`).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

// What restoreguard_build_info reports (functions/core/build-info.ts): package.json's version, and
// the commit from RG_BUILD_COMMIT (set it where the build has no .git, e.g. an image build), else
// git, else `unknown`.
const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
function commit(): string {
  const fromEnv = process.env.RG_BUILD_COMMIT?.trim();
  if (fromEnv) return fromEnv;
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

const started = performance.now();
// Chunk names carry content hashes: clear the folder so no chunk of an older build ships with this one.
rmSync('dist', { recursive: true, force: true });
const result = await build({
  entryPoints: { server: 'functions/index.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: process.argv.includes('--sourcemap') ? 'linked' : false,
  metafile: true,
  legalComments: 'linked',
  // CommonJS dependencies inside an ESM bundle need require().
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  // The version and commit the bundle reports (functions/core/build-info.ts): package.json's, as CHANGELOG.md.
  define: { RG_BUILD_VERSION: JSON.stringify(version), RG_BUILD_COMMIT: JSON.stringify(commit()) },
  logLevel: 'warning',
});
const outputs = Object.entries(result.metafile.outputs)
  .filter(([f]) => f.endsWith('.js'))
  .map(([f, o]) => `${f} ${(o.bytes / 1024).toFixed(0)} KiB`);
console.log(JSON.stringify({ msg: 'built', ms: Math.round(performance.now() - started), outputs }));
