/**
 * Structured JSON logs, one object per line, to stdout (or a sink passed in for tests). A line
 * written while an event is handled carries that event's id, type, function, trace id and span id
 * (core/trace.ts), wherever in the code it is written.
 */
import { eventLogFields } from './trace.ts';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  enabled(level: Level): boolean;
}

export type LogSink = (line: string) => void;

export function createLogger(
  opts: {
    level?: Level;
    sink?: LogSink;
    now?: () => Date;
    base?: Record<string, unknown>;
    /** Fields of the current context (default: the event being handled, core/trace.ts). */
    context?: () => Record<string, unknown> | undefined;
  } = {},
): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const sink = opts.sink ?? ((line: string) => process.stdout.write(`${line}\n`));
  const now = opts.now ?? (() => new Date());
  const base = opts.base ?? {};
  const context = opts.context ?? eventLogFields;
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    sink(JSON.stringify({ time: now().toISOString(), level, msg, ...base, ...context(), ...fields }, errorReplacer));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...opts, base: { ...base, ...fields } }),
    enabled: (level) => ORDER[level] >= min,
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, ...('hint' in value && value.hint ? { hint: value.hint } : {}) };
  }
  return value;
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(level: Level = 'debug'): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level, sink: (l) => lines.push(JSON.parse(l)) });
  return Object.assign(logger, { lines });
}
