#!/usr/bin/env node
/**
 * restore-guard-replay: feeds recorded CloudEvents through restore-guard and shows, step by step,
 * what it decided and wrote (or would write). See `--help`.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatReport, jsonReport } from './format.ts';
import { replay } from './run.ts';
import { DEFAULT_WINDOW_MS } from './order.ts';
import { renderSvg } from './svg.ts';
import type { Mode, ReplayOptions, Report } from './report.ts';
import { UsageError } from './report.ts';
import { visible, visibleJson } from '../shared/escape.ts';

export const USAGE = `Usage: npm run replay -- [options] <files or folders>...
       restore-guard-replay [options] <files or folders>...

Replays recorded CloudEvents through restore-guard and prints a timeline (time, event, function,
decision, writes) and the end state per group (pods and nodes, anchors, records on Jobs and PVCs,
retries).

Inputs (any mix; folders are read recursively, *.json, *.jsonl, *.ndjson):
  raw captures as the server's recorder writes them (RG_RECORD_DIR), structured CloudEvents (one
  per file, an array, or a batch), JSON Lines, and Kubernetes objects (kubectl get -o json, or
  {"observedAt": time, "object": {...}}) that only feed the offline view (a Restore, a PVC).
  Items are replayed in recorded order (the capture's receivedAt, else the event's time).

Where to:
  (default)         offline: the whole chain in this process with the local broker (Triggers from
                    eventing/); reads are answered from the objects the events carry; no cluster,
                    nothing waits (backoff advances a virtual clock that follows the recording)
  --target URL      POST each event in binary mode to a running server or broker
  --cluster         run the chain here against the cluster of KUBECONFIG: dry-run (writes are
                    shown, not made) unless --apply
  --apply           with --cluster: make the writes

Options:
  --pace            keep the recorded pacing (wait between events); --speed N to go N times faster
  --dup N           deliver every event N times in all (redelivery)
  --shuffle SEED    deliver late and out of order (seeded): every delivery is late by a random
                    delay of up to --window MS (default 1000), so events (and their --dup copies)
                    overtake each other; never earlier than recorded. The offline view follows the
                    recording's clock, so late events meet the newer world, as in a cluster
  --only LIST       run only these functions, e.g. --only completion,labeling
  --with-replies    also deliver events restore-guard itself produced (dropped by default: the
                    chain makes them again)
  --eventing DIR    Trigger manifests (default RG_EVENTING_DIR, else the project's eventing/)
  --json            print the report as JSON
  --svg FILE        draw the replay as a timeline per node (restore pods, anchors, failures, retries)
  --fail-fast       stop at the first input that cannot be read (default: report it, go on)
  --keep-going      go on past unreadable inputs (the default)
  --verbose         the functions' own log lines on stderr
  -h, --help

The functions' configuration comes from the environment (RG_*), as for the server.
Exit status: 1 when any function answered an error (status >= 400), else 2 when some input could
not be read or the command line is wrong, else 0.
`;

export interface Cli {
  options: ReplayOptions;
  json: boolean;
  svg: string | null;
  verbose: boolean;
  help: boolean;
}

const positiveInt = (name: string, v: string | undefined, def: number): number => {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${name} takes a whole number of 1 or more, not ${JSON.stringify(v)}`);
  return n;
};

const OPTIONS = {
  target: { type: 'string' },
  cluster: { type: 'boolean' },
  apply: { type: 'boolean' },
  pace: { type: 'boolean' },
  speed: { type: 'string' },
  dup: { type: 'string' },
  shuffle: { type: 'string' },
  window: { type: 'string' },
  only: { type: 'string' },
  'with-replies': { type: 'boolean' },
  eventing: { type: 'string' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
  'fail-fast': { type: 'boolean' },
  'keep-going': { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const parseArgsOf = (argv: string[]) =>
  parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });

/** Parses the command line. Throws UsageError with what is wrong. */
export function parseCli(argv: string[], env: Record<string, string | undefined> = process.env): Cli {
  let parsed: ReturnType<typeof parseArgsOf>;
  try {
    parsed = parseArgsOf(argv);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  const help = !!v.help;
  if (!help && parsed.positionals.length === 0)
    throw new UsageError('no recordings given: name files or folders to replay');
  if (v.target && v.cluster)
    throw new UsageError('--target and --cluster exclude each other: send to a server, or run here against a cluster');
  if (v.apply && !v.cluster) throw new UsageError('--apply only goes with --cluster');
  if (v['fail-fast'] && v['keep-going']) throw new UsageError('--fail-fast and --keep-going exclude each other');
  if (v.target) {
    try {
      const u = new URL(v.target);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw new UsageError(`--target takes an http(s) URL, not ${JSON.stringify(v.target)}`);
    }
  }
  const speed = v.speed === undefined ? 1 : Number(v.speed);
  if (!(speed > 0)) throw new UsageError(`--speed takes a number above 0, not ${JSON.stringify(v.speed)}`);
  if (v.shuffle !== undefined && v.shuffle === '') throw new UsageError('--shuffle takes a seed, e.g. --shuffle 42');
  if (v.window !== undefined && v.shuffle === undefined) throw new UsageError('--window only goes with --shuffle');
  const mode: Mode = v.target ? 'target' : v.cluster ? 'cluster' : 'offline';
  const only = v.only
    ? v.only
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : null;
  return {
    options: {
      paths: parsed.positionals,
      mode,
      ...(v.target ? { target: v.target } : {}),
      apply: !!v.apply,
      pace: !!v.pace,
      speed,
      dup: positiveInt('--dup', v.dup, 1),
      shuffleSeed: v.shuffle ?? null,
      windowMs: positiveInt('--window', v.window, DEFAULT_WINDOW_MS),
      only,
      withReplies: !!v['with-replies'],
      failFast: !!v['fail-fast'],
      ...(v.eventing ? { eventingDir: v.eventing } : {}),
      env,
    },
    json: !!v.json,
    svg: v.svg ?? null,
    verbose: !!v.verbose,
    help,
  };
}

export function exitCode(r: Report): number {
  if (r.errors > 0) return 1;
  if (r.problems.length > 0) return 2;
  return 0;
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[], io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let cli: Cli;
  try {
    cli = parseCli(argv);
  } catch (e) {
    io.stderr.write(`restore-guard-replay: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (cli.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const tty = !!(io.stderr as { isTTY?: boolean }).isTTY;
  let last = 0;
  const progress = (done: number, total: number) => {
    if (total < 200) return;
    const nowT = Date.now();
    if (tty) {
      if (done === total || nowT - last > 200) {
        last = nowT;
        io.stderr.write(
          `\rreplaying ${done}/${total} (${Math.floor((done / total) * 100)}%)${done === total ? '\n' : ''}`,
        );
      }
    } else if (done === total || Math.floor((done * 10) / total) !== Math.floor(((done - 1) * 10) / total)) {
      io.stderr.write(`replaying ${done}/${total}\n`);
    }
  };
  try {
    const report = await replay({
      ...cli.options,
      onProgress: progress,
      ...(cli.verbose ? { onLog: (l: string) => io.stderr.write(`${visibleJson(l)}\n`) } : {}),
    });
    // Recordings are untrusted text: no control character reaches the terminal raw (escape.ts).
    io.stdout.write(
      cli.json ? `${visibleJson(JSON.stringify(jsonReport(report), null, 2))}\n` : visible(formatReport(report)),
    );
    if (cli.svg) {
      writeFileSync(cli.svg, renderSvg(report));
      if (!cli.json) io.stdout.write(`picture: ${cli.svg}\n`);
    }
    return exitCode(report);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`restore-guard-replay: ${e.message}\n`);
      return 2;
    }
    const err = e as Error & { hint?: string };
    io.stderr.write(visible(`restore-guard-replay: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ''}\n`));
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
