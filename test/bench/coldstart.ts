/**
 * Cold start: process spawn to the first 200 from /health/readiness, and RSS at that moment, for the
 * shipped bundle (dist/server.js) and an unbundled start of the same code (functions/index.ts),
 * against the floor in the same run: a bare `node -e 0` (spawn → exit) of the same Node binary.
 * The arms take turns, run after run, so a busy moment on the machine falls on all of them.
 * Prints a table; `--json` for machines. Run `npm run build` first.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function rssMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

export interface Sample {
  ms: number;
  rssMb: number;
}

/** The floor: spawn → exit of `node -e 0` (what any Node process pays before running a line of ours). */
export async function bareNode(): Promise<Sample> {
  const started = performance.now();
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`node -e 0 exited ${code}`);
  return { ms: performance.now() - started, rssMb: NaN };
}

export async function coldStart(entry: string, nodeArgs: string[] = []): Promise<Sample> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', KUBECONFIG: '' },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health/readiness`);
        if (r.status === 200) return { ms: performance.now() - started, rssMb: rssMb(child.pid!) };
      } catch {
        /* not listening yet */
      }
      if (performance.now() - started > 60_000) throw new Error(`${entry} did not become ready in 60 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill('SIGKILL');
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface ColdRow {
  arm: string;
  ms: number;
  rssMb: number;
}

/** Rows in order: bare Node, shipped bundle, unbundled; medians over `runs` turns. */
export async function benchColdStart(runs = 7): Promise<ColdRow[]> {
  const arms = [
    { arm: 'bare node -e 0 (spawn → exit)', run: () => bareNode() },
    { arm: 'shipped bundle (dist/server.js)', run: () => coldStart('dist/server.js') },
    { arm: 'unbundled (functions/index.ts)', run: () => coldStart('functions/index.ts') },
  ];
  const samples: Sample[][] = arms.map(() => []);
  // One warm-up turn (disk cache, the first fork of this process), not counted.
  for (const a of arms) await a.run();
  for (let i = 0; i < runs; i++) for (const [k, a] of arms.entries()) samples[k]!.push(await a.run());
  return arms.map((a, k) => ({
    arm: a.arm,
    ms: median(samples[k]!.map((s) => s.ms)),
    rssMb: median(samples[k]!.map((s) => s.rssMb)),
  }));
}

if (import.meta.main) {
  const rows = await benchColdStart(Number(process.env.RUNS ?? 7));
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
  else {
    console.log('| start | spawn → ready (median ms) | RSS at ready (MB) | ratio to bare node -e 0 |');
    console.log('|---|---|---|---|');
    const base = rows[0]!;
    for (const r of rows)
      console.log(
        `| ${r.arm} | ${r.ms.toFixed(0)} | ${Number.isFinite(r.rssMb) ? r.rssMb.toFixed(0) : '—'} | ${(r.ms / base.ms).toFixed(2)} |`,
      );
  }
}
