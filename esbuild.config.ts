/**
 * Builds the shipped form: one ESM bundle of the server (dist/server.js) with the Kubernetes client
 * split into a chunk loaded on first use, so a cold start (Knative scales to zero) does not pay for it.
 */
import { build } from 'esbuild';

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
  logLevel: 'warning',
});
const outputs = Object.entries(result.metafile.outputs)
  .filter(([f]) => f.endsWith('.js'))
  .map(([f, o]) => `${f} ${(o.bytes / 1024).toFixed(0)} KiB`);
console.log(JSON.stringify({ msg: 'built', ms: Math.round(performance.now() - started), outputs }));
