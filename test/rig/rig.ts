// Starts, checks and stops the rig's control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok and KubeBlocks' dataprotection controller (with its
// CRDs), all on 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  BIN_DIR,
  BUILD_SCRIPT,
  KUBECONFIG_DIR,
  LOG_DIR,
  RIG_DIR,
  RUN_DIR,
  STAGES_DIR,
  STATE_FILE,
  binPath,
} from './paths.ts';
import { certKubeconfig, ensurePki, type Pki } from './pki.ts';
import { parseAllDocuments } from 'yaml';
import { Kube, request, sleep, waitFor } from './http.ts';

export const COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
  'dataprotection',
] as const;
export type Component = (typeof COMPONENTS)[number];

/** Controllers the rig's kube-controller-manager runs. */
export const CONTROLLERS = [
  'job-controller',
  'ttl-after-finished-controller',
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'pod-garbage-collector-controller',
  'resourcequota-controller',
  'root-ca-certificate-publisher-controller',
];

/** KubeBlocks' namespace (CM_NAMESPACE): where its controller would run its own helper Jobs. */
export const KUBEBLOCKS_NAMESPACE = 'kb-system';
export const KUBEBLOCKS_CRD_DIR = path.join(RIG_DIR, 'crds', 'kubeblocks');

export const NODE_COUNT = 5;
export const NODE_NAMES = Array.from({ length: NODE_COUNT }, (_, i) => `rig-node-${i + 1}`);
export const NODE_ZONES = ['rig-zone-a', 'rig-zone-b', 'rig-zone-c'];
export const NODE_ALLOCATABLE = { cpu: '8', memory: '32Gi', pods: '110' };

export interface RigState {
  server: string;
  ports: Record<string, number>;
  pids: Partial<Record<Component, number>>;
  adminKubeconfig: string;
  caFile: string;
  startedAt: string;
  startMs: number;
  /** command lines of components that can be restarted (restartApiServer) */
  args?: Partial<Record<Component, string[]>>;
}

export interface RigInfo {
  /** https://127.0.0.1:<port> */
  server: string;
  /** path of a kubeconfig for a system:masters client certificate */
  adminKubeconfig: string;
  /** path of the rig CA certificate (PEM) */
  caFile: string;
  /** admin REST client */
  kube: Kube;
  /** names of the kwok nodes */
  nodes: string[];
  ports: Record<string, number>;
  pids: Partial<Record<Component, number>>;
  logDir: string;
  binDir: string;
}

function log(msg: string): void {
  process.stderr.write(`[rig ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export function readState(): RigState | undefined {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as RigState;
  } catch {
    return undefined;
  }
}

function alive(pid: number | undefined, name: string): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // guard against pid reuse: the command line must name the binary
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false; // zombie
    return cmd.includes(name);
  } catch {
    return true;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function adminKube(state: RigState, pki: Pki): Kube {
  return new Kube(state.server, {
    ca: fs.readFileSync(pki.caCert),
    cert: fs.readFileSync(pki.clients.admin.cert),
    key: fs.readFileSync(pki.clients.admin.key),
  });
}

/** Runs test/rig/build.sh (fast when everything is cached). Progress goes to stderr. */
export function build(components: string[] = []): void {
  const r = spawnSync('bash', [BUILD_SCRIPT, ...components], { stdio: ['ignore', process.stderr, process.stderr] });
  if (r.status !== 0) throw new Error(`rig build failed (exit ${r.status}); see ${LOG_DIR}/build-*.log`);
}

export function missingBinaries(): string[] {
  const need = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'dataprotection'];
  const missing = need.map(binPath).filter((p) => !fs.existsSync(p));
  if (!fs.existsSync(path.join(KUBEBLOCKS_CRD_DIR, 'dataprotection.kubeblocks.io_restores.yaml')))
    missing.push(KUBEBLOCKS_CRD_DIR);
  return missing;
}

function startProcess(
  name: Component,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = RUN_DIR,
  append = false,
): number {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `${name}.log`);
  const fd = fs.openSync(logFile, append ? 'a' : 'w');
  fs.writeSync(fd, `# ${new Date().toISOString()} ${binPath(name)} ${args.join(' ')}\n`);
  const child = spawn(binPath(name), args, { detached: true, stdio: ['ignore', fd, fd], env, cwd });
  fs.closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${name}`);
  return child.pid;
}

/** Health of each component: true when its process lives and its health endpoint answers ok. */
export async function health(state: RigState | undefined = readState()): Promise<Record<Component, boolean>> {
  const out = Object.fromEntries(COMPONENTS.map((c) => [c, false])) as Record<Component, boolean>;
  if (!state) return out;
  const pki = ensurePki();
  const ok = async (url: string, insecure = false, admin = false): Promise<boolean> => {
    try {
      const creds = admin
        ? {
            ca: fs.readFileSync(pki.caCert),
            cert: fs.readFileSync(pki.clients.admin.cert),
            key: fs.readFileSync(pki.clients.admin.key),
          }
        : { insecure };
      const r = await request(url, creds, 'GET', undefined, undefined, 3000);
      return r.status === 200;
    } catch {
      return false;
    }
  };
  const p = state.ports;
  const checks: Record<Component, () => Promise<boolean>> = {
    etcd: () => ok(`http://127.0.0.1:${p.etcd}/health`),
    'kube-apiserver': () => ok(`${state.server}/readyz`, false, true),
    'kube-controller-manager': () => ok(`https://127.0.0.1:${p['kube-controller-manager']}/healthz`, true),
    'kube-scheduler': () => ok(`https://127.0.0.1:${p['kube-scheduler']}/healthz`, true),
    kwok: () => ok(`http://127.0.0.1:${p.kwok}/healthz`),
    dataprotection: () => ok(`http://127.0.0.1:${p['dataprotection-probe']}/readyz`),
  };
  await Promise.all(
    COMPONENTS.map(async (c) => {
      out[c] =
        alive(state.pids[c], c === 'kube-apiserver' || c === 'etcd' ? path.basename(binPath(c)) : c) &&
        (await checks[c]());
    }),
  );
  return out;
}

export async function isUp(): Promise<boolean> {
  const h = await health();
  return COMPONENTS.every((c) => h[c]);
}

/** The kube-apiserver's audit log (JSON lines; see writeAuditPolicy for what it records). */
export const AUDIT_LOG = path.join(LOG_DIR, 'audit.log');

/**
 * Metadata-level audit of every request (watches aside) of restore-guard's own ServiceAccount
 * (benchmark figure 9 counts them against restore-guard's /metrics), and of the writes of the other
 * ServiceAccounts of namespace restore-guard (the chaos suite's); nothing else.
 */
function writeAuditPolicy(): string {
  const out = path.join(RUN_DIR, 'audit-policy.yaml');
  fs.writeFileSync(
    out,
    [
      'apiVersion: audit.k8s.io/v1',
      'kind: Policy',
      'omitStages: [RequestReceived]',
      'rules:',
      '  - level: Metadata',
      '    users: ["system:serviceaccount:restore-guard:restore-guard"]',
      '    verbs: [get, list, create, update, patch, delete, deletecollection]',
      '  - level: Metadata',
      '    userGroups: ["system:serviceaccounts:restore-guard"]',
      '    verbs: [create, update, patch, delete, deletecollection]',
      '  - level: None',
      '',
    ].join('\n'),
  );
  return out;
}

/** Concatenates test/rig/stages/*.yaml into one kwok config file. */
function writeStages(): string {
  const files = fs
    .readdirSync(STAGES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  const text = `${files.map((f) => fs.readFileSync(path.join(STAGES_DIR, f), 'utf8').trim()).join('\n---\n')}\n`;
  const out = path.join(RUN_DIR, 'kwok-stages.yaml');
  fs.writeFileSync(out, text);
  return out;
}

/** SIGTERM to a rig process's group (or the process), SIGKILL after 10 s; resolves once it is gone (15 s at most). */
async function stopProcess(pid: number, name: string): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive(pid, name) && Date.now() < deadline) await sleep(100);
  if (alive(pid, name)) signal('SIGKILL');
  while (alive(pid, name) && Date.now() < deadline + 5000) await sleep(100);
}

/** Stops every rig process recorded in the state file (adapters belong to the test processes that started them). */
export async function down(quiet = false): Promise<void> {
  const state = readState();
  if (!state) {
    if (!quiet) log('rig is not running (no state file)');
    return;
  }
  const order: Component[] = [
    'dataprotection',
    'kwok',
    'kube-scheduler',
    'kube-controller-manager',
    'kube-apiserver',
    'etcd',
  ];
  for (const c of order) {
    const pid = state.pids[c];
    const name = c === 'kube-apiserver' || c === 'etcd' ? path.basename(binPath(c)) : c;
    if (!alive(pid, name) || !pid) continue;
    await stopProcess(pid, name);
    if (!quiet) log(`stopped ${c} (pid ${pid})`);
  }
  fs.rmSync(STATE_FILE, { force: true });
  if (!quiet) log('rig is down');
}

/**
 * Starts the control plane from scratch (fresh etcd data) unless it is already up and healthy.
 * Returns the state and whether it was already up.
 */
export async function up(): Promise<{ state: RigState; already: boolean }> {
  // one starter at a time (several test processes may call ensureRig at once)
  const lock = path.join(RIG_DIR, 'up.lock');
  fs.mkdirSync(RIG_DIR, { recursive: true });
  const lockDeadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      let stale = false;
      try {
        stale = Date.now() - fs.statSync(lock).mtimeMs > 180_000;
      } catch {
        /* gone */
      }
      if (stale) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > lockDeadline) throw new Error(`${lock} held for too long`);
      await sleep(250);
    }
  }
  try {
    return await upLocked();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

async function upLocked(): Promise<{ state: RigState; already: boolean }> {
  const existing = readState();
  if (existing && (await isUp())) return { state: existing, already: true };
  if (existing) {
    log('rig state found but not healthy: restarting it');
    await down(true);
  }
  const missing = missingBinaries();
  if (missing.length) throw new Error(`missing binaries (run npm run rig:build): ${missing.join(', ')}`);

  const t0 = Date.now();
  fs.mkdirSync(RUN_DIR, { recursive: true });
  fs.mkdirSync(LOG_DIR, { recursive: true });
  for (const f of fs.readdirSync(LOG_DIR)) {
    if (f.startsWith('adapter-')) fs.rmSync(path.join(LOG_DIR, f), { force: true });
  }
  fs.mkdirSync(KUBECONFIG_DIR, { recursive: true });
  const pki = ensurePki();
  const ports: Record<string, number> = {};
  const portNames = [
    'etcd',
    'etcd-peer',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kwok',
    'dataprotection-metrics',
    'dataprotection-probe',
  ];
  for (const k of portNames) {
    let p = await freePort();
    while (p === 8080 || p === 8081 || Object.values(ports).includes(p)) p = await freePort();
    ports[k] = p;
  }
  const server = `https://127.0.0.1:${ports['kube-apiserver']}`;
  const adminKubeconfig = path.join(KUBECONFIG_DIR, 'admin.yaml');
  fs.writeFileSync(
    adminKubeconfig,
    certKubeconfig(server, pki, 'rig-admin', pki.clients.admin.cert, pki.clients.admin.key),
  );
  const kcmKubeconfig = path.join(KUBECONFIG_DIR, 'controller-manager.yaml');
  fs.writeFileSync(
    kcmKubeconfig,
    certKubeconfig(
      server,
      pki,
      'system:kube-controller-manager',
      pki.clients['controller-manager'].cert,
      pki.clients['controller-manager'].key,
    ),
  );
  const schedKubeconfig = path.join(KUBECONFIG_DIR, 'scheduler.yaml');
  fs.writeFileSync(
    schedKubeconfig,
    certKubeconfig(server, pki, 'system:kube-scheduler', pki.clients.scheduler.cert, pki.clients.scheduler.key),
  );

  const state: RigState = {
    server,
    ports,
    pids: {},
    adminKubeconfig,
    caFile: pki.caCert,
    startedAt: new Date().toISOString(),
    startMs: 0,
  };
  const save = (): void => fs.writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);

  try {
    // etcd, with fresh data every start
    const etcdData = path.join(RUN_DIR, 'etcd-data');
    fs.rmSync(etcdData, { recursive: true, force: true });
    const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
    const peerUrl = `http://127.0.0.1:${ports['etcd-peer']}`;
    state.pids.etcd = startProcess('etcd', [
      '--name=rig',
      `--data-dir=${etcdData}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=rig=${peerUrl}`,
      '--initial-cluster-state=new',
      '--unsafe-no-fsync',
      '--log-level=warn',
      '--quota-backend-bytes=4294967296',
    ]);
    save();
    log(`etcd starting (pid ${state.pids.etcd}, ${etcdUrl})`);
    await waitFor(
      'etcd /health',
      async () => {
        const r = await request(`${etcdUrl}/health`, {}, 'GET', undefined, undefined, 2000);
        return r.status === 200;
      },
      30_000,
      100,
    );
    log(`etcd healthy (${Date.now() - t0} ms)`);

    const certDir = (c: string): string => {
      const d = path.join(RUN_DIR, c);
      fs.mkdirSync(d, { recursive: true });
      return d;
    };
    state.args = {};
    state.args['kube-apiserver'] = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports['kube-apiserver']}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      // nodes created through the API would get node.kubernetes.io/not-ready:NoSchedule, which
      // only the node-lifecycle controller (not run here) removes
      '--disable-admission-plugins=TaintNodesByCondition',
      '--allow-privileged=true',
      '--profiling=false',
      `--cert-dir=${certDir('kube-apiserver')}`,
      '--event-ttl=1h',
      // An independent record of restore-guard's own writes (test/chaos checks it): only the
      // restore-guard namespace's ServiceAccounts, writes only, metadata only, so the other
      // components' traffic costs nothing.
      `--audit-policy-file=${writeAuditPolicy()}`,
      `--audit-log-path=${AUDIT_LOG}`,
      '--audit-log-maxsize=500',
      '--audit-log-maxbackup=1',
      '--v=1',
    ];
    state.pids['kube-apiserver'] = startProcess('kube-apiserver', state.args['kube-apiserver']);
    save();
    log(`kube-apiserver starting (pid ${state.pids['kube-apiserver']}, ${server})`);
    const kube = adminKube(state, pki);
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        const r = await kube.call('GET', '/readyz');
        return r.status === 200;
      },
      90_000,
      200,
    );
    log(`kube-apiserver ready (${Date.now() - t0} ms)`);

    state.pids['kube-controller-manager'] = startProcess('kube-controller-manager', [
      `--kubeconfig=${kcmKubeconfig}`,
      '--leader-elect=false',
      // each controller acts as its own kube-system ServiceAccount with the bootstrap RBAC
      // roles (as kubeadm sets it up); the controller-manager's own identity may do little
      '--use-service-account-credentials=true',
      `--controllers=${CONTROLLERS.join(',')}`,
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCert}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports['kube-controller-manager']}`,
      `--cert-dir=${certDir('kube-controller-manager')}`,
      '--kube-api-qps=200',
      '--kube-api-burst=400',
      '--concurrent-job-syncs=10',
      '--v=1',
    ]);
    state.pids['kube-scheduler'] = startProcess('kube-scheduler', [
      `--kubeconfig=${schedKubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${ports['kube-scheduler']}`,
      `--cert-dir=${certDir('kube-scheduler')}`,
      '--v=1',
    ]);
    state.pids.kwok = startProcess('kwok', [
      `--kubeconfig=${adminKubeconfig}`,
      `--config=${writeStages()}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--cidr=10.244.0.0/16',
      '--node-ip=10.240.0.1',
      '--node-lease-duration-seconds=0',
      `--server-address=127.0.0.1:${ports.kwok}`,
    ]);
    save();
    log(
      `kube-controller-manager, kube-scheduler, kwok starting (pids ${state.pids['kube-controller-manager']}, ` +
        `${state.pids['kube-scheduler']}, ${state.pids.kwok})`,
    );

    for (const [i, name] of NODE_NAMES.entries()) {
      await kube.create('/api/v1/nodes', nodeObject(name, i));
      const node = await kube.get(`/api/v1/nodes/${name}`);
      if (node.spec?.taints?.length) await kube.patch(`/api/v1/nodes/${name}`, { spec: { taints: null } });
    }
    await waitFor(
      'kwok nodes Ready',
      async () => {
        const list = await kube.get('/api/v1/nodes');
        const ready = (list.items as any[]).filter(
          (n) =>
            NODE_NAMES.includes(n.metadata.name) &&
            (n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === NODE_NAMES.length;
      },
      60_000,
      200,
    );
    log(`${NODE_COUNT} kwok nodes Ready (${Date.now() - t0} ms)`);

    // KubeBlocks' dataprotection controller, from its own code (test/rig/build.sh kubeblocks): its CRDs
    // first (it exits when one it watches is missing), then the manager, as the admin.
    await installKubeBlocksCrds(kube);
    log(`KubeBlocks CRDs established (${Date.now() - t0} ms)`);
    await kube.create('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: KUBEBLOCKS_NAMESPACE },
    });
    const dpDir = path.join(RUN_DIR, 'dataprotection'); // no config.yaml here: it reads one from its cwd
    fs.mkdirSync(dpDir, { recursive: true });
    state.pids.dataprotection = startProcess(
      'dataprotection',
      [
        `--kubeconfig=${adminKubeconfig}`,
        `--metrics-bind-address=127.0.0.1:${ports['dataprotection-metrics']}`,
        `--health-probe-bind-address=127.0.0.1:${ports['dataprotection-probe']}`,
        '--zap-encoder=console',
        '--zap-log-level=info',
      ],
      { ...process.env, CM_NAMESPACE: KUBEBLOCKS_NAMESPACE, KUBECONFIG: adminKubeconfig },
      dpDir,
    );
    save();
    log(`KubeBlocks dataprotection starting (pid ${state.pids.dataprotection})`);
    await waitFor(
      'all components healthy',
      async () => {
        const h = await health(state);
        const bad = COMPONENTS.filter((c) => !h[c]);
        return bad.length === 0;
      },
      60_000,
      250,
    );
    await waitFor(
      'default ServiceAccount in namespace default',
      () => kube.find('/api/v1/namespaces/default/serviceaccounts/default'),
      60_000,
      200,
    );
    state.startMs = Date.now() - t0;
    save();
    log(`rig up in ${state.startMs} ms: ${server} (admin kubeconfig ${adminKubeconfig})`);
    return { state, already: false };
  } catch (e) {
    log(`rig start failed: ${(e as Error).message}; logs in ${LOG_DIR}`);
    for (const c of COMPONENTS) {
      const f = path.join(LOG_DIR, `${c}.log`);
      if (fs.existsSync(f)) {
        const tail = fs.readFileSync(f, 'utf8').split('\n').slice(-8).join('\n');
        process.stderr.write(`--- ${c}.log (tail) ---\n${tail}\n`);
      }
    }
    await down(true);
    throw e;
  }
}

/**
 * Stops kube-apiserver (SIGTERM, SIGKILL after 10 s) and starts it again with the same command line
 * (same port, certificates, etcd and audit log); resolves once /readyz answers. For fault tests
 * (test/chaos): every client of the rig sees its connections drop and its watches end.
 */
export async function restartApiServer(): Promise<{ downMs: number }> {
  const state = readState();
  const args = state?.args?.['kube-apiserver'];
  if (!state || !args)
    throw new Error(
      'restartApiServer: rig not up, or started before restarts were possible (npm run rig:down, then again)',
    );
  const pid = state.pids['kube-apiserver'];
  const name = path.basename(binPath('kube-apiserver'));
  const t0 = Date.now();
  if (pid && alive(pid, name)) await stopProcess(pid, name);
  state.pids['kube-apiserver'] = startProcess('kube-apiserver', args, process.env, RUN_DIR, true);
  fs.writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
  const kube = adminKube(state, ensurePki());
  await waitFor(
    'kube-apiserver /readyz after restart',
    async () => (await kube.call('GET', '/readyz')).status === 200,
    120_000,
    200,
  );
  return { downMs: Date.now() - t0 };
}

/** Creates KubeBlocks' CRDs (plain POST: two of them are too large for a last-applied annotation) and waits until each is established. */
async function installKubeBlocksCrds(kube: Kube): Promise<void> {
  const names: string[] = [];
  for (const f of fs
    .readdirSync(KUBEBLOCKS_CRD_DIR)
    .filter((x) => x.endsWith('.yaml'))
    .sort()) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(KUBEBLOCKS_CRD_DIR, f), 'utf8'))) {
      const crd = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (crd?.kind !== 'CustomResourceDefinition' || !crd.metadata?.name) continue;
      await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      names.push(crd.metadata.name);
    }
  }
  await waitFor(
    'KubeBlocks CRDs established',
    async () => {
      for (const n of names) {
        const crd = await kube.find(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${n}`);
        const ok = (crd?.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True');
        if (!ok) return false;
      }
      return true;
    },
    60_000,
    200,
  );
}

/** A KWOK node as the rig makes them (kwok plays every node with the annotation kwok.x-k8s.io/node=fake). */
export function nodeObject(name: string, i: number): unknown {
  const zone = NODE_ZONES[i % NODE_ZONES.length] ?? 'rig-zone-a';
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/zone': zone,
        type: 'kwok',
      },
    },
    spec: {},
    status: {
      allocatable: NODE_ALLOCATABLE,
      capacity: NODE_ALLOCATABLE,
      addresses: [
        { type: 'InternalIP', address: `10.240.0.${i + 1}` },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

export function info(state: RigState): RigInfo {
  const pki = ensurePki();
  return {
    server: state.server,
    adminKubeconfig: state.adminKubeconfig,
    caFile: state.caFile,
    kube: adminKube(state, pki),
    nodes: [...NODE_NAMES],
    ports: state.ports,
    pids: state.pids,
    logDir: LOG_DIR,
    binDir: BIN_DIR,
  };
}
