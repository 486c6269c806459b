// Smoke test of the rig: control plane up, kwok stages, Job controller, ServiceAccount
// kubeconfigs and the ApiServerSource adapter delivering CloudEvents.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import {
  ANNOTATIONS,
  NODE_NAMES,
  createNamespace,
  deleteNamespace,
  ensureRig,
  saKube,
  startAdapter,
  waitFor,
  type AdapterHandle,
  type RigInfo,
} from './index.ts';

interface ReceivedEvent {
  type: string;
  subject: string;
  source: string;
  data: any;
}

let rig: RigInfo;
let ns: string;
let adapter: AdapterHandle | undefined;
let receiver: http.Server | undefined;
const events: ReceivedEvent[] = [];

function startReceiver(): Promise<string> {
  return new Promise((resolve) => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let parsed: any;
        try {
          parsed = JSON.parse(body);
        } catch {
          parsed = undefined;
        }
        const h = req.headers;
        if (typeof h['ce-type'] === 'string') {
          // binary content mode
          events.push({
            type: h['ce-type'],
            subject: String(h['ce-subject'] ?? ''),
            source: String(h['ce-source'] ?? ''),
            data: parsed,
          });
        } else if (parsed?.type) {
          // structured content mode
          events.push({
            type: parsed.type,
            subject: parsed.subject ?? '',
            source: parsed.source ?? '',
            data: parsed.data,
          });
        }
        res.writeHead(202).end();
      });
    });
    receiver.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(receiver!.address() as AddressInfo).port}/`));
  });
}

function job(name: string, annotations: Record<string, string>, containers: string[]): unknown {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: ns },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { annotations, labels: { app: 'rig-smoke' } },
        spec: {
          restartPolicy: 'Never',
          containers: containers.map((c) => ({
            name: c,
            image: 'registry.invalid/rig:1',
            resources: { requests: { cpu: '100m', memory: '64Mi' } },
          })),
        },
      },
    },
  };
}

async function jobPod(jobName: string): Promise<any> {
  const list = await rig.kube.get(`/api/v1/namespaces/${ns}/pods?labelSelector=job-name%3D${jobName}`);
  return list.items[0];
}

function hasCondition(obj: any, type: string): boolean {
  return (obj?.status?.conditions ?? []).some((c: any) => c.type === type && c.status === 'True');
}

function containerState(pod: any, name: string): any {
  return (pod?.status?.containerStatuses ?? []).find((c: any) => c.name === name)?.state;
}

test.before(async () => {
  const t0 = Date.now();
  rig = await ensureRig();
  console.log(`  rig ready in ${Date.now() - t0} ms at ${rig.server}`);
  ns = await createNamespace();
});

test.after(async () => {
  await adapter?.stop();
  receiver?.close();
  if (ns) await deleteNamespace(ns).catch(() => undefined);
});

test('kube-apiserver reports v1.34.x', async () => {
  const v = await rig.kube.get('/version');
  assert.match(v.gitVersion, /^v1\.34\.\d+$/);
  assert.is(v.major, '1');
  assert.is(v.minor, '34');
});

test('admin kubeconfig works with @kubernetes/client-node', async () => {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(rig.adminKubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const nodes = await core.listNode();
  const names = nodes.items.map((n) => n.metadata?.name);
  for (const n of NODE_NAMES) assert.ok(names.includes(n), `node ${n} listed`);
});

test('the adapter starts with a loopback sink', async () => {
  const sink = await startReceiver();
  adapter = startAdapter({
    sink,
    namespaces: [ns],
    resources: [
      { version: 'v1', resource: 'pods', selector: 'app=rig-smoke' },
      { group: 'batch', version: 'v1', resource: 'jobs' },
    ],
  });
  await adapter.ready;
});

test('a Job with run-ms 0 is scheduled on a kwok node and completes', async () => {
  await rig.kube.post(`/apis/batch/v1/namespaces/${ns}/jobs`, job('quick', { [ANNOTATIONS.runMs]: '0' }, ['restore']));
  const pod = await waitFor(
    'pod of job quick to succeed',
    async () => {
      const p = await jobPod('quick');
      return p?.status?.phase === 'Succeeded' ? p : undefined;
    },
    30_000,
  );
  assert.ok(NODE_NAMES.includes(pod.spec.nodeName), `scheduled on a kwok node (got ${pod.spec.nodeName})`);
  assert.is(containerState(pod, 'restore')?.terminated?.exitCode, 0);
  await waitFor(
    'job quick Complete',
    async () => hasCondition(await rig.kube.get(`/apis/batch/v1/namespaces/${ns}/jobs/quick`), 'Complete'),
    30_000,
  );
});

test('sidecar pod: restore terminates, restore-manager holds the pod until stop-restore-manager', async () => {
  await rig.kube.post(
    `/apis/batch/v1/namespaces/${ns}/jobs`,
    job('sidecar', { [ANNOTATIONS.sidecar]: 'true', [ANNOTATIONS.runMs]: '300' }, ['restore', 'restore-manager']),
  );
  const pod = await waitFor(
    'restore container of job sidecar to terminate',
    async () => {
      const p = await jobPod('sidecar');
      return containerState(p, 'restore')?.terminated ? p : undefined;
    },
    30_000,
  );
  assert.is(pod.status.phase, 'Running');
  assert.is(containerState(pod, 'restore').terminated.exitCode, 0);
  assert.ok(containerState(pod, 'restore-manager')?.running, 'restore-manager still running');
  // it stays that way
  await new Promise((r) => setTimeout(r, 1000));
  const still = await rig.kube.get(`/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`);
  assert.is(still.status.phase, 'Running');
  assert.not.ok(hasCondition(await rig.kube.get(`/apis/batch/v1/namespaces/${ns}/jobs/sidecar`), 'Complete'));

  await rig.kube.patch(`/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`, {
    metadata: { annotations: { [ANNOTATIONS.stopRestoreManager]: 'true' } },
  });
  const done = await waitFor(
    'sidecar pod Succeeded',
    async () => {
      const p = await rig.kube.get(`/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`);
      return p.status.phase === 'Succeeded' ? p : undefined;
    },
    15_000,
  );
  assert.is(containerState(done, 'restore-manager')?.terminated?.exitCode, 0);
  await waitFor(
    'job sidecar Complete',
    async () => hasCondition(await rig.kube.get(`/apis/batch/v1/namespaces/${ns}/jobs/sidecar`), 'Complete'),
    30_000,
  );
});

test('a pod with exit-code 3 fails with that code in its restore container', async () => {
  await rig.kube.post(
    `/apis/batch/v1/namespaces/${ns}/jobs`,
    job('broken', { [ANNOTATIONS.exitCode]: '3' }, ['restore']),
  );
  const pod = await waitFor(
    'pod of job broken to fail',
    async () => {
      const p = await jobPod('broken');
      return p?.status?.phase === 'Failed' ? p : undefined;
    },
    30_000,
  );
  assert.is(containerState(pod, 'restore')?.terminated?.exitCode, 3);
  await waitFor(
    'job broken Failed',
    async () => hasCondition(await rig.kube.get(`/apis/batch/v1/namespaces/${ns}/jobs/broken`), 'Failed'),
    30_000,
  );
});

test('evict, activeDeadlineSeconds and delete stages', async () => {
  const pod = (name: string, annotations: Record<string, string>, extra: Record<string, unknown> = {}): unknown => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, annotations },
    spec: { restartPolicy: 'Never', containers: [{ name: 'restore', image: 'registry.invalid/rig:1' }], ...extra },
  });
  await rig.kube.post(`/api/v1/namespaces/${ns}/pods`, pod('evicted', { [ANNOTATIONS.evict]: 'true' }));
  await rig.kube.post(`/api/v1/namespaces/${ns}/pods`, pod('deadline', {}, { activeDeadlineSeconds: 1 }));
  await rig.kube.post(`/api/v1/namespaces/${ns}/pods`, pod('doomed', {}));
  const get = (n: string): Promise<any> => rig.kube.get(`/api/v1/namespaces/${ns}/pods/${n}`);
  const evicted = await waitFor(
    'pod evicted',
    async () => {
      const p = await get('evicted');
      return p.status.phase === 'Failed' ? p : undefined;
    },
    20_000,
  );
  assert.is(evicted.status.reason, 'Evicted');
  const deadline = await waitFor(
    'pod deadline',
    async () => {
      const p = await get('deadline');
      return p.status.phase === 'Failed' ? p : undefined;
    },
    20_000,
  );
  assert.is(deadline.status.reason, 'DeadlineExceeded');
  await waitFor('pod doomed Running', async () => (await get('doomed')).status.phase === 'Running', 20_000);
  await rig.kube.del(`/api/v1/namespaces/${ns}/pods/doomed`);
  await waitFor(
    'pod doomed gone',
    async () => (await rig.kube.find(`/api/v1/namespaces/${ns}/pods/doomed`)) === undefined,
    20_000,
  );
});

test('the adapter delivered CloudEvents for the pods and Jobs', async () => {
  const pod = await jobPod('quick');
  const forPod = await waitFor(
    'an event for the quick pod',
    async () => {
      const e = events.filter((x) => x.data?.kind === 'Pod' && x.data?.metadata?.name === pod.metadata.name);
      return e.some((x) => x.data?.status?.phase === 'Succeeded') ? e : undefined;
    },
    20_000,
  );
  for (const e of forPod) {
    assert.match(e.type, /^dev\.knative\.apiserver\.resource\.(add|update|delete)$/);
    assert.ok(e.subject.includes(pod.metadata.name), `subject ${e.subject} names the pod`);
  }
  await waitFor(
    'an event for job quick',
    async () => events.some((x) => x.data?.kind === 'Job' && x.data?.metadata?.name === 'quick'),
    20_000,
  );
});

test('saKubeconfig authenticates as the ServiceAccount, not admin', async () => {
  const { kube, kubeconfig } = await saKube(ns, 'rig-smoke-fn');
  const review = await kube.post('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
  });
  assert.is(review.status.userInfo.username, `system:serviceaccount:${ns}:rig-smoke-fn`);
  const denied = await kube.call('GET', `/api/v1/namespaces/${ns}/pods`);
  assert.is(denied.status, 403);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  assert.is(kc.getCurrentUser()?.name, `system:serviceaccount:${ns}:rig-smoke-fn`);
});

test.run();
