// Runs Knative eventing's ApiServerSource receive adapter out of cluster against the rig.
//
// The adapter (knative.dev/eventing/cmd/apiserver_receive_adapter) reads:
//   --kubeconfig <file>        (flag, from knative.dev/pkg/environment; KUBECONFIG env also works)
//   --disable-ha               (flag: no leader election)
//   K_SINK                     URL the CloudEvents are POSTed to
//   K_SOURCE_CONFIG            JSON of knative.dev/eventing/pkg/adapter/apiserver.Config:
//     { "namespaces": ["ns"], "allNamespaces": false,
//       "resources": [{ "gvr": {"Group":"","Version":"v1","Resource":"pods"}, "selector": "a=b" }],
//       "owner": {"apiVersion": "...", "kind": "..."}?, "mode": "Resource" | "Reference",
//       "filters": [...]?, "failFast": false }
//     (gvr is k8s.io/apimachinery schema.GroupVersionResource, which has no JSON tags, hence
//      the capitalised keys)
//   NAME, NAMESPACE            the source's name/namespace (CloudEvent metrics tags only)
//   K_LOGGING_CONFIG, K_OBSERVABILITY_CONFIG (JSON, default "{}")
// It always serves health probes on :8080 (knative.dev/pkg injection.HealthCheckDefaultPort,
// not configurable); when the port is taken that server fails quietly and the adapter still
// works, so several adapters may run at once, but nothing else should rely on :8080.
// Event types: dev.knative.apiserver.resource.{add,update,delete} (mode Resource, data = the
// whole object) or dev.knative.apiserver.ref.{add,update,delete} (mode Reference).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN_DIR, LOG_DIR } from './paths.ts';
import { readState } from './rig.ts';
import { sleep } from './http.ts';

export interface AdapterResource {
  /** API group, "" for core (default "") */
  group?: string;
  /** API version, e.g. "v1" */
  version: string;
  /** plural resource name, e.g. "pods", "jobs" */
  resource: string;
  /** label selector, e.g. "app=restore" */
  selector?: string;
}

export interface AdapterOptions {
  /** URL the adapter POSTs CloudEvents to (binary mode HTTP) */
  sink: string;
  /** namespaces to watch; omitted or empty = all namespaces */
  namespaces?: string[];
  resources: AdapterResource[];
  /** "Resource" (default: data is the whole object) or "Reference" */
  mode?: 'Resource' | 'Reference';
  /** kubeconfig the adapter uses (default: the rig's admin kubeconfig) */
  kubeconfig?: string;
  /** source name (NAME env), default "rig-adapter" */
  name?: string;
  /** extra environment for the adapter process */
  env?: Record<string, string>;
}

export interface AdapterHandle {
  pid: number;
  logFile: string;
  /** the K_SOURCE_CONFIG JSON given to the adapter */
  config: unknown;
  /** resolves once the adapter logged that its watches are starting */
  ready: Promise<void>;
  /** SIGTERM (then SIGKILL after 5 s); resolves when the process has exited */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
let counter = 0;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of running) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

export function sourceConfig(opts: AdapterOptions): unknown {
  const namespaces = opts.namespaces ?? [];
  return {
    namespaces,
    allNamespaces: namespaces.length === 0,
    resources: opts.resources.map((r) => ({
      gvr: { Group: r.group ?? '', Version: r.version, Resource: r.resource },
      ...(r.selector ? { selector: r.selector } : {}),
    })),
    mode: opts.mode ?? 'Resource',
    failFast: false,
  };
}

/** Starts an adapter process. Stop it with handle.stop(); it is killed when this process exits. */
export function startAdapter(opts: AdapterOptions): AdapterHandle {
  const state = readState();
  if (!state) throw new Error('rig is not up (call ensureRig() first)');
  const bin = path.join(BIN_DIR, 'apiserver_receive_adapter');
  if (!fs.existsSync(bin)) throw new Error(`${bin} missing (run npm run rig:build)`);
  installExitHook();
  const config = sourceConfig(opts);
  const name = opts.name ?? 'rig-adapter';
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `adapter-${process.pid}-${++counter}.log`);
  const fd = fs.openSync(logFile, 'w');
  const child = spawn(bin, [`--kubeconfig=${opts.kubeconfig ?? state.adminKubeconfig}`, '--disable-ha'], {
    stdio: ['ignore', fd, fd],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      K_SINK: opts.sink,
      K_SOURCE_CONFIG: JSON.stringify(config),
      NAME: name,
      NAMESPACE: opts.namespaces?.[0] ?? 'default',
      K_LOGGING_CONFIG: '{}',
      K_OBSERVABILITY_CONFIG: '{}',
      ...opts.env,
    },
  });
  fs.closeSync(fd);
  if (!child.pid) throw new Error('could not start apiserver_receive_adapter');
  running.add(child);
  let exited = false;
  const exitedP = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    }),
  );
  const ready = (async () => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`adapter exited early; see ${logFile}`);
      const text = fs.readFileSync(logFile, 'utf8');
      if (text.includes('Starting in resilient mode') || text.includes('Starting in fail-fast mode')) return;
      await sleep(100);
    }
    throw new Error(`adapter not ready after 30 s; see ${logFile}`);
  })();
  ready.catch(() => {
    /* surfaced to whoever awaits it */
  });
  return {
    pid: child.pid,
    logFile,
    config,
    ready,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, 5000);
      await exitedP;
      clearTimeout(t);
    },
  };
}
