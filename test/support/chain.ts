/**
 * restore-guard's whole chain on the rig's real control plane, for integration tests and benchmarks.
 *
 *   startChain({ mode: 'guard' })  ensureRig(); RBAC from eventing/rbac.yaml; a kubeconfig for the
 *                                  functions' ServiceAccount restore-guard/restore-guard; the server
 *                                  in-process (local broker, RG_NAMESPACES=<test namespace>) on a free
 *                                  loopback port, connected as that ServiceAccount (never admin);
 *                                  Knative's ApiServerSource adapter (as restore-guard-source, the
 *                                  resources and selectors of eventing/apiserversource.yaml) sending
 *                                  to the local broker's ingress.
 *   startChain({ mode: 'plain' })  the same namespace and workload with no restore-guard at all: the
 *                                  baseline arm.
 *
 * Both modes watch the namespace's Pods, Jobs and PVCs (admin) and keep every change with the
 * time it arrived, so tests can assert on pods that are long deleted (where each ran, when it
 * finished) and order writes by resourceVersion.
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer as netServer } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import {
  ANNOTATIONS,
  createNamespace,
  ensureRig,
  saKubeconfig,
  sleep,
  startAdapter,
  waitFor as rigWaitFor,
  type AdapterHandle,
  type AdapterResource,
  type Kube,
  type RigInfo,
} from '../rig/index.ts';
import { loadConfig } from '../../functions/core/config.ts';
import { createLogger } from '../../functions/core/log.ts';
import type { Logger } from '../../functions/core/log.ts';
import { connectCluster } from '../../functions/core/kube/rest-cluster.ts';
import { createServer } from '../../functions/server.ts';
import type { Server } from '../../functions/server.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const EVENTING_DIR = path.join(ROOT, 'eventing');
/** Namespace of restore-guard's own objects (ServiceAccounts), as in eventing/. */
export const RG_NAMESPACE = 'restore-guard';
export const FUNCTIONS_SA = 'restore-guard';
export const SOURCE_SA = 'restore-guard-source';
export const PING_SOURCE = `/apis/v1/namespaces/${RG_NAMESPACE}/pingsources/restore-guard-resync`;

export const DOMAIN = 'restoreguard.dev';
export const L = {
  group: `${DOMAIN}/group`,
  groupSize: `${DOMAIN}/group-size`,
  retry: `${DOMAIN}/retry`,
  state: `${DOMAIN}/state`,
  outcome: `${DOMAIN}/outcome`,
  history: `${DOMAIN}/history`,
  anchorFor: `${DOMAIN}/anchor-for`,
  attempt: `${DOMAIN}/attempt`,
  gate: `${DOMAIN}/placement`,
  kbRestore: 'dataprotection.kubeblocks.io/restore',
  kbManagedBy: 'app.kubernetes.io/managed-by',
  instance: 'app.kubernetes.io/instance',
  stop: ANNOTATIONS.stopRestoreManager,
} as const;

/** Default wait bound for one condition (generous, bounded). */
export const WAIT_MS = 60_000;

/**
 * A PVC bound to a PV of its own (no node affinity): the rig runs no PV controller, and the
 * scheduler's VolumeBinding plugin takes a claim as bound when it names its volume and carries
 * bind-completed. Returns the PV's name (cluster-scoped: the caller deletes it).
 */
export async function createBoundClaim(
  kube: Kube,
  ns: string,
  claim: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const pv = `${ns}-${claim}`;
  await kube.create('/api/v1/persistentvolumes', {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: pv, labels: { 'rig.restoreguard.dev/namespace': ns } },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
      hostPath: { path: `/tmp/rig/${pv}` },
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name: claim },
    },
  });
  await kube.create(`/api/v1/namespaces/${ns}/persistentvolumeclaims`, {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: claim, labels, annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: '',
      volumeName: pv,
    },
  });
  return pv;
}

export function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = WAIT_MS,
  intervalMs = 100,
): Promise<T> {
  return rigWaitFor(what, fn, timeoutMs, intervalMs);
}

// ---------------------------------------------------------------------------------------------
// RBAC and the adapter's resources, from eventing/
// ---------------------------------------------------------------------------------------------

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
};

/**
 * The Node.js options func.yaml gives the Service (its heap ceiling): processes that stand for
 * restore-guard's pods (the chaos suite's replicas, the scale bench) run with them.
 */
export function podNodeOptions(): Record<string, string> {
  const doc = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'func.yaml'), 'utf8'))[0]?.toJS() as
    | { run?: { envs?: { name: string; value: string }[] } }
    | undefined;
  const v = doc?.run?.envs?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  return v ? { NODE_OPTIONS: v } : {};
}

export function readManifests(file: string): Manifest[] {
  return parseAllDocuments(fs.readFileSync(path.join(EVENTING_DIR, file), 'utf8'))
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => !!m && typeof m.kind === 'string');
}

function collection(m: Manifest): string {
  const ns = m.metadata.namespace;
  switch (m.kind) {
    case 'ServiceAccount':
      return `/api/v1/namespaces/${ns}/serviceaccounts`;
    case 'ClusterRole':
      return '/apis/rbac.authorization.k8s.io/v1/clusterroles';
    case 'ClusterRoleBinding':
      return '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings';
    case 'Role':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`;
    case 'RoleBinding':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`;
    case 'ValidatingAdmissionPolicy':
      return '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies';
    case 'ValidatingAdmissionPolicyBinding':
      return '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';
    default:
      throw new Error(`chain: no collection for ${m.kind} in eventing/rbac.yaml or eventing/admission.yaml`);
  }
}

/**
 * Creates (or replaces, so an edited manifest takes effect) every object of eventing/rbac.yaml and
 * eventing/admission.yaml: the functions run under the ValidatingAdmissionPolicies that confine their
 * ServiceAccount in every integration test, so each test also shows its writes are admitted.
 */
export async function applyRbac(kube: Kube): Promise<Manifest[]> {
  await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: RG_NAMESPACE } });
  const docs = [...readManifests('rbac.yaml'), ...readManifests('admission.yaml')];
  for (const m of docs) {
    const coll = collection(m);
    const r = await kube.call('POST', coll, m);
    if (r.status === 409 && m.kind !== 'ServiceAccount') {
      const live = await kube.get(`${coll}/${m.metadata.name}`);
      const body = { ...m, metadata: { ...m.metadata, resourceVersion: live.metadata.resourceVersion } };
      const u = await kube.call('PUT', `${coll}/${m.metadata.name}`, body);
      if (u.status !== 200 && u.status !== 409)
        throw new Error(`PUT ${m.kind} ${m.metadata.name}: HTTP ${u.status}: ${u.text.slice(0, 300)}`);
    } else if (r.status !== 201 && r.status !== 409) {
      throw new Error(`POST ${m.kind} ${m.metadata.name}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    }
  }
  return docs;
}

type Expr = { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] };

/** A LabelSelector ({matchLabels, matchExpressions}) as the string form the adapter takes. */
export function selectorString(
  s: { matchLabels?: Record<string, string>; matchExpressions?: Expr[] } | undefined,
): string {
  const terms: string[] = Object.entries(s?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s?.matchExpressions ?? []) {
    if (e.operator === 'Exists') terms.push(e.key);
    else if (e.operator === 'DoesNotExist') terms.push(`!${e.key}`);
    else terms.push(`${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${(e.values ?? []).join(',')})`);
  }
  return terms.join(',');
}

/**
 * How the rig runs Knative's ApiServerSource adapter for restore-guard: eventing/apiserversource.yaml's
 * resources and mode, over one namespace, into `sink`, as `kubeconfig`'s identity.
 */
export function sourceAdapterOptions(sink: string, namespace: string, kubeconfig: string): AdapterOptions {
  const src = sourceResources();
  return { sink, namespaces: [namespace], resources: src.resources, mode: src.mode, kubeconfig, name: 'restore-guard' };
}
type AdapterOptions = Parameters<typeof startAdapter>[0];

/** The resources (and selectors) of the ApiServerSource in eventing/apiserversource.yaml. */
export function sourceResources(): { resources: AdapterResource[]; mode: 'Resource' | 'Reference' } {
  const src = readManifests('apiserversource.yaml').find((m) => m.kind === 'ApiServerSource');
  if (!src) throw new Error('eventing/apiserversource.yaml has no ApiServerSource');
  const spec = src.spec as {
    mode?: 'Resource' | 'Reference';
    resources: { apiVersion: string; kind: string; selector?: Parameters<typeof selectorString>[0] }[];
  };
  const plural: Record<string, string> = { Pod: 'pods', Job: 'jobs' };
  const resources = spec.resources.map((r) => {
    const [group, version] = r.apiVersion.includes('/')
      ? (r.apiVersion.split('/') as [string, string])
      : ['', r.apiVersion];
    const resource = plural[r.kind];
    if (!resource) throw new Error(`chain: unexpected kind ${r.kind} in the ApiServerSource`);
    const selector = selectorString(r.selector);
    return { group, version, resource, ...(selector ? { selector } : {}) };
  });
  return { resources, mode: spec.mode ?? 'Resource' };
}

// ---------------------------------------------------------------------------------------------
// Observer: every change of the namespace's Pods, Jobs and PVCs, with arrival time
// ---------------------------------------------------------------------------------------------

export interface Change {
  /** ms since epoch when the watch event arrived */
  at: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  rv: number;
  obj: any;
}

export class Observer {
  readonly changes = new Map<string, Change[]>(); // key: kind/name/uid
  private readonly reqs: { destroy(): void }[] = [];
  private stopped = false;
  private readonly listeners = new Set<() => void>();
  readonly kube: Kube;
  readonly ns: string;

  constructor(kube: Kube, ns: string) {
    this.kube = kube;
    this.ns = ns;
  }

  async start(): Promise<void> {
    await Promise.all([
      this.watch('Pod', `/api/v1/namespaces/${this.ns}/pods`),
      this.watch('Job', `/apis/batch/v1/namespaces/${this.ns}/jobs`),
      this.watch('PersistentVolumeClaim', `/api/v1/namespaces/${this.ns}/persistentvolumeclaims`),
    ]);
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.reqs) r.destroy();
  }

  /** Resolves at the next change (or after ms). */
  next(ms = 1000): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.listeners.delete(f);
        resolve();
      }, ms);
      const f = () => {
        clearTimeout(t);
        this.listeners.delete(f);
        resolve();
      };
      this.listeners.add(f);
    });
  }

  private async watch(kind: string, url: string): Promise<void> {
    const list = await this.kube.get(url);
    let rv: string = list.metadata.resourceVersion;
    for (const o of list.items as any[]) this.add(kind, 'ADDED', { ...o, kind });
    const open = (): void => {
      if (this.stopped) return;
      const u = new URL(`${this.kube.server}${url}?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true`);
      const req = https.request(
        {
          hostname: u.hostname,
          port: u.port,
          path: u.pathname + u.search,
          method: 'GET',
          ca: this.kube.creds.ca,
          cert: this.kube.creds.cert,
          key: this.kube.creds.key,
          agent: false,
          headers: { Accept: 'application/json' },
        },
        (res) => {
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              if (!line.trim()) continue;
              const ev = JSON.parse(line) as { type: string; object: any };
              if (ev.type === 'ERROR') {
                rv = '0';
                continue;
              } // too old: relist below
              rv = ev.object?.metadata?.resourceVersion ?? rv;
              if (ev.type === 'BOOKMARK') continue;
              this.add(kind, ev.type as Change['type'], { ...ev.object, kind });
            }
          });
          res.on('end', () => {
            if (!this.stopped) setTimeout(open, 50);
          });
          res.on('error', () => {
            if (!this.stopped) setTimeout(open, 200);
          });
        },
      );
      req.on('error', () => {
        if (!this.stopped) setTimeout(open, 200);
      });
      req.end();
      this.reqs.push(req);
    };
    open();
  }

  private readonly byName = new Map<string, Change>();

  /** The latest change seen of any object of that kind and name (whatever its uid), if any. */
  latest(kind: string, name: string): Change | undefined {
    return this.byName.get(`${kind}/${name}`);
  }

  private add(kind: string, type: Change['type'], obj: any): void {
    const key = `${kind}/${obj.metadata.name}/${obj.metadata.uid}`;
    let list = this.changes.get(key);
    if (!list) {
      list = [];
      this.changes.set(key, list);
    }
    const change: Change = { at: Date.now(), type, rv: Number(obj.metadata.resourceVersion), obj };
    list.push(change);
    this.byName.set(`${kind}/${obj.metadata.name}`, change);
    for (const f of [...this.listeners]) f();
  }

  /** Every object of a kind ever seen: its history, oldest first. */
  histories(kind: string, filter: (o: any) => boolean = () => true): Change[][] {
    return [...this.changes.entries()]
      .filter(([k, v]) => k.startsWith(`${kind}/`) && filter(v[v.length - 1]!.obj))
      .map(([, v]) => v);
  }

  /** The first change of an object's history that satisfies a predicate. */
  static first(h: Change[], pred: (o: any) => boolean): Change | undefined {
    return h.find((c) => pred(c.obj));
  }

  /** Restore pods (not anchors) of a group label value, any profile. */
  groupPods(group: string): Change[][] {
    return this.histories(
      'Pod',
      (o) =>
        !o.metadata.labels?.[L.anchorFor] &&
        (o.metadata.labels?.[L.group] === group || o.metadata.labels?.[L.kbRestore] === group),
    );
  }

  anchors(group?: string): Change[][] {
    return this.histories(
      'Pod',
      (o) => !!o.metadata.labels?.[L.anchorFor] && (!group || o.metadata.labels?.[L.group] === group),
    );
  }
}

/** Time a pod was first seen bound to a node, and where. */
export function placement(h: Change[]): { node: string; at: number } | undefined {
  const c = Observer.first(h, (o) => !!o.spec?.nodeName);
  return c ? { node: c.obj.spec.nodeName, at: c.at } : undefined;
}
export function phaseAt(h: Change[], phase: string): number | undefined {
  return Observer.first(h, (o) => o.status?.phase === phase)?.at;
}
export function containerTerminatedAt(h: Change[], name: string): number | undefined {
  return Observer.first(h, (o) =>
    (o.status?.containerStatuses ?? []).some((c: any) => c.name === name && c.state?.terminated),
  )?.at;
}
export function last(h: Change[]): any {
  return h[h.length - 1]!.obj;
}
export function isGone(h: Change[]): boolean {
  return h[h.length - 1]!.type === 'DELETED';
}
export function condition(obj: any, type: string): any {
  return (obj?.status?.conditions ?? []).find((c: any) => c.type === type && c.status === 'True');
}

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

export interface RestoreGroupOptions {
  /** group name (generic label value / KubeBlocks Restore name); default rg-<hex> */
  name?: string;
  profile?: 'generic' | 'kubeblocks';
  replicas?: number;
  /** ms the restore runs (per replica or for all); undefined = runs until something else ends it */
  runMs?: number | (number | undefined)[];
  /** create each Job only once the one before finished (KubeBlocks' Serial policy); default false */
  sequential?: boolean;
  /** required pod anti-affinity on kubernetes.io/hostname over the instance label; default true */
  antiAffinity?: boolean;
  /** KubeBlocks' restore-manager sidecar (stage sidecar: "true"); default: profile === 'kubeblocks' */
  sidecar?: boolean;
  exitCode?: number | (number | undefined)[];
  evict?: boolean | boolean[];
  /** restrict the group to these nodes (required node affinity on kubernetes.io/hostname) */
  nodes?: string[];
  /** one PVC per replica, mounted by its pod (bound to a PV without node affinity) */
  claims?: boolean;
  /** label restoreguard.dev/retry: "true" on the Job */
  retry?: boolean;
  backoffLimit?: number;
  /** the component label the anti-affinity looks at (app.kubernetes.io/instance); default the group name */
  instance?: string;
  /** declare restoreguard.dev/group-size on Jobs and pod templates; default: profile === 'generic' */
  declareSize?: boolean;
  /** extra pod template annotations */
  podAnnotations?: Record<string, string>;
  /** restore-guard's opt-in placement gate on the pod template (generic profile) */
  gate?: boolean;
  /** parallel creation: wait this long between two Jobs (staggered, as an operator creating them in a loop) */
  staggerMs?: number;
}

export interface RestoreGroup {
  name: string;
  instance: string;
  profile: 'generic' | 'kubeblocks';
  replicas: number;
  /** Job names, replica i → jobNames[i] */
  jobNames: string[];
  claimNames: string[];
  /** Jobs created so far (name → ms when created) */
  created: Map<string, number>;
  /** Resolves when every Job has been created (sequential: after each previous one finished). */
  allCreated: Promise<void>;
  /** Stops the sequential driver (it stops by itself when the test ends). */
  stop(): void;
}

function pick<T>(v: T | T[] | undefined, i: number): T | undefined {
  return Array.isArray(v) ? v[i] : v;
}

export function antiAffinityFor(instance: string): unknown {
  return {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { [L.instance]: instance } }, topologyKey: 'kubernetes.io/hostname' },
      ],
    },
  };
}

export function nodeAffinityFor(nodes: string[]): unknown {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: nodes }] }],
      },
    },
  };
}

const RESOURCES = { requests: { cpu: '500m', memory: '512Mi' } };

// ---------------------------------------------------------------------------------------------
// The chain
// ---------------------------------------------------------------------------------------------

export interface ChainOptions {
  /** 'guard' (default): restore-guard runs; 'plain': nothing but the workload (baseline) */
  mode?: 'guard' | 'plain';
  /** restore-guard configuration overrides (environment names, e.g. RG_RETRY_MAX_ATTEMPTS) */
  env?: Record<string, string>;
  /** record every event the ingress receives into this folder (RG_RECORD_DIR) */
  recordDir?: string;
  /** namespace name (default rig-<hex>) */
  namespace?: string;
  /** log level of the server (default debug; lines kept in memory and in .rig/logs/chain-<ns>.log) */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** run the adapter as restore-guard-source (default) or as the rig's admin */
  adapterAs?: 'source' | 'admin';
  /**
   * guard mode: run restore-guard in its own process (dist/server.js when built, else
   * functions/index.ts; as in its pod, and warmed by one resync)
   * instead of in this one, so that what it does is not slowed by the caller's event loop
   * (benchmarks). `server` is null then; `metricsText()` reads its /metrics, `logs` its stdout.
   */
  isolated?: boolean;
}

export interface Chain {
  mode: 'guard' | 'plain';
  rig: RigInfo;
  /** admin client: the test plays the operator and the user */
  kube: Kube;
  ns: string;
  observer: Observer;
  /** guard mode only */
  server: Server | null;
  port: number | null;
  /** the local broker's ingress (K_SINK) */
  ingress: string | null;
  adapter: AdapterHandle | null;
  /** kubeconfig of the functions' ServiceAccount (guard mode) */
  saKubeconfig: string | null;
  logs: Record<string, any>[];
  logFile: string;
  /** ms: rig ready, chain ready */
  timings: { rigMs: number; chainMs: number };
  /** requests the ingress received (in-process server only; -1 when isolated) */
  received(): number;
  /** restore-guard's Prometheus metrics text (guard mode) */
  metricsText(): Promise<string>;
  /** restore-guard's process id when it runs in its own process (isolated), else null */
  pid(): number | null;
  createRestoreGroup(opts?: RestoreGroupOptions): Promise<RestoreGroup>;
  /** A plain pod (e.g. the workload after a restore); returns its name. */
  createPod(
    name: string,
    spec: {
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      affinity?: unknown;
      claims?: string[];
    },
  ): Promise<string>;
  job(name: string): Promise<any>;
  jobs(): Promise<any[]>;
  pod(name: string): Promise<any>;
  pods(selector?: string): Promise<any[]>;
  pvc(name: string): Promise<any>;
  /** A PingSource event into the ingress (resync); resolves once the chain is idle again. */
  ping(): Promise<void>;
  /** Resolves when the local broker has nothing in flight. */
  idle(): Promise<void>;
  /** Resolves once nothing arrived at the ingress for quietMs and the broker is idle. */
  settle(quietMs?: number, timeoutMs?: number): Promise<void>;
  stopAdapter(): Promise<void>;
  restartAdapter(): Promise<void>;
  teardown(opts?: { keepNamespace?: boolean }): Promise<void>;
}

export async function startChain(opts: ChainOptions = {}): Promise<Chain> {
  const mode = opts.mode ?? 'guard';
  const t0 = Date.now();
  const rig = await ensureRig();
  const rigMs = Date.now() - t0;
  const kube = rig.kube;
  const ns = await createNamespace(opts.namespace ?? `rig-${mode}-${randomBytes(3).toString('hex')}`);
  const observer = new Observer(kube, ns);
  await observer.start();

  const logs: Record<string, any>[] = [];
  fs.mkdirSync(rig.logDir, { recursive: true });
  const logFile = path.join(rig.logDir, `chain-${ns}.log`);
  const logFd = fs.openSync(logFile, 'w');
  const log: Logger = createLogger({
    level: opts.logLevel ?? 'debug',
    sink: (line) => {
      logs.push(JSON.parse(line) as Record<string, any>);
      fs.writeSync(logFd, `${line}\n`);
    },
  });

  let server: Server | null = null;
  let http: ServerType | null = null;
  let port: number | null = null;
  let ingress: string | null = null;
  let adapter: AdapterHandle | null = null;
  let saConfig: string | null = null;
  let received = 0;
  let lastReceived = Date.now();
  let adapterOpts: Parameters<typeof startAdapter>[0] | null = null;
  let child: ChildProcess | null = null;

  if (mode === 'guard') {
    await applyRbac(kube);
    saConfig = await saKubeconfig(RG_NAMESPACE, FUNCTIONS_SA);
    const sourceConfig =
      (opts.adapterAs ?? 'source') === 'source' ? await saKubeconfig(RG_NAMESPACE, SOURCE_SA) : rig.adminKubeconfig;
    const config = loadConfig({
      RG_LOCAL_BROKER: 'true',
      // The rig's adapter sends no token (no Knative OIDC here): test/integration/auth.test.ts tests RG_AUTH=oidc.
      RG_AUTH: 'none',
      RG_NAMESPACES: ns,
      RG_EVENTING_DIR: EVENTING_DIR,
      LOG_LEVEL: opts.logLevel ?? 'debug',
      ...(opts.recordDir ? { RG_RECORD_DIR: opts.recordDir } : {}),
      ...opts.env,
    });
    const kubeconfig = saConfig;
    if (opts.isolated) {
      port = await freePort();
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        PORT: String(port),
        HOST: '127.0.0.1',
        KUBECONFIG: kubeconfig,
        RG_LOCAL_BROKER: 'true',
        RG_AUTH: 'none',
        RG_NAMESPACES: ns,
        RG_EVENTING_DIR: EVENTING_DIR,
        LOG_LEVEL: opts.logLevel ?? 'debug',
        ...(opts.recordDir ? { RG_RECORD_DIR: opts.recordDir } : {}),
        ...opts.env,
      };
      // The shipped form when it is built (what runs in the pod), else the sources.
      const bundle = path.join(ROOT, 'dist', 'server.js');
      const entry = fs.existsSync(bundle) ? bundle : path.join(ROOT, 'functions', 'index.ts');
      child = spawn(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          try {
            logs.push(JSON.parse(line) as Record<string, any>);
          } catch {
            logs.push({ level: 'info', msg: line });
          }
          fs.writeSync(logFd, `${line}\n`);
        }
      });
      child.stderr!.on('data', (d: Buffer) => fs.writeSync(logFd, d.toString()));
      const exited = new Promise<never>((_, reject) =>
        child!.once('exit', (code) => reject(new Error(`restore-guard exited with ${code}; see ${logFile}`))),
      );
      exited.catch(() => undefined); // an exit after start-up is teardown's business
      await Promise.race([
        rigWaitFor(
          'isolated restore-guard ready',
          async () => (await fetch(`http://127.0.0.1:${port}/health/readiness`).catch(() => null))?.ok || undefined,
          20_000,
          20,
        ),
        exited,
      ]);
      // Warm, as a pod that has served before: the first event would otherwise also pay for
      // loading the Kubernetes client (cold start is figure 6's business, not the chain's).
      await warmWithResync(`http://127.0.0.1:${port}`);
    } else {
      server = createServer({ config, log, connect: () => connectCluster(kubeconfig) });
      const app = server.app;
      const fetch = (req: Request, ...rest: unknown[]) => {
        if (new URL(req.url).pathname === '/') {
          received++;
          lastReceived = Date.now();
        }
        return (app.fetch as (r: Request, ...x: unknown[]) => Response | Promise<Response>)(req, ...rest);
      };
      port = await new Promise<number>((resolve) => {
        http = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port));
      });
    }
    if (port === 8080) throw new Error('chain: got port 8080, which the adapter binds');
    ingress = `http://127.0.0.1:${port}/`;
    adapterOpts = sourceAdapterOptions(ingress, ns, sourceConfig);
    adapter = startAdapter(adapterOpts);
    await adapter.ready;
  }
  const chainMs = Date.now() - t0;

  const drivers = new Set<{ stopped: boolean }>();

  const createClaim = async (claim: string): Promise<void> => {
    await createBoundClaim(kube, ns, claim);
  };

  const chain: Chain = {
    mode,
    rig,
    kube,
    ns,
    observer,
    server,
    port,
    ingress,
    adapter,
    saKubeconfig: saConfig,
    logs,
    logFile,
    timings: { rigMs, chainMs },
    received: () => (child ? -1 : received),
    pid: () => child?.pid ?? null,

    async createRestoreGroup(o: RestoreGroupOptions = {}): Promise<RestoreGroup> {
      const profile = o.profile ?? 'generic';
      const name = o.name ?? `rg-${randomBytes(3).toString('hex')}`;
      const instance = o.instance ?? name;
      const replicas = o.replicas ?? 3;
      const sidecar = o.sidecar ?? profile === 'kubeblocks';
      const declareSize = o.declareSize ?? profile === 'generic';
      const jobNames = Array.from({ length: replicas }, (_, i) => `${name}-${i}`);
      const claimNames = o.claims ? Array.from({ length: replicas }, (_, i) => `data-${name}-${i}`) : [];
      for (const c of claimNames) await createClaim(c);
      const groupLabels: Record<string, string> =
        profile === 'kubeblocks'
          ? { [L.kbRestore]: name, [L.kbManagedBy]: 'kubeblocks-dataprotection' }
          : { [L.group]: name };
      const sizeAnn: Record<string, string> = declareSize ? { [L.groupSize]: String(replicas) } : {};
      const jobObject = (i: number): unknown => {
        const ann: Record<string, string> = { ...sizeAnn, ...o.podAnnotations };
        const runMs = pick(o.runMs, i);
        const exitCode = pick(o.exitCode, i);
        if (runMs !== undefined) ann[ANNOTATIONS.runMs] = String(runMs);
        if (exitCode !== undefined && exitCode !== 0) ann[ANNOTATIONS.exitCode] = String(exitCode);
        if (pick(o.evict, i)) ann[ANNOTATIONS.evict] = 'true';
        if (sidecar) ann[ANNOTATIONS.sidecar] = 'true';
        const affinity: Record<string, unknown> = {};
        if (o.antiAffinity ?? true) Object.assign(affinity, antiAffinityFor(instance));
        if (o.nodes) Object.assign(affinity, nodeAffinityFor(o.nodes));
        const containers = [{ name: 'restore', image: 'registry.invalid/restore:1', resources: RESOURCES }];
        if (sidecar)
          containers.push({
            name: 'restore-manager',
            image: 'registry.invalid/kb-tools:1',
            resources: { requests: { cpu: '10m', memory: '16Mi' } },
          });
        const claim = claimNames[i];
        return {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: {
            name: jobNames[i],
            namespace: ns,
            labels: { ...groupLabels, [L.instance]: instance, ...(o.retry ? { [L.retry]: 'true' } : {}) },
            annotations: sizeAnn,
          },
          spec: {
            backoffLimit: o.backoffLimit ?? 0,
            template: {
              metadata: { labels: { ...groupLabels, [L.instance]: instance }, annotations: ann },
              spec: {
                restartPolicy: 'Never',
                terminationGracePeriodSeconds: 0,
                containers: claim
                  ? containers.map((c) =>
                      c.name === 'restore' ? { ...c, volumeMounts: [{ name: 'data', mountPath: '/data' }] } : c,
                    )
                  : containers,
                ...(claim ? { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }] } : {}),
                ...(Object.keys(affinity).length ? { affinity } : {}),
                ...(o.gate ? { schedulingGates: [{ name: L.gate }] } : {}),
              },
            },
          },
        };
      };
      const created = new Map<string, number>();
      const driver = { stopped: false };
      drivers.add(driver);
      // Rides out an API server that is briefly away (the chaos suite restarts it): a 409 means an
      // earlier try got through; bounded to a minute.
      const create = async (i: number) => {
        for (let attempt = 1; ; attempt++) {
          const r = await kube
            .call('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, jobObject(i))
            .catch((e: unknown) => ({ status: 0, text: String((e as Error).message) }));
          if ((r.status >= 200 && r.status < 300) || r.status === 409) break;
          if ((r.status !== 0 && r.status < 500 && r.status !== 429) || attempt >= 60)
            throw new Error(`create Job ${jobNames[i]}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
          await sleep(1000);
        }
        created.set(jobNames[i]!, Date.now());
      };
      let allCreated: Promise<void>;
      if (o.sequential) {
        await create(0);
        allCreated = (async () => {
          for (let i = 1; i < replicas; i++) {
            const prev = jobNames[i - 1]!;
            // The API server is asked when the watch shows the Job finished (or gone), and every 5 s
            // in case the watch missed it: not on every change of the namespace (with many groups in
            // flight that was most of the API server's reads, and of the suite's own CPU).
            let askedAt = 0;
            for (;;) {
              if (driver.stopped) return;
              const seen = observer.latest('Job', prev);
              const done =
                !seen || seen.type === 'DELETED' || condition(seen.obj, 'Complete') || condition(seen.obj, 'Failed');
              if (done || Date.now() - askedAt >= 5000) {
                askedAt = Date.now();
                const j = await kube
                  .find(`/apis/batch/v1/namespaces/${ns}/jobs/${prev}`)
                  .catch(() => 'unknown' as const);
                if (j !== 'unknown' && (!j || condition(j, 'Complete') || condition(j, 'Failed'))) break;
              }
              await observer.next(500);
            }
            if (driver.stopped) return;
            await create(i);
          }
        })();
        allCreated.catch(() => undefined);
      } else {
        for (let i = 0; i < replicas; i++) {
          if (i > 0 && o.staggerMs) await new Promise((r) => setTimeout(r, o.staggerMs));
          await create(i);
        }
        allCreated = Promise.resolve();
      }
      return {
        name,
        instance,
        profile,
        replicas,
        jobNames,
        claimNames,
        created,
        allCreated,
        stop: () => {
          driver.stopped = true;
        },
      };
    },

    async createPod(name, spec) {
      if (spec.claims)
        for (const c of spec.claims)
          if (!(await kube.find(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${c}`))) await createClaim(c);
      await kube.post(`/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: spec.labels ?? {}, annotations: spec.annotations ?? {} },
        spec: {
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'main', image: 'registry.invalid/db:1', resources: RESOURCES }],
          ...(spec.affinity ? { affinity: spec.affinity } : {}),
          ...(spec.claims?.length
            ? { volumes: spec.claims.map((c, i) => ({ name: `v${i}`, persistentVolumeClaim: { claimName: c } })) }
            : {}),
        },
      });
      return name;
    },

    job: (name) => kube.get(`/apis/batch/v1/namespaces/${ns}/jobs/${name}`),
    jobs: async () => (await kube.get(`/apis/batch/v1/namespaces/${ns}/jobs`)).items,
    pod: (name) => kube.find(`/api/v1/namespaces/${ns}/pods/${name}`),
    pods: async (selector = '') =>
      (await kube.get(`/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`)).items,
    pvc: (name) => kube.get(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${name}`),

    async ping() {
      if (!ingress) throw new Error('ping: plain mode has no restore-guard');
      const r = await fetch(ingress, {
        method: 'POST',
        headers: {
          'ce-specversion': '1.0',
          'ce-id': randomUUID(),
          'ce-type': 'dev.knative.sources.ping',
          'ce-source': PING_SOURCE,
          'ce-time': new Date().toISOString(),
          'content-type': 'application/json',
        },
        body: JSON.stringify({ reason: 'resync' }),
      });
      if (r.status !== 202) throw new Error(`ping: ingress answered ${r.status}: ${await r.text()}`);
      await chain.idle();
    },

    async metricsText() {
      if (server) return server.deps.metrics.render();
      if (!child || !port) throw new Error('metricsText: plain mode has no restore-guard');
      return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    },

    idle: () => server?.broker?.idle() ?? Promise.resolve(),

    async settle(quietMs = 500, timeoutMs = WAIT_MS) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await chain.idle();
        if (Date.now() - lastReceived >= quietMs) return;
        if (Date.now() > deadline) throw new Error(`settle: still receiving events after ${timeoutMs} ms`);
        await sleep(Math.min(quietMs, 100));
      }
    },

    async stopAdapter() {
      await adapter?.stop();
      adapter = null;
      chain.adapter = null;
    },

    async restartAdapter() {
      if (!adapterOpts) throw new Error('restartAdapter: plain mode has no adapter');
      await adapter?.stop();
      adapter = startAdapter(adapterOpts);
      chain.adapter = adapter;
      await adapter.ready;
    },

    async teardown(t = {}) {
      for (const d of drivers) d.stopped = true;
      await adapter?.stop();
      await server?.broker?.idle();
      await server?.flush();
      if (http) await new Promise<void>((r) => (http as unknown as { close(cb: () => void): void }).close(() => r()));
      if (child && child.exitCode === null) {
        const gone = new Promise<void>((r) => child!.once('exit', () => r()));
        child.kill('SIGTERM');
        await Promise.race([gone, sleep(6000).then(() => child!.kill('SIGKILL'))]);
      }
      observer.stop();
      fs.closeSync(logFd);
      if (t.keepNamespace) return;
      // PVCs and PVs carry protection finalizers whose controller the rig does not run.
      const pvcs = (await kube.get(`/api/v1/namespaces/${ns}/persistentvolumeclaims`)).items as any[];
      for (const c of pvcs) {
        await kube
          .patch(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${c.metadata.name}`, {
            metadata: { finalizers: null },
          })
          .catch(() => undefined);
      }
      await kube.del(`/api/v1/namespaces/${ns}`).catch(() => undefined);
      // Every PV made for this namespace (the chain's groups and the KubeBlocks helper's), by its label.
      const pvList = await kube
        .get(`/api/v1/persistentvolumes?labelSelector=rig.restoreguard.dev/namespace%3D${ns}`)
        .catch(() => ({ items: [] }));
      for (const pv of (pvList.items as any[]).map((p) => p.metadata.name as string)) {
        await kube.patch(`/api/v1/persistentvolumes/${pv}`, { metadata: { finalizers: null } }).catch(() => undefined);
        await kube.del(`/api/v1/persistentvolumes/${pv}`).catch(() => undefined);
      }
    },
  };
  return chain;
}

/**
 * Warms a restore-guard process as a pod that has served before: one resync ping straight to its
 * /resync route (loads the Kubernetes client, which the first event would otherwise pay for).
 */
export async function warmWithResync(base: string, timeoutMs = 60_000): Promise<void> {
  await fetch(`${base}/resync`, {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': randomUUID(),
      'ce-type': 'dev.knative.sources.ping',
      'ce-source': PING_SOURCE,
      'content-type': 'application/json',
    },
    body: '{}',
    signal: AbortSignal.timeout(timeoutMs),
  });
}

/** Where a test records the events the adapter sends (git-ignored; curated copies go to test/fixtures/recordings/rig-*). */
export function recordingDir(scenario: string): string {
  const d = path.join(ROOT, '.rig', 'recordings', scenario);
  fs.rmSync(d, { recursive: true, force: true });
  return d;
}

/** A free TCP port on loopback (never 8080, which the adapter binds). */
async function freePort(): Promise<number> {
  for (;;) {
    const p = await new Promise<number>((resolve) => {
      const srv = netServer().listen(0, '127.0.0.1', () => {
        const a = srv.address() as AddressInfo;
        srv.close(() => resolve(a.port));
      });
    });
    if (p !== 8080) return p;
  }
}
