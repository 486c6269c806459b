/** A bounded memory of recent event ids and their answers (insertion-ordered, oldest dropped). */
export class RecentIds {
  private readonly seen = new Map<string, unknown>();
  private readonly size: number;
  constructor(size: number) {
    this.size = size;
  }
  get(id: string): unknown {
    return this.seen.get(id);
  }
  has(id: string): boolean {
    return this.seen.has(id);
  }
  /**
   * Runs `fn` once for concurrent callers with the same id: the first runs it, the others wait for
   * it and get `repeat` (they are duplicates). The answer is remembered only when it succeeded.
   */
  async once<T>(id: string, fn: () => Promise<T>, repeat: T): Promise<T> {
    if (this.seen.has(id)) return repeat;
    const running = this.running.get(id);
    if (running) {
      await running.catch(() => undefined);
      return repeat;
    }
    const p = fn();
    this.running.set(id, p);
    try {
      const answer = await p;
      this.remember(id, answer);
      return answer;
    } finally {
      this.running.delete(id);
    }
  }
  private readonly running = new Map<string, Promise<unknown>>();
  remember(id: string, answer: unknown): void {
    if (this.size === 0) return;
    this.seen.delete(id);
    this.seen.set(id, answer);
    if (this.seen.size > this.size) this.seen.delete(this.seen.keys().next().value as string);
  }
}
