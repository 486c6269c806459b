#!/usr/bin/env node
/**
 * restore-guard-status: what restore-guard is doing right now, read from the cluster of your
 * kubeconfig: the restore groups in flight per namespace, their members, nodes, states, reasons,
 * attempts, anchors and their age, and the outcome records. See `--help`.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Cluster } from '../../functions/core/kube/cluster.ts';
import { connectCluster } from '../../functions/core/kube/rest-cluster.ts';
import { loadConfig } from '../../functions/core/config.ts';
import { ClusterRequestError, ClusterUnavailableError, TransientClusterError } from '../../functions/core/errors.ts';
import { keys } from '../../functions/core/restore/keys.ts';
import { createSelector } from '../../functions/core/restore/selection.ts';
import { isNamespaceName } from '../../functions/core/kube/names.ts';
import { renderTimelineSvg } from '../shared/timeline-svg.ts';
import { buildStatus, toTimeline, type StatusReport } from './model.ts';
import { formatStatus, jsonStatus, shownGroups } from './format.ts';
import { readSnapshot } from './read.ts';

export const USAGE = `Usage: npm run status -- [options]
       restore-guard-status [options]

Shows what restore-guard is doing now, from the cluster of your kubeconfig: the restore groups in
flight per namespace, each member (restore pod) with its node, phase, restore-guard state, reason
and attempt, the anchors that hold its node (age, lease left), the outcome records on pods, Jobs and
PVCs, and retries. Read-only (list pods and jobs, get persistentvolumeclaims).

Options:
  --kubeconfig FILE   the kubeconfig (default: KUBECONFIG, else ~/.kube/config, else in-cluster)
  -n, --namespace NS  one namespace (default: all namespaces)
  --all               show done groups too (default: groups in flight only)
  --json              print the status as JSON (with --watch: one JSON document per line, on change)
  --svg FILE          draw the groups as a timeline per node (as replay --svg does), from the live
                      pods, anchors and Jobs; with --watch, redrawn on change
  --watch             redraw as things change (polls every --interval seconds; Ctrl-C ends it)
  --interval S        seconds between polls with --watch (default 2, at least 0.5)
  --count N           with --watch: stop after N redraws
  -h, --help

RG_DOMAIN and RG_PROFILES must match the deployment's (defaults: restoreguard.dev, kubeblocks,generic).
Exit status: 0 when read, 1 when the cluster could not be read, 2 when the command line is wrong.
`;

class UsageError extends Error {}

export interface StatusCli {
  kubeconfig: string | undefined;
  namespace: string | null;
  all: boolean;
  json: boolean;
  svg: string | null;
  watch: boolean;
  intervalMs: number;
  count: number | null;
  help: boolean;
}

const OPTIONS = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
  watch: { type: 'boolean' },
  interval: { type: 'string' },
  count: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseStatusCli(argv: string[], env: Record<string, string | undefined> = process.env): StatusCli {
  let v: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: false }>>['values'];
  try {
    v = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (v.namespace !== undefined && !isNamespaceName(v.namespace))
    throw new UsageError(`--namespace takes a namespace name, not ${JSON.stringify(v.namespace)}`);
  const interval = v.interval === undefined ? 2 : Number(v.interval);
  if (!(interval >= 0.5))
    throw new UsageError(`--interval takes seconds, 0.5 or more, not ${JSON.stringify(v.interval)}`);
  if (v.interval !== undefined && !v.watch) throw new UsageError('--interval only goes with --watch');
  const count = v.count === undefined ? null : Number(v.count);
  if (count !== null && !(Number.isInteger(count) && count >= 1))
    throw new UsageError(`--count takes a whole number of 1 or more, not ${JSON.stringify(v.count)}`);
  if (count !== null && !v.watch) throw new UsageError('--count only goes with --watch');
  // KUBECONFIG may list several files (kubectl merges them); status reads the first.
  const fromEnv = env.KUBECONFIG?.split(':').find(Boolean);
  return {
    kubeconfig: v.kubeconfig ?? fromEnv,
    namespace: v.namespace ?? null,
    all: !!v.all,
    json: !!v.json,
    svg: v.svg ?? null,
    watch: !!v.watch,
    intervalMs: interval * 1000,
    count,
    help: !!v.help,
  };
}

/** What went wrong reading the cluster, and what to do next; `fatal` ends a --watch too. */
export function explain(
  e: unknown,
  cli: Pick<StatusCli, 'kubeconfig' | 'namespace'>,
): { text: string; fatal: boolean } {
  const where = cli.namespace ? `in namespace ${cli.namespace}` : 'in all namespaces';
  const msg = (e as Error).message ?? String(e);
  if (e instanceof ClusterUnavailableError)
    return {
      fatal: true,
      text: `${msg}\n  hint: set KUBECONFIG or pass --kubeconfig FILE (the kubeconfig kubectl uses), or run in a cluster with a ServiceAccount`,
    };
  if (e instanceof TransientClusterError)
    return {
      fatal: false,
      text: `${msg}\n  hint: check that the cluster is up and that the kubeconfig (${cli.kubeconfig ?? '~/.kube/config'}) names the right server and context: kubectl cluster-info`,
    };
  if (e instanceof ClusterRequestError) {
    const status = (e.details as { status?: number } | undefined)?.status;
    if (status === 403)
      return {
        fatal: true,
        text: `forbidden: ${msg}\n  hint: status needs list on pods and jobs and get on persistentvolumeclaims ${where}; check with kubectl auth can-i list pods${cli.namespace ? ` -n ${cli.namespace}` : ' -A'}, or pass --namespace NS of a namespace you may read`,
      };
    if (status === 401)
      return {
        fatal: true,
        text: `unauthorized: ${msg}\n  hint: the kubeconfig's credentials were refused (expired token or certificate?): log in again, then retry`,
      };
    return { fatal: true, text: `${msg}\n  hint: see the API server's message` };
  }
  return { fatal: true, text: msg };
}

export interface StatusDeps {
  connect?: (kubeconfig: string | undefined) => Promise<Cluster>;
  env?: Record<string, string | undefined>;
  now?: () => number;
  /** Ends --watch (Ctrl-C does it in a terminal). */
  signal?: AbortSignal;
}

interface Io {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown };
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** What changed, ignoring the clock (ages and leases move every second). */
function changeKey(r: StatusReport, all: boolean): string {
  return JSON.stringify(
    shownGroups(r, { all }).map((g) => ({
      ...g,
      members: g.members.map((m) => ({
        ...m,
        anchors: m.anchors.map((a) => ({ ...a, ageSeconds: 0, leaseLeftSeconds: 0 })),
      })),
      orphanAnchors: g.orphanAnchors.map((a) => ({ ...a, ageSeconds: 0, leaseLeftSeconds: 0 })),
    })),
  );
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[], io: Io = process, deps: StatusDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  let cli: StatusCli;
  try {
    cli = parseStatusCli(argv, env);
  } catch (e) {
    io.stderr.write(`restore-guard-status: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (cli.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  let cfg: ReturnType<typeof loadConfig>;
  try {
    cfg = loadConfig(env);
  } catch (e) {
    io.stderr.write(`restore-guard-status: ${(e as Error).message}\n  hint: fix the RG_* variable named above\n`);
    return 2;
  }
  const selector = createSelector(cfg);
  const k = keys(cfg.RG_DOMAIN);
  const now = deps.now ?? Date.now;
  const source = `kubeconfig ${cli.kubeconfig ?? '(default)'}`;
  const connect = deps.connect ?? ((path) => connectCluster(path));

  let cluster: Cluster;
  try {
    cluster = await connect(cli.kubeconfig);
  } catch (e) {
    io.stderr.write(`restore-guard-status: ${explain(e, cli).text}\n`);
    return 1;
  }

  const read = async () =>
    buildStatus(await readSnapshot(cluster, selector, k, cli.namespace, source, now), selector, k);
  const emit = (r: StatusReport, redraw: boolean) => {
    if (cli.json) io.stdout.write(`${JSON.stringify(jsonStatus(r, cli), null, cli.watch ? 0 : 2)}\n`);
    else io.stdout.write(`${redraw ? '\x1b[H\x1b[2J' : ''}${formatStatus(r, cli)}`);
    if (cli.svg) {
      writeFileSync(cli.svg, renderTimelineSvg(toTimeline(r, shownGroups(r, cli))));
      if (!cli.json && !cli.watch) io.stdout.write(`picture: ${cli.svg}\n`);
    }
  };

  if (!cli.watch) {
    try {
      emit(await read(), false);
      return 0;
    } catch (e) {
      io.stderr.write(`restore-guard-status: ${explain(e, cli).text}\n`);
      return 1;
    }
  }

  // --watch: poll, redraw when something changed (in a terminal: every poll, ages move), stop on
  // Ctrl-C, after --count redraws, or on an error that waiting does not cure.
  const ac = new AbortController();
  const signal = deps.signal ?? ac.signal;
  const onSigint = () => ac.abort();
  if (!deps.signal) process.once('SIGINT', onSigint);
  const tty = !!io.stdout.isTTY && !cli.json;
  let last = '';
  let draws = 0;
  let wait = cli.intervalMs;
  try {
    while (!signal.aborted) {
      try {
        const r = await read();
        wait = cli.intervalMs;
        const key = changeKey(r, cli.all);
        if (tty || key !== last) {
          if (!tty && draws > 0 && !cli.json) io.stdout.write('\n');
          emit(r, tty);
          last = key;
          draws++;
          if (cli.count !== null && draws >= cli.count) break;
        }
      } catch (e) {
        const { text, fatal } = explain(e, cli);
        io.stderr.write(`restore-guard-status: ${text}\n`);
        if (fatal) return 1;
        wait = Math.min(wait * 2, 30_000); // unreachable: back off, keep watching
        io.stderr.write(`restore-guard-status: trying again in ${wait / 1000} s (Ctrl-C to stop)\n`);
      }
      await sleep(wait, signal);
    }
    return 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
