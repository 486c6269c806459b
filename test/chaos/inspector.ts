/**
 * A replica's live heap, read through its inspector (the replicas of the chaos topology run with
 * `--inspect=127.0.0.1:<port>`; production pods do not): a full garbage collection first, so what
 * is measured is what the process still holds, not garbage V8 has not collected yet.
 */

/** What a replica holds after a full GC (kB), and its process figures at that moment. */
export interface HeapAfterGc {
  at: number;
  /** V8's live heap after the GC */
  usedKb: number;
  /** V8's committed heap */
  totalKb: number;
  rssKb: number;
  externalKb: number;
  arrayBuffersKb: number;
}

interface Message {
  id?: number;
  result?: { result?: { value?: unknown }; usedSize?: number; totalSize?: number };
  error?: { message: string };
}

/** The inspector's WebSocket URL of the process listening on this port, or null. */
export async function inspectorUrl(port: number, timeoutMs = 5000): Promise<string | null> {
  const list = (await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(timeoutMs) })
    .then((r) => r.json())
    .catch(() => null)) as { webSocketDebuggerUrl?: string }[] | null;
  return list?.[0]?.webSocketDebuggerUrl ?? null;
}

/**
 * Runs inspector commands in order over one connection and returns their results. Bounded: the
 * whole exchange must end within timeoutMs.
 */
async function session(url: string, commands: { method: string; params?: object }[], timeoutMs: number) {
  const ws = new WebSocket(url);
  const results: Message['result'][] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`inspector ${url}: no answer within ${timeoutMs} ms`)), timeoutMs);
      let next = 0;
      const send = () => ws.send(JSON.stringify({ id: next + 1, ...commands[next] }));
      ws.onopen = send;
      ws.onerror = () => {
        clearTimeout(t);
        reject(new Error(`inspector ${url}: connection failed`));
      };
      ws.onmessage = (e) => {
        const m = JSON.parse(String(e.data)) as Message;
        if (m.id !== next + 1) return; // an event, not our answer
        if (m.error) {
          clearTimeout(t);
          reject(new Error(`inspector ${commands[next]!.method}: ${m.error.message}`));
          return;
        }
        results.push(m.result);
        if (++next === commands.length) {
          clearTimeout(t);
          resolve();
        } else send();
      };
    });
  } finally {
    ws.close();
  }
  return results;
}

/** Two full GCs (the second collects what the first's finalizers let go), then the live heap. */
export async function heapAfterGc(port: number, timeoutMs = 20_000): Promise<HeapAfterGc | null> {
  const url = await inspectorUrl(port);
  if (!url) return null;
  const r = await session(
    url,
    [
      { method: 'HeapProfiler.collectGarbage' },
      { method: 'HeapProfiler.collectGarbage' },
      { method: 'Runtime.getHeapUsage' },
      {
        method: 'Runtime.evaluate',
        params: { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true },
      },
    ],
    timeoutMs,
  ).catch(() => null);
  if (!r) return null;
  const mem = JSON.parse(String(r[3]?.result?.value ?? '{}')) as Partial<NodeJS.MemoryUsage>;
  const kb = (n: number | undefined) => Math.round((n ?? 0) / 1024);
  return {
    at: Date.now(),
    usedKb: kb(r[2]?.usedSize),
    totalKb: kb(r[2]?.totalSize),
    rssKb: kb(mem.rss),
    externalKb: kb(mem.external),
    arrayBuffersKb: kb(mem.arrayBuffers),
  };
}
