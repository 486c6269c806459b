import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  anchorAntiAffinity,
  anchorLabels,
  anchorName,
  anchorOwner,
  buildAnchor,
  constraintOf,
  memberOf,
  selectorKeys,
} from '../../functions/core/restore/anchors.ts';
import { loadConfig } from '../../functions/core/config.ts';
import { createSelector } from '../../functions/core/restore/selection.ts';
import type { KubeObject, Pod } from '../../functions/core/kube/objects.ts';
import { restorePod } from '../support/objects.ts';

const cfg = loadConfig({});
const sel = (p: Pod) => createSelector(cfg).selectPod(p)!;

test('selector keys: required and preferred (anti-)affinity, matchLabelKeys, topology spread', () => {
  const pod = restorePod();
  pod.spec.affinity = {
    podAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 1, podAffinityTerm: { labelSelector: { matchLabels: { zoneish: 'x' } }, topologyKey: 'z' } },
      ],
    },
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          labelSelector: {
            matchExpressions: [{ key: 'app.kubernetes.io/instance', operator: 'In', values: ['mysql'] }],
          },
          topologyKey: 'kubernetes.io/hostname',
          matchLabelKeys: ['apps.kubeblocks.io/component-name'],
        },
      ],
    },
  };
  pod.spec.topologySpreadConstraints = [
    { labelSelector: { matchLabels: { tier: 'db' } }, matchLabelKeys: ['pod-template-hash'], topologyKey: 'zone' },
  ];
  assert.equal(selectorKeys(pod.spec), [
    'app.kubernetes.io/instance',
    'apps.kubeblocks.io/component-name',
    'pod-template-hash',
    'tier',
    'zoneish',
  ]);
});

test("anchor labels: the pod's labels its selectors use (never the Job controller's), ours, the constraint and the member", () => {
  const pod = restorePod();
  pod.spec.affinity!.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution![0]!.labelSelector!.matchLabels![
    'job-name'
  ] = 'restore-0';
  const constraint = constraintOf(pod)!;
  assert.match(constraint, /^[0-9a-f]{16}$/);
  assert.equal(anchorLabels(pod, sel(pod), 'restoreguard.dev'), {
    'app.kubernetes.io/instance': 'mysql',
    'dataprotection.kubeblocks.io/restore': 'mysql-restore',
    'restoreguard.dev/anchor-for': 'restore-0-abcde',
    'restoreguard.dev/group': 'mysql-restore',
    'restoreguard.dev/constraint': constraint,
    'restoreguard.dev/anchor-member': 'restore-0',
  });
  // every member of the component shares the constraint; another topology is another constraint
  const sibling = restorePod({ name: 'restore-1-x', job: 'restore-1', group: 'other-restore' });
  sibling.spec.affinity = pod.spec.affinity;
  assert.is(constraintOf(sibling), constraint);
  const elsewhere = restorePod();
  elsewhere.spec.affinity!.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution![0]!.topologyKey = 'zone';
  assert.is.not(constraintOf(elsewhere), constraint);
});

test("the anchor's anti-affinity: the pod's terms, its own member excluded by its member label", () => {
  const pod = restorePod({ labels: { 'apps.kubeblocks.io/pod-name': 'mysql-mysql-0' } });
  const term = pod.spec.affinity!.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution![0]!;
  term.matchLabelKeys = ['dataprotection.kubeblocks.io/restore'];
  assert.equal(memberOf(pod, 'restoreguard.dev'), { key: 'apps.kubeblocks.io/pod-name', value: 'mysql-mysql-0' });
  assert.equal(anchorAntiAffinity(pod, 'restoreguard.dev'), {
    requiredDuringSchedulingIgnoredDuringExecution: [
      {
        labelSelector: {
          matchLabels: { 'app.kubernetes.io/instance': 'mysql' },
          matchExpressions: [
            { key: 'dataprotection.kubeblocks.io/restore', operator: 'Exists' },
            { key: 'dataprotection.kubeblocks.io/restore', operator: 'In', values: ['mysql-restore'] },
            { key: 'apps.kubeblocks.io/pod-name', operator: 'NotIn', values: ['mysql-mysql-0'] },
          ],
        },
        topologyKey: 'kubernetes.io/hostname',
      },
    ],
  });
  // without KubeBlocks' pod name: our member label, else the Job's name
  const generic = restorePod({ profile: 'generic', job: 'pg-0' });
  assert.equal(memberOf(generic, 'restoreguard.dev'), { key: 'batch.kubernetes.io/job-name', value: 'pg-0' });
  const labelled = restorePod({ profile: 'generic', labels: { 'restoreguard.dev/member': 'pg-0' } });
  assert.equal(memberOf(labelled, 'restoreguard.dev'), { key: 'restoreguard.dev/member', value: 'pg-0' });
  const anchor = buildAnchor(pod, sel(pod), cfg, [])!;
  assert.equal((anchor.spec as { affinity?: unknown }).affinity, {
    podAntiAffinity: anchorAntiAffinity(pod, 'restoreguard.dev'),
  });
});

test('no anchor without inter-pod rules or without a node; a pod not matching its own selector still repels what it repels', () => {
  const none = restorePod({ antiAffinity: false });
  assert.is(buildAnchor(none, sel(none), cfg, []), null);
  const unbound = restorePod({ node: null });
  assert.is(buildAnchor(unbound, sel(unbound), cfg, []), null);
  const other = restorePod();
  other.spec.affinity!.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution![0]!.labelSelector = {
    matchLabels: { absent: 'x' },
  };
  const a = buildAnchor(other, sel(other), cfg, [])!;
  assert.ok(a, 'an anchor: a live pod repels the pods its required anti-affinity names');
  assert.equal(
    (a.spec as any).affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector
      .matchLabels,
    { absent: 'x' },
  );
});

test('anchor names are deterministic and valid even for long pod names', () => {
  assert.is(anchorName('restore-0-abcde'), 'restore-0-abcde-anchor');
  const long = anchorName('restore-preparedata-9e2b1a7c-pg-cluster-postgresql-0-x2k9q-and-more');
  assert.ok(long.length <= 63, long);
  assert.match(long, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.is(long, anchorName('restore-preparedata-9e2b1a7c-pg-cluster-postgresql-0-x2k9q-and-more'));
  assert.is.not(long, anchorName('restore-preparedata-9e2b1a7c-pg-cluster-postgresql-0-x2k9q-and-mora'));
});

test("owner: the group's owner as controller, else the Job as a plain owner", () => {
  const job: KubeObject = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', uid: 'uj' } };
  const restore: KubeObject = {
    apiVersion: 'dataprotection.kubeblocks.io/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'r', uid: 'ur' },
  };
  assert.equal(
    anchorOwner(restore, job).map((r) => [r.kind, r.controller, r.blockOwnerDeletion]),
    [['Restore', true, false]],
  );
  assert.equal(
    anchorOwner(null, job).map((r) => [r.kind, r.controller]),
    [['Job', false]],
  );
  assert.equal(anchorOwner(null, null), []);
  // A Job the TTL controller deletes once finished would take its anchor along: no owner then.
  assert.equal(anchorOwner(null, { ...job, spec: { ttlSecondsAfterFinished: 0 } }), []);
});

test.run();
