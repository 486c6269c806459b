/** Machine and version facts for a results file. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

function run(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export interface Facts {
  date: string;
  command: string;
  git: string | null;
  nproc: number;
  cpu: string;
  memoryGiB: number;
  loadavg: number[];
  /** load average when the rig figures ended */
  loadavgEnd?: number[];
  os: string;
  node: string;
  go: string | null;
  /** rig component → version (from .rig/stamps) */
  rig: Record<string, string>;
  /** kube-apiserver /version, filled in once the rig is up */
  kube: string | null;
}

export function machineFacts(command: string): Facts {
  const stamps: Record<string, string> = {};
  const dir = path.join(ROOT, '.rig', 'stamps');
  if (existsSync(dir)) {
    for (const f of readdirSync(dir)) {
      const [, version, go] = readFileSync(path.join(dir, f), 'utf8').trim().split(/\s+/);
      if (version) stamps[f] = `${version}${go ? ` (${go})` : ''}`;
    }
  }
  const head = run('git', ['rev-parse', '--short', 'HEAD']);
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no']);
  return {
    date: new Date().toISOString(),
    command,
    git: head ? `${head}${dirty ? ' (with uncommitted changes)' : ''}` : null,
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    go: run('go', ['version'])?.replace(/^go version /, '') ?? null,
    rig: stamps,
    kube: null,
  };
}

export function factsMarkdown(f: Facts): string {
  const rig =
    Object.entries(f.rig)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'not built';
  return [
    `- date: ${f.date}`,
    `- command: \`${f.command}\``,
    `- commit: ${f.git ?? 'unknown'}`,
    `- machine: ${f.nproc} CPUs (${f.cpu}), ${f.memoryGiB} GiB memory, ${f.os}; load average (1/5/15 min) at start ${f.loadavg.join(' / ')}${f.loadavgEnd ? `, after the rig figures ${f.loadavgEnd.join(' / ')}` : ''}`,
    `- node ${f.node}; ${f.go ?? 'go: not found'}; kube-apiserver ${f.kube ?? 'not used'}; rig: ${rig}`,
  ].join('\n');
}
