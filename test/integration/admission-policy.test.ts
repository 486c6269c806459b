// The ValidatingAdmissionPolicies of eventing/admission.yaml on the real kube-apiserver 1.34: with
// RBAC alone, the functions' ServiceAccount token may create, patch and delete any Pod or Job in any
// namespace. Under the policies (installed by applyRbac for every integration test), each abuse
// below is denied with the token itself (real requests, not dry runs), while a proper anchor passes
// and a whole chain (anchors, records on Pods/Jobs/PVCs, Events, a retry Job, release) runs through
// with no write refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { Kube } from '../rig/index.ts';
import { DOMAIN, L, condition, startChain, waitFor, type Chain } from '../support/chain.ts';

let guard: Chain;
let sa: Kube;
const ADMIN_NS = 'kube-system';

test.before(async () => {
  guard = await startChain({ mode: 'guard', env: { RG_RETRY_MAX_ATTEMPTS: '2', RG_RETRY_BASE_MS: '200' } });
  const token = /token: (\S+)/.exec(fs.readFileSync(guard.saKubeconfig!, 'utf8'))?.[1];
  sa = new Kube(guard.rig.server, { ca: fs.readFileSync(guard.rig.caFile), token: token! });
});

test.after(async () => {
  await guard?.teardown();
});

const bad = (name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { nodeName: 'rig-node-1', ...spec },
});
const anchorLabels = (g: string) => ({ [L.anchorFor]: 'x', [L.group]: g });
const anchorSpec = {
  restartPolicy: 'Never',
  activeDeadlineSeconds: 600,
  automountServiceAccountToken: false,
  containers: [
    {
      name: 'anchor',
      image: 'registry.k8s.io/pause:3.10',
      securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 65535 },
    },
  ],
};

test('every abuse the RBAC role alone allows is denied for the functions’ token; a proper anchor is admitted', async () => {
  const ns = guard.ns;
  // Objects the abuses aim at, made by the admin: a workload pod, a kube-system pod, a running
  // restore group (its pod and Job are selected but not recorded), a PVC.
  const workload = await guard.createPod('workload', { labels: { app: 'db' } });
  await guard.kube.create(
    `/api/v1/namespaces/${ADMIN_NS}/pods`,
    bad('system-pod', { containers: [{ name: 'c', image: 'x' }] }),
  );
  const g = await guard.createRestoreGroup({ replicas: 1, claims: true });
  const restorePod = await waitFor('the restore pod', async () => {
    const [p] = await guard.pods(`${L.group}=${g.name},!${L.anchorFor}`);
    return p?.status?.phase === 'Running' ? p : undefined;
  });
  const job = g.jobNames[0]!;
  const pvc = g.claimNames[0]!;

  const privileged = bad(
    'root',
    {
      hostPID: true,
      hostNetwork: true,
      volumes: [{ name: 'root', hostPath: { path: '/' } }],
      containers: [
        {
          name: 'c',
          image: 'alpine',
          command: ['nsenter', '-t', '1', '-m', 'sh'],
          securityContext: { privileged: true },
          volumeMounts: [{ name: 'root', mountPath: '/host' }],
        },
      ],
    },
    anchorLabels('g'),
  );
  const merge = 'application/merge-patch+json';
  const abuses: [string, () => Promise<{ status: number; text: string }>][] = [
    [
      'privileged hostPID hostPath pod in kube-system',
      () => sa.call('POST', `/api/v1/namespaces/${ADMIN_NS}/pods`, privileged),
    ],
    [
      'privileged hostPID hostPath pod labelled as an anchor',
      () => sa.call('POST', `/api/v1/namespaces/${ns}/pods`, privileged),
    ],
    [
      'anchor-shaped pod with a hostPath volume',
      () =>
        sa.call('POST', `/api/v1/namespaces/${ns}/pods`, {
          ...bad('a1', { ...anchorSpec, volumes: [{ name: 'h', hostPath: { path: '/etc' } }] }, anchorLabels('g')),
        }),
    ],
    [
      'anchor-shaped pod running another image with a command',
      () =>
        sa.call(
          'POST',
          `/api/v1/namespaces/${ns}/pods`,
          bad(
            'a2',
            {
              ...anchorSpec,
              containers: [{ ...anchorSpec.containers[0]!, image: 'alpine', command: ['sh', '-c', 'x'] }],
            },
            anchorLabels('g'),
          ),
        ),
    ],
    [
      'anchor-shaped pod with the ServiceAccount token mounted',
      () =>
        sa.call(
          'POST',
          `/api/v1/namespaces/${ns}/pods`,
          bad('a3', { ...anchorSpec, automountServiceAccountToken: true }, anchorLabels('g')),
        ),
    ],
    ['pod without anchor labels', () => sa.call('POST', `/api/v1/namespaces/${ns}/pods`, bad('plain', anchorSpec))],
    [
      "patch a workload pod's image",
      () =>
        sa.call(
          'PATCH',
          `/api/v1/namespaces/${ns}/pods/${workload}`,
          { spec: { containers: [{ name: 'main', image: 'evil' }] } },
          'application/strategic-merge-patch+json',
        ),
    ],
    [
      "patch a restore pod's image",
      () =>
        sa.call(
          'PATCH',
          `/api/v1/namespaces/${ns}/pods/${restorePod.metadata.name}`,
          { spec: { containers: [{ name: restorePod.spec.containers[0].name, image: 'evil' }] } },
          'application/strategic-merge-patch+json',
        ),
    ],
    [
      "patch a workload pod's labels",
      () =>
        sa.call(
          'PATCH',
          `/api/v1/namespaces/${ns}/pods/${workload}`,
          { metadata: { labels: { app: 'other' } } },
          merge,
        ),
    ],
    [
      "patch a workload pod with restore-guard's own label",
      () =>
        sa.call(
          'PATCH',
          `/api/v1/namespaces/${ns}/pods/${workload}`,
          { metadata: { labels: { [L.state]: 'x' } } },
          merge,
        ),
    ],
    [
      "patch a restore pod's foreign label",
      () =>
        sa.call(
          'PATCH',
          `/api/v1/namespaces/${ns}/pods/${restorePod.metadata.name}`,
          { metadata: { labels: { 'app.kubernetes.io/instance': 'x' } } },
          merge,
        ),
    ],
    [
      'patch a kube-system pod',
      () =>
        sa.call(
          'PATCH',
          `/api/v1/namespaces/${ADMIN_NS}/pods/system-pod`,
          { metadata: { annotations: { [L.outcome]: '{}' } } },
          merge,
        ),
    ],
    ['delete a workload pod', () => sa.call('DELETE', `/api/v1/namespaces/${ns}/pods/${workload}`)],
    ['delete a kube-system pod', () => sa.call('DELETE', `/api/v1/namespaces/${ADMIN_NS}/pods/system-pod`)],
    [
      'delete a running restore pod not recorded',
      () => sa.call('DELETE', `/api/v1/namespaces/${ns}/pods/${restorePod.metadata.name}`),
    ],
    [
      'create an arbitrary Job',
      () =>
        sa.call('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name: 'miner' },
          spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'miner' }] } } },
        }),
    ],
    [
      'create a privileged hostPath Job dressed as a retry',
      () =>
        sa.call('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: {
            name: `${job}-retry-1`,
            labels: { [L.group]: g.name },
            annotations: { [L.attempt]: '2', [`${DOMAIN}/retry-of`]: job, [`${DOMAIN}/root-job`]: job },
          },
          spec: {
            template: {
              metadata: { labels: { [L.group]: g.name } },
              spec: {
                restartPolicy: 'Never',
                hostPID: true,
                volumes: [{ name: 'h', hostPath: { path: '/' } }],
                containers: [{ name: 'c', image: 'x', securityContext: { privileged: true } }],
              },
            },
          },
        }),
    ],
    [
      "patch a restore Job's spec",
      () =>
        sa.call('PATCH', `/apis/batch/v1/namespaces/${ns}/jobs/${job}`, { spec: { activeDeadlineSeconds: 1 } }, merge),
    ],
    [
      "patch a restore Job's foreign annotation",
      () =>
        sa.call(
          'PATCH',
          `/apis/batch/v1/namespaces/${ns}/jobs/${job}`,
          { metadata: { annotations: { a: 'b' } } },
          merge,
        ),
    ],
    [
      'delete a running restore Job not recorded',
      () => sa.call('DELETE', `/apis/batch/v1/namespaces/${ns}/jobs/${job}`),
    ],
    [
      "patch a PVC's labels",
      () =>
        sa.call(
          'PATCH',
          `/api/v1/namespaces/${ns}/persistentvolumeclaims/${pvc}`,
          { metadata: { labels: { a: 'b' } } },
          merge,
        ),
    ],
    [
      "patch a PVC's foreign annotation",
      () =>
        sa.call(
          'PATCH',
          `/api/v1/namespaces/${ns}/persistentvolumeclaims/${pvc}`,
          { metadata: { annotations: { 'volume.kubernetes.io/selected-node': 'rig-node-2' } } },
          merge,
        ),
    ],
    [
      'create an Event in kube-system',
      () =>
        sa.call('POST', `/api/v1/namespaces/${ADMIN_NS}/events`, {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: 'x' },
          involvedObject: { kind: 'Pod', name: 'system-pod', namespace: ADMIN_NS },
          reason: 'X',
          message: 'x',
        }),
    ],
  ];
  // Each policy takes effect once the API server has loaded it (its own informer, no order among
  // the three): wait until each denies a dry run of one of its abuses. A dry run passes admission
  // and persists nothing, so a policy not loaded yet changes nothing.
  const dryRun: [string, string, unknown][] = [
    ['restore-guard-pods', `/api/v1/namespaces/${ADMIN_NS}/pods`, privileged],
    [
      'restore-guard-jobs',
      `/apis/batch/v1/namespaces/${ns}/jobs`,
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'probe' },
        spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] } } },
      },
    ],
    [
      'restore-guard-claims-and-events',
      `/api/v1/namespaces/${ADMIN_NS}/events`,
      {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'probe' },
        involvedObject: { kind: 'Pod', name: 'system-pod', namespace: ADMIN_NS },
        reason: 'X',
        message: 'x',
      },
    ],
  ];
  for (const [policy, coll, body] of dryRun) {
    await waitFor(`the policy ${policy} is in force`, async () => {
      const r = await sa.call('POST', `${coll}?dryRun=All`, body);
      return r.status === 403 && r.text.includes(policy);
    });
  }
  const admitted: string[] = [];
  for (const [what, run] of abuses) {
    const r = await run();
    if (r.status !== 403 || !r.text.includes('ValidatingAdmissionPolicy'))
      admitted.push(`${what}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  }
  assert.equal(admitted, [], 'every abuse is denied by a policy');
  // Nothing changed: the workload pod is there with its image and labels.
  const w = await guard.pod(workload);
  assert.is(w.metadata.labels.app, 'db');
  assert.ok(await guard.kube.find(`/api/v1/namespaces/${ADMIN_NS}/pods/system-pod`));
  assert.not.ok(await guard.kube.find(`/api/v1/namespaces/${ADMIN_NS}/pods/root`));
  await guard.kube.del(`/api/v1/namespaces/${ADMIN_NS}/pods/system-pod`);

  // The control: the policies admit what buildAnchor makes.
  const ok = await sa.call(
    'POST',
    `/api/v1/namespaces/${ns}/pods`,
    bad('proper-anchor', anchorSpec, anchorLabels(g.name)),
  );
  assert.is(ok.status, 201, ok.text.slice(0, 300));
  assert.is((await sa.call('DELETE', `/api/v1/namespaces/${ns}/pods/proper-anchor`)).status, 200, 'and its delete');
});

test('a whole chain runs under the policies: anchors, records, Events, a retry Job and release, no write refused', async () => {
  const g = await guard.createRestoreGroup({ replicas: 2, runMs: 800, claims: true });
  const r = await guard.createRestoreGroup({ replicas: 1, retry: true, backoffLimit: 0, exitCode: 1, runMs: 300 });
  await waitFor('Jobs recorded', async () =>
    (await Promise.all(g.jobNames.map((j) => guard.job(j)))).every(
      (j) => condition(j, 'Complete') && j.metadata.labels[L.state] === 'succeeded',
    ),
  );
  const retryJob = `${r.jobNames[0]}-retry-1`;
  await waitFor('the retry Job', async () => (await guard.jobs()).some((j) => j.metadata.name === retryJob));
  await waitFor('anchors released', async () => (await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length === 0);
  assert.is(guard.observer.anchors(g.name).length, 2, 'two anchors were created');
  assert.ok((await guard.pvc(g.claimNames[0]!)).metadata.annotations[L.outcome], 'PVC record written');
  const refused = guard.logs.filter((l) => /ValidatingAdmissionPolicy|denied request|403/.test(String(l.error ?? '')));
  assert.equal(refused, [], 'no write of the chain was refused');
});

test.run();
