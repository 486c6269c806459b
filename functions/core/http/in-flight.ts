/**
 * The one count of events being handled in this process, shared by the HTTP routes and the local
 * broker's in-process deliveries (RG_MAX_IN_FLIGHT): a route that finds it full answers 503 at once
 * (the sender redelivers), an in-process delivery waits its turn (first come, first served), so a
 * flood through the local broker's ingress never runs more handlers at once than a flood over HTTP.
 */
export interface InFlight {
  readonly max: number;
  /** Handlers running now. */
  readonly running: number;
  /** In-process deliveries waiting for a turn. */
  readonly waiting: number;
  /** Takes a turn if one is free; false when full. */
  tryEnter(): boolean;
  /** Waits for a turn. */
  enter(): Promise<void>;
  /** Gives a turn back (to the longest waiter, if any). */
  leave(): void;
}

export function createInFlight(max = Number.POSITIVE_INFINITY): InFlight {
  let running = 0;
  const queue: (() => void)[] = [];
  return {
    max,
    get running() {
      return running;
    },
    get waiting() {
      return queue.length;
    },
    tryEnter() {
      // Waiters go first: a route never jumps the queue of in-process deliveries.
      if (running >= max || queue.length) return false;
      running++;
      return true;
    },
    enter() {
      if (running < max && !queue.length) {
        running++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => queue.push(resolve));
    },
    leave() {
      const next = queue.shift();
      // The turn passes straight to the next waiter: running stays the same.
      if (next) next();
      else running--;
    },
  };
}
