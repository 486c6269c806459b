/**
 * RBAC derived from the code: every Cluster call in functions/ (cluster.get/list/create/patch/
 * delete/logs with a literal kind, and the write guard's own reads) maps to a resource and verbs,
 * and the functions' ServiceAccount in eventing/rbac.yaml must be granted exactly that set:
 * every verb the code calls, and nothing more. The source's ServiceAccount must be read-only and
 * cover what the ApiServerSource watches.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { RESOURCES, VERBS } from '../../functions/core/kube/cluster.ts';
import type { Cluster, Kind } from '../../functions/core/kube/cluster.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const FUNCTIONS = join(ROOT, 'functions');
const EVENTING = join(ROOT, 'eventing');
const NAMESPACE = 'restore-guard';

type Method = keyof Cluster;
/** `group/resource:verb`, the core group written as an empty group. */
type Grant = string;
const grant = (group: string, resource: string, verb: string): Grant => `${group}/${resource}:${verb}`;

function tsFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? tsFiles(p) : f.endsWith('.ts') ? [p] : [];
    });
}

interface Call {
  file: string;
  method: Method;
  kind: Kind | null;
}

/**
 * The calls in the source. A literal kind is read from the call; `logs` always reads pods/log.
 * The write guard (functions/core/restore/write-guard.ts) also calls `inner.get(kind, …)` with a kind it does not
 * spell: before a patch or delete it reads the live Pod or Job (the only kinds it lets through),
 * and before creating an Event it reads the Event's involved object, a Job or a Pod (labeling's
 * outcome Event). Those reads are Pod and Job gets.
 */
function scan(files: string[]): Call[] {
  const calls: Call[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const rel = relative(ROOT, file);
    for (const m of text.matchAll(/\b(?:cluster|inner)\.(get|list|create|patch|delete)\(\s*'(\w+)'/g)) {
      const kind = m[2]!;
      if (!(kind in RESOURCES)) throw new Error(`${rel}: ${m[0]} names a kind missing from RESOURCES`);
      calls.push({ file: rel, method: m[1] as Method, kind: kind as Kind });
    }
    for (const _ of text.matchAll(/\bcluster\.logs\(/g)) calls.push({ file: rel, method: 'logs', kind: null });
    for (const _ of text.matchAll(/\binner\.get\(\s*(?!'|\.\.\.)/g)) {
      calls.push({ file: rel, method: 'get', kind: 'Pod' }, { file: rel, method: 'get', kind: 'Job' });
    }
  }
  return calls;
}

/** What the calls need, through VERBS (create also reads back an existing object). */
function needed(calls: Call[]): Set<Grant> {
  const out = new Set<Grant>();
  for (const c of calls) {
    if (c.method === 'logs') {
      for (const v of VERBS.logs) out.add(grant('', 'pods/log', v));
      continue;
    }
    const r = RESOURCES[c.kind!];
    for (const v of VERBS[c.method]) out.add(grant(r.group, r.plural, v));
  }
  return out;
}

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  spec?: Record<string, unknown>;
}

function docs(): Doc[] {
  return readdirSync(EVENTING)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(EVENTING, f), 'utf8')).map((d) => d.toJS() as Doc | null))
    .filter((d): d is Doc => d !== null && typeof d.kind === 'string');
}

/** Every grant a ServiceAccount holds through the (Cluster)RoleBindings in eventing/. */
function grantsOf(all: Doc[], serviceAccount: string): { grants: Set<Grant>; rules: Rule[] } {
  const rules: Rule[] = [];
  for (const b of all.filter((d) => d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding')) {
    const bound = b.subjects?.some(
      (s) =>
        s.kind === 'ServiceAccount' && s.name === serviceAccount && (s.namespace ?? b.metadata.namespace) === NAMESPACE,
    );
    if (!bound) continue;
    const role = all.find((d) => d.kind === b.roleRef!.kind && d.metadata.name === b.roleRef!.name);
    if (!role)
      throw new Error(`${b.kind} ${b.metadata.name} refers to a missing ${b.roleRef!.kind} ${b.roleRef!.name}`);
    rules.push(...(role.rules ?? []));
  }
  const grants = new Set<Grant>();
  for (const r of rules) {
    for (const g of r.apiGroups ?? [])
      for (const res of r.resources ?? []) for (const v of r.verbs) grants.add(grant(g, res, v));
  }
  return { grants, rules };
}

function compare(want: Set<Grant>, have: Set<Grant>): { missing: Grant[]; extra: Grant[] } {
  return { missing: [...want].filter((g) => !have.has(g)).sort(), extra: [...have].filter((g) => !want.has(g)).sort() };
}

const calls = scan(tsFiles(FUNCTIONS));
const all = docs();

test('the scan finds the calls the functions make', () => {
  const seen = new Set(calls.map((c) => `${c.method} ${c.kind ?? 'pods/log'}`));
  for (const expected of [
    'get Pod',
    'list Pod',
    'create Pod',
    'patch Pod',
    'delete Pod',
    'get Job',
    'list Job',
    'create Job',
    'patch Job',
    'delete Job',
    'get PersistentVolumeClaim',
    'patch PersistentVolumeClaim',
    'create Event',
    'get Restore',
    'logs pods/log',
  ]) {
    assert.ok(seen.has(expected), `no ${expected} call found: has the code changed, or the scan broken?`);
  }
});

test('create needs get: AlreadyExists reads the existing object back (rest-cluster.ts), and dry-run reads first', () => {
  const kube = readFileSync(join(FUNCTIONS, 'core/kube/rest-cluster.ts'), 'utf8');
  const create = kube.slice(kube.indexOf('async create('), kube.indexOf('async patch('));
  assert.match(create, /r\.status === 409/);
  assert.match(create, /api\.get\(kind/);
  assert.ok(VERBS.create.includes('get'));
});

test("the functions' ServiceAccount is granted exactly the verbs the code uses", () => {
  const { grants } = grantsOf(all, 'restore-guard');
  const diff = compare(needed(calls), grants);
  assert.equal(diff, { missing: [], extra: [] });
});

test("the functions' rules name no wildcard, no resourceNames and no non-resource URLs", () => {
  const { rules } = grantsOf(all, 'restore-guard');
  assert.ok(rules.length > 0);
  for (const r of rules) {
    const words = [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs];
    assert.not.ok(words.includes('*'), JSON.stringify(r));
    assert.is(r.nonResourceURLs, undefined);
    assert.is(r.resourceNames, undefined);
  }
});

test('the comparison fails on a missing verb and on an extra one', () => {
  const want = needed(calls);
  const have = new Set(want);
  have.delete(grant('', 'pods', 'delete'));
  have.add(grant('', 'secrets', 'get'));
  assert.equal(compare(want, have), { missing: [grant('', 'pods', 'delete')], extra: [grant('', 'secrets', 'get')] });
});

test("the source's ServiceAccount is read-only and covers every resource the ApiServerSource watches", () => {
  const sources = all.filter((d) => d.kind === 'ApiServerSource');
  assert.ok(sources.length > 0, 'no ApiServerSource in eventing/');
  const specs = sources.map(
    (src) => src.spec as { serviceAccountName: string; resources: { apiVersion: string; kind: string }[] },
  );
  for (const spec of specs) assert.is(spec.serviceAccountName, 'restore-guard-source');
  const { grants, rules } = grantsOf(all, 'restore-guard-source');
  assert.ok(rules.length > 0);
  for (const g of grants) assert.ok(/:(get|list|watch)$/.test(g), `source may ${g}`);
  const want = new Set<Grant>();
  for (const r of specs.flatMap((spec) => spec.resources)) {
    const group = r.apiVersion.includes('/') ? r.apiVersion.split('/')[0]! : '';
    // Knative's access check guesses the resource as the lower-cased plural of the kind.
    const resource = `${r.kind.toLowerCase()}s`;
    for (const v of ['get', 'list', 'watch']) want.add(grant(group, resource, v));
  }
  assert.equal(compare(want, grants), { missing: [], extra: [] });
});

test('every ServiceAccount the bindings name exists in eventing/, in its namespace', () => {
  const accounts = new Set(
    all.filter((d) => d.kind === 'ServiceAccount').map((d) => `${d.metadata.namespace}/${d.metadata.name}`),
  );
  const bound = all.filter((d) => d.kind.endsWith('RoleBinding')).flatMap((b) => b.subjects ?? []);
  assert.ok(bound.length >= 2);
  for (const s of bound)
    assert.ok(accounts.has(`${s.namespace}/${s.name}`), `${s.namespace}/${s.name} is bound but not defined`);
  assert.ok(accounts.has(`${NAMESPACE}/restore-guard`));
  assert.ok(accounts.has(`${NAMESPACE}/restore-guard-source`));
});

test.run();
