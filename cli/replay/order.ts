import type { Item } from './inputs.ts';

/** A small seeded PRNG (mulberry32): the same seed gives the same shuffle and the same jitter. */
export function seededRandom(seed: string | number): () => number {
  let h = 1779033703 ^ String(seed).length;
  for (const ch of String(seed)) {
    h = Math.imul(h ^ ch.charCodeAt(0), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** When an item happened by the recording: arrival at the recorder, else the event's own `time`. */
export function recordedTime(it: Item): number | null {
  if (it.kind === 'observation') return it.observedAt;
  if (it.receivedAt !== null) return it.receivedAt;
  const t = it.event.time ? Date.parse(it.event.time) : NaN;
  return Number.isFinite(t) ? t : null;
}

export interface Timed {
  item: Item;
  /** Recorded time; items without one take the time of the item before them in their file. */
  at: number;
}

/**
 * Orders items by recorded time. Ties, and items without a time, keep their place in their file
 * (an item without a time takes the time of the one before it; at the start of a file, the earliest).
 */
export function orderByTime(items: Item[]): Timed[] {
  const times = items.map(recordedTime);
  const known = times.filter((t): t is number => t !== null);
  const earliest = known.length ? Math.min(...known) : 0;
  const lastInFile = new Map<string, number>();
  const timed = items.map((item, i) => {
    const t = times[i] ?? lastInFile.get(item.origin.file) ?? earliest;
    lastInFile.set(item.origin.file, t);
    return { item, at: t, seq: i };
  });
  timed.sort((a, b) => a.at - b.at || a.seq - b.seq);
  return timed.map(({ item, at }) => ({ item, at }));
}

/** One delivery of an event: when it happened by the recording, and when the replay delivers it. */
export interface Delivery {
  item: Extract<Item, { kind: 'event' }>;
  at: number;
  deliverAt: number;
  /** Which copy this is (0 = the first) when events are duplicated. */
  copy: number;
}

/**
 * The deliveries: every event `dup` times in all; with a seed, each copy is late by a random
 * delay of up to `windowMs` and the deliveries go out in the order they arrive. An event is never
 * delivered before it happened (no broker can), but it may come after later events, and its copies
 * far apart: late, twice, out of order.
 */
export function deliveries(
  timed: Timed[],
  opts: { dup?: number; shuffleSeed?: string | null; windowMs?: number },
): Delivery[] {
  const dup = Math.max(1, opts.dup ?? 1);
  const out = timed
    .flatMap((t) => (t.item.kind === 'event' ? [{ item: t.item, at: t.at }] : []))
    .flatMap((t, i) =>
      Array.from({ length: dup }, (_, copy) => ({ ...t, deliverAt: t.at, copy, order: i * dup + copy })),
    );
  if (opts.shuffleSeed !== null && opts.shuffleSeed !== undefined) {
    const random = seededRandom(`shuffle:${opts.shuffleSeed}`);
    const w = opts.windowMs ?? DEFAULT_WINDOW_MS;
    for (const d of out) d.deliverAt = d.at + random() * w;
    out.sort((a, b) => a.deliverAt - b.deliverAt || a.order - b.order);
  }
  return out.map(({ item, at, deliverAt, copy }) => ({ item, at, deliverAt, copy }));
}

/** How late a shuffled delivery may be, by default. */
export const DEFAULT_WINDOW_MS = 1000;
