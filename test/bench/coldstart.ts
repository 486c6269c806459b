/**
 * Cold start: process spawn to the first 200 from /health/readiness, and RSS at that moment, for the
 * shipped bundle (dist/server.js) and an unbundled start of the same code (functions/index.ts).
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

export async function coldStart(entry: string): Promise<{ ms: number; rssMb: number }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [entry], {
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
      if (performance.now() - started > 15_000) throw new Error(`${entry} did not become ready in 15 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill('SIGKILL');
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchColdStart(runs = 7) {
  const arms = [
    { arm: 'shipped bundle (dist/server.js)', entry: 'dist/server.js' },
    { arm: 'unbundled (functions/index.ts)', entry: 'functions/index.ts' },
  ];
  const rows = [];
  for (const a of arms) {
    const samples = [];
    for (let i = 0; i < runs; i++) samples.push(await coldStart(a.entry));
    rows.push({ arm: a.arm, ms: median(samples.map((s) => s.ms)), rssMb: median(samples.map((s) => s.rssMb)) });
  }
  return rows;
}

if (import.meta.main) {
  const rows = await benchColdStart(Number(process.env.RUNS ?? 7));
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
  else {
    console.log('| start | spawn → ready (median ms) | RSS at ready (MB) | ratio to unbundled |');
    console.log('|---|---|---|---|');
    const base = rows[1]!;
    for (const r of rows)
      console.log(`| ${r.arm} | ${r.ms.toFixed(0)} | ${r.rssMb.toFixed(0)} | ${(r.ms / base.ms).toFixed(2)} |`);
  }
}
