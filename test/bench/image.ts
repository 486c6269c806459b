/**
 * What the launch image would hold, reproduced without Docker: the files `kn func build` sends
 * (tracked files minus .funcignore), then what the Node.js buildpacks do with them (Paketo
 * npm-install: `npm ci` with devDependencies for the build, `npm run build` from
 * BP_NODE_RUN_SCRIPTS, then `npm prune` with NODE_ENV=production for the launch layer), with this
 * process's Node (24) first on PATH as the buildpack's would be. Prints sizes as JSON lines.
 *
 *   npx node test/bench/image.ts [git ref, default HEAD]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ref = process.argv[2] ?? 'HEAD';
const say = (msg: string, fields: Record<string, unknown> = {}) => console.log(JSON.stringify({ msg, ...fields }));

/** knative/func's .funcignore reading, as far as this project uses it: `/x` root-relative, `*.ext`, `name` at any depth. */
function ignored(patterns: string[], file: string): boolean {
  const parts = file.split('/');
  return patterns.some((p) => {
    if (p.startsWith('/')) return file === p.slice(1) || file.startsWith(`${p.slice(1)}/`);
    if (p.startsWith('*.')) return file.endsWith(p.slice(1));
    return parts.includes(p);
  });
}

const show = (r: string, path: string) =>
  execFileSync('git', ['-C', ROOT, 'show', `${r}:${path}`], { encoding: 'utf8' });
const patterns = show(ref, '.funcignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const files = execFileSync('git', ['-C', ROOT, 'ls-tree', '-r', '--name-only', ref], { encoding: 'utf8' })
  .split('\n')
  .filter(Boolean);
const sent = files.filter((f) => !ignored(patterns, f) && !['.git', '.func', '.funcignore', '.gitignore'].includes(f));
const dir = mkdtempSync(join(tmpdir(), 'rg-image-'));
execFileSync('bash', [
  '-c',
  `git -C "${ROOT}" archive ${ref} ${sent.map((f) => `'${f}'`).join(' ')} | tar -x -C "${dir}"`,
]);
say('build context', { ref, dir, files: sent.length, of: files.length });

const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
const du = (p: string) => {
  const r = spawnSync('du', ['-sk', p], { encoding: 'utf8' });
  return r.status === 0 ? Math.round(Number(r.stdout.split('\t')[0]) / 102.4) / 10 : 0;
};
const run = (what: string, cmd: string[], extra: Record<string, string> = {}) => {
  const t = performance.now();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: dir, env: { ...env, ...extra }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr || r.stdout}`);
  say(what, { s: Math.round((performance.now() - t) / 100) / 10, nodeModulesMB: du(join(dir, 'node_modules')) });
  return r.stdout;
};
try {
  run('npm ci (build layer)', ['npm', 'ci', '--no-audit', '--no-fund'], { NODE_ENV: 'development' });
  say('Node binary from npm in the build', {
    nodePackageMB: du(join(dir, 'node_modules/node')),
    linkedBootstrapNode: spawnSync('test', ['-L', join(dir, 'node_modules/.bin/node')]).status === 0,
  });
  run('npm run build', ['npm', 'run', 'build']);
  run('npm prune (launch layer)', ['npm', 'prune', '--no-audit', '--no-fund'], { NODE_ENV: 'production' });
  const app = Number(
    execFileSync('bash', ['-c', `cd "${dir}" && du -sk --exclude=node_modules . | cut -f1`], { encoding: 'utf8' }),
  );
  const maps = execFileSync(
    'bash',
    [
      '-c',
      `cd "${dir}" && (find . -name '*.map' -not -path './node_modules/*' -printf '%s\\n' | awk '{s+=$1} END {print s+0}')`,
    ],
    { encoding: 'utf8' },
  );
  say('launch image, app part', {
    nodeModulesMB: du(join(dir, 'node_modules')),
    appDirWithoutNodeModulesMB: Math.round(app / 102.4) / 10,
    distMB: du(join(dir, 'dist')),
    sourceMapsMB: Math.round(Number(maps) / 104857.6) / 10,
  });
  say('package.json version', { version: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version });
} finally {
  if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}
