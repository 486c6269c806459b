// RBAC on the real API server: restore-guard's functions run as the ServiceAccount of eventing/rbac.yaml
// (restore-guard/restore-guard, token from the TokenRequest API), never as admin. It can do its work
// (the other integration tests; here a short group end to end) and is refused writes outside it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { Kube } from '../rig/index.ts';
import {
  FUNCTIONS_SA,
  L,
  RG_NAMESPACE,
  condition,
  readManifests,
  startChain,
  waitFor,
  type Chain,
} from '../support/chain.ts';

let guard: Chain;
let sa: Kube;

test.before(async () => {
  guard = await startChain({ mode: 'guard' });
  const token = /token: (\S+)/.exec(fs.readFileSync(guard.saKubeconfig!, 'utf8'))?.[1];
  assert.ok(token, "the functions' kubeconfig carries a token");
  sa = new Kube(guard.rig.server, { ca: fs.readFileSync(guard.rig.caFile), token });
});

test.after(async () => {
  await guard?.teardown();
});

test('the functions authenticate as the ServiceAccount restore-guard/restore-guard', async () => {
  const review = await sa.post('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
  });
  assert.is(review.status.userInfo.username, `system:serviceaccount:${RG_NAMESPACE}:${FUNCTIONS_SA}`);
  assert.not.ok((review.status.userInfo.groups as string[]).includes('system:masters'));
});

test('it does its work as that ServiceAccount: anchors, records, release', async () => {
  const g = await guard.createRestoreGroup({ replicas: 2, runMs: 500, claims: true });
  await waitFor('Jobs recorded', async () =>
    (await Promise.all(g.jobNames.map((j) => guard.job(j)))).every(
      (j) => condition(j, 'Complete') && j.metadata.labels[L.state] === 'succeeded',
    ),
  );
  await waitFor('anchors released', async () => (await guard.pods(`${L.group}=${g.name},${L.anchorFor}`)).length === 0);
  assert.is(guard.observer.anchors(g.name).length, 2, 'two anchors were created');
  assert.ok((await guard.pvc(g.claimNames[0]!)).metadata.annotations[L.outcome], 'PVC record written');
  const refused = guard.logs.filter((l) => String(l.error ?? '').includes('403'));
  assert.equal(refused, [], 'no request of the chain was refused');
});

test('every verb of eventing/rbac.yaml is granted, and nothing beyond', async () => {
  const role = readManifests('rbac.yaml').find(
    (m) => m.kind === 'ClusterRole' && m.metadata.name === 'restore-guard',
  ) as any;
  const can = async (attrs: Record<string, string>) => {
    const r = await sa.post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { namespace: guard.ns, ...attrs } },
    });
    return r.status.allowed === true;
  };
  for (const rule of role.rules) {
    for (const resource of rule.resources as string[]) {
      const [res, sub] = resource.split('/');
      for (const verb of rule.verbs as string[]) {
        assert.ok(
          await can({ group: rule.apiGroups[0], resource: res!, ...(sub ? { subresource: sub } : {}), verb }),
          `${verb} ${resource} allowed`,
        );
      }
    }
  }
  for (const [verb, resource, group] of [
    ['watch', 'pods', ''],
    ['update', 'pods', ''],
    ['deletecollection', 'pods', ''],
    ['get', 'secrets', ''],
    ['create', 'configmaps', ''],
    ['update', 'jobs', 'batch'],
    ['patch', 'nodes', ''],
  ] as const) {
    assert.not.ok(await can({ group, resource, verb }), `${verb} ${group ? `${group}/` : ''}${resource} denied`);
  }
});

test('a write outside its role is refused with 403', async () => {
  const cm = await sa.call('POST', `/api/v1/namespaces/${guard.ns}/configmaps`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'x' },
    data: { a: 'b' },
  });
  assert.is(cm.status, 403, 'create ConfigMap');
  await guard.kube.post(`/api/v1/namespaces/${guard.ns}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db-credentials' },
    stringData: { password: 'x' },
  });
  const del = await sa.call('DELETE', `/api/v1/namespaces/${guard.ns}/secrets/db-credentials`);
  assert.is(del.status, 403, 'delete Secret');
  assert.ok(
    await guard.kube.find(`/api/v1/namespaces/${guard.ns}/secrets/db-credentials`),
    'the Secret is still there',
  );
  const read = await sa.call('GET', `/api/v1/namespaces/${guard.ns}/secrets/db-credentials`);
  assert.is(read.status, 403, 'read Secret');
  const node = await sa.call(
    'PATCH',
    '/api/v1/nodes/rig-node-1',
    { metadata: { labels: { x: 'y' } } },
    'application/merge-patch+json',
  );
  assert.is(node.status, 403, 'patch Node');
});

test.run();
