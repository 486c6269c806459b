import { mkdirSync, readdirSync, unlink, writeFile } from 'node:fs';
import { join } from 'node:path';
import type { RequestTap } from './app.ts';
import type { Logger } from '../log.ts';

/** A raw capture as the recorder writes it and the replay reads it. */
export interface Capture {
  path: string;
  receivedAt: string;
  headers: Record<string, string>;
  body: string;
}

/** Headers that carry credentials (Knative's OIDC tokens among them): never written to disk. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
/** And any header whose name says it holds a key, token, secret, password or signature (X-Api-Key, X-Auth-Token, ...). */
const SECRET_NAME = /(api[-_]?key|token|secret|passw|credential|signature|session|auth)/i;
const isSecretHeader = (name: string) => SECRET_HEADERS.has(name.toLowerCase()) || SECRET_NAME.test(name);

/**
 * Saves every request raw (headers, body, arrival time) before it is parsed: the CloudEvents SDK
 * would rewrite `time` and fill in defaults. Credentials in headers are redacted.
 *
 * Off the request's critical section: the request path only serialises the capture and queues an
 * asynchronous write; deleting the oldest file is asynchronous too. Bounded: at most `max` files
 * (oldest dropped, and a file still being written is dropped once its write lands, so the folder
 * never ends above the bound), and at most `maxPending` writes in flight (beyond that, captures are
 * dropped and counted, rather than memory growing while the disk is slow).
 */
export function createRecorder(
  dir: string,
  max: number,
  log: Logger,
  maxPending = 512,
): RequestTap & { flush(): Promise<void>; dropped(): number } {
  // Captures hold whole events (object specs, messages): readable by this process's user only.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let seq = 0;
  let pending = 0;
  let dropped = 0;
  let waiters: (() => void)[] = [];
  const files: string[] = readdirSync(dir)
    .filter((f) => f.endsWith('.capture.json'))
    .sort();
  const writing = new Set<string>();
  const dropAfterWrite = new Set<string>();
  const settle = () => {
    if (pending === 0) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  };
  const remove = (name: string) => {
    pending++;
    unlink(join(dir, name), () => {
      pending--;
      settle();
    });
  };
  const tap = (req: { path: string; headers: Record<string, string>; body: string; receivedAt: Date }) => {
    if (pending >= maxPending) {
      if (dropped++ % 1000 === 0)
        log.warn('recording dropped: too many writes in flight', { dir, inFlight: pending, dropped });
      return;
    }
    const name = `${req.receivedAt.getTime().toString().padStart(14, '0')}-${process.pid}-${String(seq++).padStart(6, '0')}.capture.json`;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = isSecretHeader(k) ? '[redacted]' : v;
    const capture: Capture = { path: req.path, receivedAt: req.receivedAt.toISOString(), headers, body: req.body };
    pending++;
    writing.add(name);
    files.push(name);
    while (files.length > max) {
      const old = files.shift()!;
      if (writing.has(old)) dropAfterWrite.add(old);
      else remove(old);
    }
    writeFile(join(dir, name), JSON.stringify(capture), { mode: 0o600 }, (e) => {
      if (e) log.warn('recording not written', { file: name, error: e.message });
      writing.delete(name);
      if (dropAfterWrite.delete(name)) remove(name);
      pending--;
      settle();
    });
  };
  return Object.assign(tap, {
    flush: () => (pending === 0 ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    dropped: () => dropped,
  });
}
