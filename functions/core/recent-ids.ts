import { createHash } from 'node:crypto';

/** A fixed-size key for an id of any length (an event id may be as long as the body limit allows). */
const digest = (id: string): string => createHash('sha256').update(id).digest('base64');

/**
 * A bounded memory of recent event ids (insertion-ordered, oldest dropped). It keeps a SHA-256 of
 * each id, never the id itself nor the answer: at most `size` entries of 44 characters, whatever
 * the senders put in their ids.
 */
export class RecentIds {
  private readonly seen = new Set<string>();
  private readonly running = new Map<string, Promise<unknown>>();
  /** Per key: the run in progress, and the one queued to start after it (see latest). */
  private readonly checks = new Map<string, { current: Promise<unknown>; next: Promise<unknown> | null }>();
  private readonly size: number;
  constructor(size: number) {
    this.size = size;
  }
  has(id: string): boolean {
    return this.seen.has(digest(id));
  }
  /**
   * Runs `fn` once for concurrent callers with the same id: the first runs it, the others wait for
   * it and get `repeat` (they are duplicates). The id is remembered only when it succeeded.
   */
  async once<T>(id: string, fn: () => Promise<T>, repeat: T): Promise<T> {
    const key = digest(id);
    if (this.seen.has(key)) return repeat;
    const running = this.running.get(key);
    if (running) {
      await running.catch(() => undefined);
      return repeat;
    }
    const p = fn();
    this.running.set(key, p);
    try {
      const answer = await p;
      this.remember(key);
      return answer;
    } finally {
      this.running.delete(key);
    }
  }
  /**
   * Runs `fn` so that every caller is answered by a run that started after it called, with as few
   * runs as that allows: while a run for `id` is in progress, the first caller queues one more run
   * (started when the current one settles) and gets its answer; callers that find a run already
   * queued wait for it and get `repeat` (it answers them too). A burst of calls costs two runs, not
   * one each: for a level-triggered check of live state (a group's release), where each run reads
   * the cluster afresh, so a later run sees everything an earlier caller was told about. A failed
   * run fails the callers it answers (their events are redelivered).
   */
  async latest<T>(id: string, fn: () => Promise<T>, repeat: T): Promise<T> {
    const key = digest(id);
    const c = this.checks.get(key);
    if (c?.next) {
      await c.next;
      return repeat;
    }
    // Forgotten once a run settles with nothing queued behind it.
    const forget = (entry: { current: Promise<unknown>; next: Promise<unknown> | null }, p: Promise<unknown>) => {
      const done = () => {
        if (this.checks.get(key) === entry && entry.current === p && !entry.next) this.checks.delete(key);
      };
      p.then(done, done);
    };
    if (!c) {
      const p = fn();
      const entry = { current: p as Promise<unknown>, next: null as Promise<unknown> | null };
      this.checks.set(key, entry);
      forget(entry, p);
      return p;
    }
    // Queued behind the run in progress; once it starts it is the current one, and the next caller
    // queues behind it.
    const q: Promise<T> = c.current
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        c.current = q;
        c.next = null;
        return fn();
      });
    c.next = q;
    forget(c, q);
    return q;
  }
  private remember(key: string): void {
    if (this.size === 0) return;
    this.seen.delete(key);
    this.seen.add(key);
    if (this.seen.size > this.size) this.seen.delete(this.seen.values().next().value as string);
  }
}
