/**
 * Builds the shipped form: one ESM bundle of the server (dist/server.js) with the Kubernetes client
 * split into a chunk (dist/rest-cluster-*.js) that functions/index.ts loads in the background once
 * the server listens, so a cold start (Knative scales to zero) does not wait for it.
 *
 * Every dependency is inside the bundle: the image needs no node_modules (package.json keeps them
 * all in devDependencies, so the buildpack's launch layer has none; see README, Deployment).
 *
 * Start-up cost, measured with `node --cpu-prof` (README, Benchmarks, figure 6):
 *  - Node builtins are loaded with require(), not `import`: an ESM import of a builtin builds its
 *    ESM facade, which reads every export and so runs lazy getters (node:crypto's webcrypto,
 *    node:fs' Utf8Stream, node:http's undici-backed WebSocket), loading code nothing here uses.
 *  - @hono/node-server imports node:http2 only to test `instanceof Http2ServerRequest`; this
 *    server speaks HTTP/1.1 (functions/index.ts serves with node:http's createServer), so that
 *    import gets a stand-in class no request is an instance of, instead of loading node:http2.
 *  - No source maps: Node ignores them without --enable-source-maps, which would read them at
 *    every start. Identifiers are not minified instead, so stack traces name the real functions.
 *
 * `node esbuild.config.ts --sourcemap` also writes linked source maps (for local debugging with
 * `node --enable-source-maps dist/server.js`).
 */
import { readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { build, type Plugin } from 'esbuild';

const BUILTINS = new Set(builtinModules);

const builtinsByRequire: Plugin = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_0-9/]+$/ }, (a) => {
      const name = a.path.replace(/^node:/, '');
      // The stand-in's own require() is Node's, at run time.
      if (a.namespace === 'builtin') return { path: `node:${name}`, external: true };
      if (name === 'http2' && a.importer.includes('@hono/node-server')) return { path: name, namespace: 'no-http2' };
      return BUILTINS.has(name) ? { path: name, namespace: 'builtin' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (a) => ({
      contents: `module.exports = require(${JSON.stringify(`node:${a.path}`)});`,
      loader: 'js',
    }));
    b.onLoad({ filter: /.*/, namespace: 'no-http2' }, () => ({
      contents: 'export class Http2ServerRequest {}\nexport const constants = {};',
      loader: 'js',
    }));
  },
};

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
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
  // CommonJS dependencies (and the builtins above) inside an ESM bundle need require().
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  plugins: [builtinsByRequire],
  // The version the bundle reports (functions/core/build-info.ts): package.json's, as CHANGELOG.md.
  define: { RG_BUILD_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
});
const outputs = Object.entries(result.metafile.outputs)
  .filter(([f]) => f.endsWith('.js'))
  .map(([f, o]) => `${f} ${(o.bytes / 1024).toFixed(0)} KiB`);
console.log(JSON.stringify({ msg: 'built', ms: Math.round(performance.now() - started), outputs }));
