/**
 * restore-guard as N replica processes: the shipped bundle (dist/server.js), each with its own
 * port, environment, kubeconfig and memory, as the pods of its Knative Service. kill(i) is a
 * `kill -9`; start(i) brings replica i back on its port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { heapAfterGc, type HeapAfterGc } from './inspector.ts';

export interface ReplicaSetOptions {
  count: number;
  /** the bundle to run */
  entry: string;
  env: Record<string, string>;
  logDir: string;
  tag: string;
  /**
   * Each replica listens for an inspector on a loopback port of its own (`--inspect`): the suite
   * reads its live heap after a full GC (inspector.ts). Not in production: the pods run without.
   */
  inspect?: boolean;
  /** more Node options before the entry (e.g. a test-only `--import`) */
  nodeArgs?: string[];
}

interface Replica {
  port: number;
  url: string;
  child: ChildProcess | null;
  starts: number;
  logFile: string;
  /** RSS (kB) first read after its latest start, and the latest read */
  rssStartKb: number | null;
  rssLastKb: number | null;
  /** every RSS read since its latest start (or since resetRss) */
  rssSamples: { at: number; kb: number }[];
  /** its inspector's port (inspect), else null */
  inspectPort: number | null;
  /** answered its readiness probe since its latest start */
  ready: boolean;
}

async function freePort(): Promise<number> {
  for (;;) {
    const p = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const a = srv.address() as AddressInfo;
        srv.close(() => resolve(a.port));
      });
    });
    if (p !== 8080) return p; // the adapter's health port
  }
}

/** Resident set size of a process in kB (Linux /proc), or null when it is gone. */
export function rssKb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export async function createReplicas(opts: ReplicaSetOptions) {
  const replicas: Replica[] = [];
  for (let i = 0; i < opts.count; i++) {
    const port = await freePort();
    replicas.push({
      port,
      url: `http://127.0.0.1:${port}`,
      child: null,
      starts: 0,
      logFile: path.join(opts.logDir, `chaos-${opts.tag}-replica-${i}.log`),
      rssStartKb: null,
      rssLastKb: null,
      rssSamples: [],
      inspectPort: opts.inspect ? await freePort() : null,
      ready: false,
    });
  }

  const ready = async (r: Replica, deadlineMs: number): Promise<boolean> => {
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      if (!r.child || r.child.exitCode !== null || r.child.signalCode !== null) return false;
      const ok = await fetch(`${r.url}/health/readiness`, { signal: AbortSignal.timeout(2000) })
        .then((x) => x.ok)
        .catch(() => false);
      if (ok) return true;
      await new Promise((res) => setTimeout(res, 50));
    }
    return false;
  };

  const set = {
    urls: replicas.map((r) => r.url),
    replicas,
    /** Starts replica i (its log appended to) and waits until it is ready (3 tries of 30 s at most). */
    async start(i: number): Promise<void> {
      const r = replicas[i]!;
      for (let attempt = 1; attempt <= 3; attempt++) {
        if (r.child && r.child.exitCode === null && r.child.signalCode === null) {
          if (await ready(r, 30_000)) {
            r.ready = true;
            return;
          }
          r.child.kill('SIGKILL');
          continue;
        }
        const fd = fs.openSync(r.logFile, 'a');
        const args = [
          ...(r.inspectPort ? [`--inspect=127.0.0.1:${r.inspectPort}`] : []),
          ...(opts.nodeArgs ?? []),
          opts.entry,
        ];
        r.child = spawn(process.execPath, args, {
          env: { ...opts.env, PORT: String(r.port), HOST: '127.0.0.1' },
          stdio: ['ignore', fd, fd],
        });
        fs.closeSync(fd);
        r.starts++;
        r.ready = false;
        r.rssStartKb = null;
        r.rssSamples = [];
        if (await ready(r, 30_000)) {
          r.ready = true;
          return;
        }
      }
      throw new Error(`replica ${i} not ready after 3 starts; see ${r.logFile}`);
    },
    /** kill -9, no warning; resolves once it is gone. */
    async kill(i: number): Promise<void> {
      const c = replicas[i]!.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      replicas[i]!.ready = false;
      const gone = new Promise<void>((res) => c.once('exit', () => res()));
      c.kill('SIGKILL');
      await gone;
    },
    /** Up and ready (a replica still starting is not killed again). */
    alive(i: number): boolean {
      const c = replicas[i]!.child;
      return replicas[i]!.ready && !!c && c.exitCode === null && c.signalCode === null;
    },
    /** Reads every live replica's RSS (the first read after a start is its starting figure). */
    sampleRss(): void {
      for (const r of replicas) {
        const kb = rssKb(r.child?.exitCode === null ? r.child.pid : undefined);
        if (kb === null) continue;
        r.rssStartKb ??= kb;
        r.rssLastKb = kb;
        r.rssSamples.push({ at: Date.now(), kb });
      }
    },
    /** Forgets replica i's RSS reads: the next read is its starting figure. */
    resetRss(i: number): void {
      replicas[i]!.rssStartKb = null;
      replicas[i]!.rssSamples = [];
    },
    /** Replica i's live heap after a full GC (through its inspector), or null (no inspector, not up). */
    async heapAfterGc(i: number): Promise<HeapAfterGc | null> {
      const r = replicas[i]!;
      if (!r.inspectPort || !set.alive(i)) return null;
      return heapAfterGc(r.inspectPort);
    },
    /**
     * Replica i's live heap once the work in hand is done: readings 5 s apart (at most `tries`) until
     * two agree within 512 kB; the lowest. What a handler or a resync sweep holds while it runs (a
     * sweep holds every Job it listed) is live, but it is let go when the work ends; a leak is not,
     * so it stays in every reading.
     */
    async settledHeap(i: number, tries = 12): Promise<HeapAfterGc | null> {
      let low: HeapAfterGc | null = null;
      let prev: HeapAfterGc | null = null;
      for (let t = 0; t < tries; t++) {
        if (t) await new Promise((res) => setTimeout(res, 5000));
        const h = await set.heapAfterGc(i);
        if (!h) continue;
        if (!low || h.usedKb < low.usedKb) low = h;
        if (prev && Math.abs(h.usedKb - prev.usedKb) < 512) break;
        prev = h;
      }
      return low;
    },
    /** SIGTERM every replica (SIGKILL after 5 s). */
    async stopAll(): Promise<void> {
      await Promise.all(
        replicas.map(async (r) => {
          const c = r.child;
          if (!c || c.exitCode !== null || c.signalCode !== null) return;
          const gone = new Promise<void>((res) => c.once('exit', () => res()));
          c.kill('SIGTERM');
          const t = setTimeout(() => c.kill('SIGKILL'), 5000);
          await gone;
          clearTimeout(t);
        }),
      );
    },
  };
  process.on('exit', () => {
    for (const r of replicas) r.child?.kill('SIGKILL');
  });
  return set;
}
export type ReplicaSet = Awaited<ReturnType<typeof createReplicas>>;
