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
  private remember(key: string): void {
    if (this.size === 0) return;
    this.seen.delete(key);
    this.seen.add(key);
    if (this.seen.size > this.size) this.seen.delete(this.seen.values().next().value as string);
  }
}
