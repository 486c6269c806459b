// Node.js for development machines: the project runs on Node 24 (TypeScript type stripping, the
// test rig, the scripts). `npm install` / `npm ci` run this (package.json "postinstall") with the
// machine's Node, which may be older. When the machine's Node is older than package.json
// `config.node`, this installs that Node from the npm registry (the `node` package, which fetches
// the platform's binary) into .node/<version>/ and links it as node_modules/.bin/node, which npm
// puts first on PATH for every script (`npm test`, `npm run replay`, `npx node ...`).
//
// Plain JavaScript on purpose: it must run on the old Node it replaces (Node 18 or later).
// The image build never gets here with an old Node: the buildpack provides Node 24 itself
// (func.yaml BP_NODE_VERSION), so nothing is downloaded there.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg, fields = {}) => console.log(JSON.stringify({ msg: `node bootstrap: ${msg}`, ...fields }));
const fail = (msg, hint) => {
  console.error(JSON.stringify({ level: 'error', msg: `node bootstrap: ${msg}`, hint }));
  process.exit(1);
};

const want = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).config?.node;
if (!/^\d+\.\d+\.\d+$/.test(want ?? ''))
  fail(`package.json config.node is ${want}`, 'set it to a Node version, e.g. 24.21.0');
const major = (v) => Number(String(v).replace(/^v/, '').split('.')[0]);

// The Node npm itself runs on is the machine's (a linked Node 24 may run this script itself).
const machineNode = process.env.npm_node_execpath || process.execPath;
const versionOf = (bin) => {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : null;
};
const machine = versionOf(machineNode) ?? process.versions.node;
const link = join(root, 'node_modules', '.bin', 'node');
const linked = (() => {
  try {
    return lstatSync(link).isSymbolicLink();
  } catch {
    return false;
  }
})();

if (major(machine) >= major(want)) {
  if (linked) rmSync(link); // an earlier bootstrap's link: this machine's Node will do now
  say("this machine's Node is recent enough; nothing to install", { node: machine, wanted: want });
  process.exit(0);
}

const dir = join(root, '.node', want);
const bin = join(dir, 'node_modules', 'node', 'bin', 'node');
if (versionOf(bin) !== want) {
  say('installing Node from the npm registry (package `node`, about 130 MB once; kept in .node/)', {
    machine,
    wanted: want,
    into: relative(root, dir),
  });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Its own package, so the project's lockfile never names it; `node` fetches the binary in its
  // preinstall script, which this package allows (npm 11.16+ allowScripts).
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ private: true, dependencies: { node: want }, allowScripts: { node: true } }, null, 2)}\n`,
  );
  // npm's own settings for this nested install only: the outer install's (npm_config_*) could
  // say --omit, --global or --ignore-scripts. Registry, cache and proxies carry over.
  const keep = /^npm_config_(registry|cache|userconfig|globalconfig|https?_proxy|proxy|noproxy|strict_ssl|cafile|ca)$/i;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.test(k)));
  const npmCli = process.env.npm_execpath;
  const [cmd, args] = npmCli && existsSync(npmCli) ? [machineNode, [npmCli]] : ['npm', []];
  const r = spawnSync(cmd, [...args, 'install', '--no-audit', '--no-fund', '--no-package-lock'], {
    cwd: dir,
    env,
    stdio: 'inherit',
  });
  if (r.status !== 0 || versionOf(bin) !== want)
    fail(
      `could not install Node ${want} into ${relative(root, dir)}`,
      'check access to the npm registry, or install Node 24 on this machine, then run npm install again',
    );
}
mkdirSync(dirname(link), { recursive: true });
rmSync(link, { force: true });
symlinkSync(relative(dirname(link), bin), link);
say('linked node_modules/.bin/node: npm scripts and `npx node` run on it', { node: want, machine });
