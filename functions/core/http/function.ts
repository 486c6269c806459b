import type { CloudEvent } from './cloudevent.ts';
import { InvalidEventError } from '../errors.ts';
import type * as z from 'zod/mini';

/**
 * One function: a thin pipeline. The route decodes the CloudEvent; `handle` validates its data,
 * decides (pure code), acts (the writes) and answers with a reply event, or null for "nothing to say".
 */
export interface FunctionDef<D = unknown> {
  name: string;
  /** Event types this function takes; anything else is a 400. */
  types: readonly string[];
  handle(event: CloudEvent, deps: D): Promise<CloudEvent | null>;
}

/** Validates event data against a schema, as a 400 with the first problems named. */
export function dataOf<S extends z.ZodMiniType>(schema: S, event: CloudEvent): z.infer<S> {
  const r = schema.safeParse(event.data);
  if (!r.success) {
    const problems = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`);
    throw new InvalidEventError(`event ${event.id} (${event.type}) has invalid data: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  return r.data;
}
