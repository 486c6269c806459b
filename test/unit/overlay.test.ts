/**
 * overlays/namespaced: restore-guard confined to listed namespaces. Built with the test builder
 * (test/support/kustomize.ts; CI has no kustomize binary): the ClusterRoleBindings are gone, each
 * identity has a RoleBinding to its ClusterRole in each listed namespace, the ApiServerSources watch
 * exactly those namespaces, and everything else is the base unchanged.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join, resolve } from 'node:path';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { build } from '../support/kustomize.ts';
import type { Doc } from '../support/kustomize.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const base = build(join(ROOT, 'eventing'));
const overlay = build(join(ROOT, 'overlays/namespaced'));
const id = (d: Doc) => `${d.kind} ${d.metadata.namespace ?? ''}/${d.metadata.name}`;

test('the base builds to the files of eventing/', () => {
  assert.ok(base.length > 20);
  assert.ok(base.some((d) => d.kind === 'ClusterRoleBinding' && d.metadata.name === 'restore-guard'));
});

test('no ClusterRoleBinding; a RoleBinding per identity and listed namespace, to its ClusterRole', () => {
  assert.equal(
    overlay.filter((d) => d.kind === 'ClusterRoleBinding'),
    [],
  );
  const roles = base.filter((d) => d.kind === 'ClusterRole').map((d) => d.metadata.name);
  const rbs = overlay.filter((d) => d.kind === 'RoleBinding');
  const namespaces = [...new Set(rbs.map((r) => r.metadata.namespace!))].sort();
  assert.ok(namespaces.length > 0);
  for (const ns of namespaces) {
    for (const sa of ['restore-guard', 'restore-guard-source']) {
      const rb = rbs.find((r) => r.metadata.namespace === ns && r.metadata.name === sa);
      assert.ok(rb, `${sa} in ${ns}`);
      new RoleBinding(rb as never).validate();
      assert.equal(rb!.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sa });
      assert.equal(rb!.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: 'restore-guard' }]);
      assert.ok(roles.includes(sa), 'the ClusterRole it names is still there');
    }
  }
  // The sources watch exactly the namespaces with bindings.
  for (const src of overlay.filter((d) => d.kind === 'ApiServerSource')) {
    const sel = (
      src.spec as { namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] } }
    ).namespaceSelector;
    assert.equal(sel.matchExpressions.length, 1, id(src));
    const [e] = sel.matchExpressions;
    assert.is(e!.key, 'kubernetes.io/metadata.name');
    assert.is(e!.operator, 'In');
    assert.equal([...e!.values].sort(), namespaces, id(src));
  }
});

test('everything else is the base, unchanged', () => {
  const changed = new Set(['ClusterRoleBinding', 'RoleBinding', 'ApiServerSource']);
  const rest = (ds: Doc[]) => ds.filter((d) => !changed.has(d.kind));
  assert.equal(rest(overlay), rest(base));
  const strip = (d: Doc) => ({ ...d, spec: { ...(d.spec as object), namespaceSelector: null } });
  assert.equal(
    overlay.filter((d) => d.kind === 'ApiServerSource').map(strip),
    base.filter((d) => d.kind === 'ApiServerSource').map(strip),
  );
});

test('the builder refuses what it does not know, and patches that miss', () => {
  assert.throws(() => build(join(ROOT, 'test/fixtures/kustomize/unknown-field')), /does not know: namePrefix/);
  assert.throws(() => build(join(ROOT, 'test/fixtures/kustomize/missing-target')), /not among the resources/);
});

test.run();
