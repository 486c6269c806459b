/**
 * Builds the shipped form: one ESM bundle of the server (dist/server.js) with the Kubernetes client
 * split into a chunk loaded on first use, so a cold start (Knative scales to zero) does not pay for it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
const result = await build({
  entryPoints: { server: 'functions/index.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  minify: true,
  sourcemap: 'linked',
  metafile: true,
  legalComments: 'linked',
  // CommonJS dependencies inside an ESM bundle need require().
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  define: { RG_BUILD_VERSION: JSON.stringify(version), RG_BUILD_COMMIT: JSON.stringify(commit()) },
  logLevel: 'warning',
});
const outputs = Object.entries(result.metafile.outputs)
  .filter(([f]) => f.endsWith('.js'))
  .map(([f, o]) => `${f} ${(o.bytes / 1024).toFixed(0)} KiB`);
console.log(JSON.stringify({ msg: 'built', ms: Math.round(performance.now() - started), outputs }));
