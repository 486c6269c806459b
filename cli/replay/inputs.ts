import { lstatSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { parseCloudEvent } from '../../functions/core/http/cloudevent.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';

/**
 * What a replay reads. Each file may hold, one or many:
 * - raw captures as the recorder writes them (`{path, receivedAt, headers, body}`; the body may be a
 *   batch, `application/cloudevents-batch+json`);
 * - structured CloudEvents (`{specversion, id, source, type, ...}`), one per file, an array (a batch
 *   file), or one per line (JSON Lines);
 * - observations: Kubernetes objects that are not events (`kubectl get -o json` output, a List, or
 *   `{observedAt, object}`), which only feed the offline view of the cluster (a KubeBlocks Restore,
 *   a PVC), because ApiServerSource sends nothing for them.
 */
export interface Recorded {
  kind: 'event';
  event: CloudEvent;
  /** When the recorder received it (captures only). */
  receivedAt: number | null;
  /** The route the capture was taken on. */
  path: string | null;
  origin: Origin;
}
export interface Observation {
  kind: 'observation';
  object: KubeObject;
  observedAt: number | null;
  origin: Origin;
}
export type Item = Recorded | Observation;

export interface Origin {
  file: string;
  line: number;
  /** Position in the file (0-based), for stable ordering. */
  index: number;
}

/** An input that could not be read: which file, which line, what was wrong, what was expected. */
export interface InputProblem {
  file: string;
  line: number | null;
  message: string;
  expected: string;
}

export class InputError extends Error {
  readonly problem: InputProblem;
  constructor(p: InputProblem) {
    super(formatProblem(p));
    this.problem = p;
  }
}

export function formatProblem(p: InputProblem): string {
  return `${p.file}${p.line !== null ? `:${p.line}` : ''}: ${p.message}; expected ${p.expected}`;
}

const EXPECT_ITEM =
  'a raw capture {path, receivedAt, headers, body}, a structured CloudEvent {specversion, id, source, type, ...} or a Kubernetes object {kind, metadata}';
const EXPECT_FILE = `JSON (one value or an array) or JSON Lines, each value ${EXPECT_ITEM}`;
const READABLE = /\.(json|jsonl|ndjson)$/i;

/**
 * Expands folders (recursively, sorted) into the readable files under them. Paths given by name are
 * followed wherever they point; inside a folder, a link is followed only to a file within that folder
 * (a capture folder must not make the replay read, say, ~/.kube/config), and links to folders are not
 * followed at all (no loops, no file read twice): each is reported.
 */
export function expandPaths(paths: string[], problems: InputProblem[]): string[] {
  const out: string[] = [];
  const unreadable = (p: string, e: unknown) =>
    problems.push({
      file: p,
      line: null,
      message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      expected: 'an existing file or folder',
    });
  const walk = (p: string, root: string | null) => {
    let st: ReturnType<typeof statSync>;
    try {
      st = root === null ? statSync(p) : lstatSync(p);
    } catch (e) {
      unreadable(p, e);
      return;
    }
    if (st.isSymbolicLink()) {
      let real: string;
      let target: ReturnType<typeof statSync>;
      try {
        real = realpathSync(p);
        target = statSync(real);
      } catch (e) {
        unreadable(p, e);
        return;
      }
      const link = (message: string) =>
        problems.push({ file: p, line: null, message, expected: 'files inside the folder, or a path given by name' });
      if (target.isDirectory()) link(`a link to the folder ${real}: not followed`);
      else if (!`${real}${sep}`.startsWith(`${root}${sep}`) || real === root)
        link(`a link to ${real}, outside ${root}: not read`);
      else if (READABLE.test(p)) out.push(p);
      return;
    }
    if (st.isDirectory()) {
      const inside = root ?? realpathSync(p);
      for (const f of readdirSync(p).sort()) if (!f.startsWith('.')) walk(join(p, f), inside);
    } else if (root === null || READABLE.test(p)) out.push(p);
  };
  for (const p of paths) walk(p, null);
  return out;
}

/** Deeper than any Kubernetes object or CloudEvent nests (the API server's own JSON limit is 10,000). */
export const MAX_DEPTH = 512;

/** Whether a JSON value nests deeper than `limit` (arrays and objects), walked without recursion. */
export function depthOver(v: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d >= limit) return true;
    for (const y of Array.isArray(x) ? x : Object.values(x))
      if (y !== null && typeof y === 'object') stack.push([y, d + 1]);
  }
  return false;
}

/** Line (1-based) of a character offset. */
function lineAt(text: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** Offsets where each element of a top-level JSON array starts (the text is known to be valid JSON). */
function arrayElementOffsets(text: string): number[] {
  const out: number[] = [];
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
    if (expectElement && depth === 1 && c !== ']') {
      out.push(i);
      expectElement = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1 && c === '[') expectElement = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectElement = true;
  }
  return out;
}

/** The line a JSON.parse error points at, from V8's "position N" message. */
function jsonErrorLine(text: string, e: Error): number | null {
  const m = e.message.match(/position (\d+)/);
  if (m) return lineAt(text, Number(m[1]));
  const l = e.message.match(/line (\d+)/);
  if (l) return Number(l[1]);
  return /end of JSON input/i.test(e.message) ? lineAt(text, text.trimEnd().length) : null;
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function structured(o: Record<string, unknown>): CloudEvent {
  return parseCloudEvent({ headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(o) });
}

/** Classifies one JSON value; pushes what it holds, or throws InputError. */
function classify(v: unknown, origin: Origin, out: Item[]): void {
  const fail: (message: string, expected?: string) => never = (message, expected = EXPECT_ITEM) => {
    throw new InputError({ file: origin.file, line: origin.line, message, expected });
  };
  if (!isObj(v)) fail(`found ${Array.isArray(v) ? 'a nested array' : (JSON.stringify(v)?.slice(0, 40) ?? typeof v)}`);
  // A raw capture, as the recorder writes it.
  if ('headers' in v && 'body' in v) {
    if (!isObj(v.headers)) fail('capture headers are not an object', 'headers as an object of strings');
    if (typeof v.body !== 'string') fail('capture body is not a string', 'the raw request body as a string');
    const receivedAt = typeof v.receivedAt === 'string' ? Date.parse(v.receivedAt) : NaN;
    if (v.receivedAt !== undefined && !Number.isFinite(receivedAt))
      fail(`capture receivedAt ${JSON.stringify(v.receivedAt)} is not a time`, 'receivedAt as an RFC 3339 time');
    const headers = Object.fromEntries(
      Object.entries(v.headers as Record<string, unknown>).map(([k, x]) => [k.toLowerCase(), String(x)]),
    );
    const path = typeof v.path === 'string' ? v.path : null;
    const at = Number.isFinite(receivedAt) ? receivedAt : null;
    const ct = headers['content-type'] ?? '';
    if (/^application\/cloudevents-batch\+json/i.test(ct)) {
      let arr: unknown;
      try {
        arr = JSON.parse(v.body as string);
      } catch (e) {
        fail(`batch body is not JSON: ${(e as Error).message}`, 'a JSON array of structured CloudEvents');
      }
      if (!Array.isArray(arr)) fail('batch body is not an array', 'a JSON array of structured CloudEvents');
      arr.forEach((x, i) => {
        if (!isObj(x)) fail(`batch element ${i} is not an object`, 'structured CloudEvents');
        try {
          out.push({ kind: 'event', event: structured(x), receivedAt: at, path, origin });
        } catch (e) {
          fail(
            `batch element ${i}: ${(e as Error).message}`,
            'structured CloudEvents (specversion "1.0", id, source, type)',
          );
        }
      });
      return;
    }
    try {
      out.push({
        kind: 'event',
        event: parseCloudEvent({ headers, body: v.body as string }),
        receivedAt: at,
        path,
        origin,
      });
    } catch (e) {
      fail(
        `capture is not a CloudEvent: ${(e as Error).message}`,
        'a request in binary mode (ce-* headers) or structured mode (content-type application/cloudevents+json)',
      );
    }
    return;
  }
  if ('specversion' in v) {
    try {
      out.push({ kind: 'event', event: structured(v), receivedAt: null, path: null, origin });
    } catch (e) {
      fail((e as Error).message, 'a structured CloudEvent with specversion "1.0", id, source and type');
    }
    return;
  }
  if ('object' in v && isObj(v.object)) {
    const at = typeof v.observedAt === 'string' ? Date.parse(v.observedAt) : NaN;
    if (!Number.isFinite(at))
      fail(`observedAt ${JSON.stringify(v.observedAt)} is not a time`, 'observedAt as an RFC 3339 time');
    classifyObject(v.object, at, origin, out, fail);
    return;
  }
  if ('kind' in v && 'metadata' in v) {
    classifyObject(v, null, origin, out, fail);
    return;
  }
  if (v.kind === 'List' && Array.isArray(v.items)) {
    classifyObject(v, null, origin, out, fail);
    return;
  }
  fail(`an object with keys ${Object.keys(v).slice(0, 6).join(', ') || '(none)'}`);
}

function classifyObject(
  o: Record<string, unknown>,
  at: number | null,
  origin: Origin,
  out: Item[],
  fail: (m: string, e?: string) => never,
): void {
  if (o.kind === 'List' && Array.isArray(o.items)) {
    for (const x of o.items) if (isObj(x)) classifyObject(x, at, origin, out, fail);
    return;
  }
  const meta = o.metadata as Record<string, unknown> | undefined;
  if (typeof o.kind !== 'string' || !isObj(meta) || typeof meta.name !== 'string')
    fail('Kubernetes object without kind or metadata.name', 'a Kubernetes object with kind and metadata.name');
  out.push({ kind: 'observation', object: o as unknown as KubeObject, observedAt: at, origin });
}

/**
 * Reads one file: the items it could read, and a problem for each thing it could not (a file that
 * is not JSON at all is one problem). With `failFast`, stops at the first problem.
 */
export function readFile(file: string, display = file, failFast = false): { items: Item[]; problems: InputProblem[] } {
  const items: Item[] = [];
  const problems: InputProblem[] = [];
  const one = (p: InputProblem) => ({ items, problems: [...problems, p] });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return one({
      file: display,
      line: null,
      message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      expected: 'a readable file',
    });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '')
    return one({ file: display, line: null, message: 'the file is empty', expected: EXPECT_FILE });
  const attempt = (v: unknown, origin: Origin): boolean => {
    try {
      const before = items.length;
      classify(v, origin, items);
      // A capture nested deeper than any Kubernetes object would overflow the stack of whatever
      // walks it later (cloning, merging, printing) and end the whole replay: it is refused here.
      for (const it of items.slice(before)) {
        const d = depthOver(it.kind === 'event' ? it.event.data : it.object, MAX_DEPTH);
        if (d) {
          items.length = before;
          throw new InputError({
            file: origin.file,
            line: origin.line,
            message: `nested more than ${MAX_DEPTH} levels deep`,
            expected: `${EXPECT_ITEM}, nested at most ${MAX_DEPTH} levels`,
          });
        }
      }
      return true;
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      problems.push(e.problem);
      return !failFast;
    }
  };
  const jsonl = /\.(jsonl|ndjson)$/i.test(file);
  let whole: unknown;
  let wholeError: Error | null = null;
  if (!jsonl) {
    try {
      whole = JSON.parse(text);
    } catch (e) {
      wholeError = e as Error;
    }
  }
  if (!jsonl && !wholeError) {
    if (Array.isArray(whole)) {
      const offsets = arrayElementOffsets(text);
      whole.every((v, i) => attempt(v, { file: display, line: lineAt(text, offsets[i] ?? 0), index: i }));
    } else attempt(whole, { file: display, line: lineAt(text, text.search(/\S/)), index: 0 });
    return { items, problems };
  }
  // JSON Lines (or a .json file that is not one JSON value: it may be JSON Lines).
  const lines = text.split('\n');
  const nonEmpty = lines.filter((l) => l.trim()).length;
  const firstLine = lines.find((l) => l.trim()) ?? '';
  let firstParses = true;
  try {
    JSON.parse(firstLine);
  } catch {
    firstParses = false;
  }
  if (!jsonl && (nonEmpty <= 1 || !firstParses)) {
    return one({
      file: display,
      line: jsonErrorLine(text, wholeError!),
      message: `not valid JSON: ${wholeError!.message}`,
      expected: EXPECT_FILE,
    });
  }
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (!l.trim()) continue;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch (e) {
      const why = jsonl
        ? `not valid JSON: ${(e as Error).message}`
        : `neither one JSON value (${wholeError!.message}) nor JSON Lines (this line: ${(e as Error).message})`;
      problems.push({
        file: display,
        line: i + 1,
        message: why,
        expected: jsonl ? `one JSON value per line, each ${EXPECT_ITEM}` : EXPECT_FILE,
      });
      if (failFast) break;
      continue;
    }
    if (!attempt(v, { file: display, line: i + 1, index: i })) break;
  }
  return { items, problems };
}

export interface ReadResult {
  files: string[];
  items: Item[];
  problems: InputProblem[];
}

/**
 * Reads every file under the given paths. Whatever cannot be read is reported (file, line, what
 * was expected) and skipped; with `failFast`, the first problem ends the read and nothing is kept.
 */
export function readInputs(paths: string[], opts: { failFast: boolean; cwd?: string }): ReadResult {
  const problems: InputProblem[] = [];
  const shown = (f: string) => (opts.cwd ? relative(opts.cwd, f) || f : f);
  const files = expandPaths(paths, problems);
  const items: Item[] = [];
  if (problems.length && opts.failFast) return { files: files.map(shown), items: [], problems: problems.slice(0, 1) };
  for (const f of files) {
    const r = readFile(f, shown(f), opts.failFast);
    items.push(...r.items);
    problems.push(...r.problems);
    if (problems.length && opts.failFast) return { files: files.map(shown), items: [], problems };
  }
  return { files: files.map(shown), items, problems };
}
