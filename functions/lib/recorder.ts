import { mkdirSync, readdirSync, unlinkSync, writeFile } from 'node:fs';
import { join } from 'node:path';
import type { RequestTap } from './app.ts';
import type { Logger } from './log.ts';

/** A raw capture as the recorder writes it and the replay reads it. */
export interface Capture {
  path: string;
  receivedAt: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * Saves every request raw (headers, body, arrival time) before it is parsed: the CloudEvents SDK
 * would rewrite `time` and fill in defaults. Writes are fire-and-forget off the request's path;
 * the folder is bounded to `max` files, oldest dropped.
 */
export function createRecorder(dir: string, max: number, log: Logger): RequestTap & { flush(): Promise<void> } {
  mkdirSync(dir, { recursive: true });
  let seq = 0;
  let pending = 0;
  let waiters: (() => void)[] = [];
  const files: string[] = readdirSync(dir).filter((f) => f.endsWith('.capture.json')).sort();
  const done = () => {
    if (--pending === 0) {
      const w = waiters;
      waiters = [];
      w.forEach((f) => f());
    }
  };
  const tap = (req: { path: string; headers: Record<string, string>; body: string; receivedAt: Date }) => {
    const name = `${req.receivedAt.getTime().toString().padStart(14, '0')}-${process.pid}-${String(seq++).padStart(6, '0')}.capture.json`;
    const capture: Capture = { path: req.path, receivedAt: req.receivedAt.toISOString(), headers: req.headers, body: req.body };
    pending++;
    files.push(name);
    while (files.length > max) {
      const old = files.shift()!;
      try {
        unlinkSync(join(dir, old));
      } catch {
        /* already gone */
      }
    }
    writeFile(join(dir, name), JSON.stringify(capture), (e) => {
      if (e) log.warn('recording not written', { file: name, error: e.message });
      done();
    });
  };
  return Object.assign(tap, {
    flush: () => (pending === 0 ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
  });
}
