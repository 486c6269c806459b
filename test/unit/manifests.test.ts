/**
 * Every manifest in eventing/ against its schema, and func.yaml against knative/func's.
 *
 * - Schema: each document is loaded into its kubernetes-models / @kubernetes-models/knative model
 *   and `.validate()`d (types, required fields, enums). Those schemas allow unknown fields, which
 *   a cluster rejects: the API server's strict field validation for core kinds, and for Knative
 *   kinds its validation webhook (knative/eventing cmd/webhook: disallowUnknownFields true; the
 *   CRDs themselves preserve unknown fields, so a server-side dry run without the webhook accepts
 *   `spec.filterz`). So an extra check walks every field against the model's declared properties
 *   (its .d.ts).
 * - Knative's own admission rules that a schema cannot say (from knative/eventing's
 *   *_validation.go): filter dialects one at a time, attribute names, relative `uri` with a `ref`,
 *   ISO 8601 delays, cron schedule, Resource mode, references that resolve.
 * - The ApiServerSource's selectors select exactly what functions/core/restore/selection.ts selects.
 * - func.yaml: the fields and patterns of knative/func's schema/func_yaml-schema.json (draft-04,
 *   additionalProperties false throughout), its validation rules (scale.max ≥ scale.min), and
 *   this project's facts: the env vars parse with ConfigSchema, the health paths answer, the
 *   build and start scripts exist.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import * as z from 'zod';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Broker } from '@kubernetes-models/knative/eventing.knative.dev/v1/Broker';
import { Trigger } from '@kubernetes-models/knative/eventing.knative.dev/v1/Trigger';
import { ApiServerSource } from '@kubernetes-models/knative/sources.knative.dev/v1/ApiServerSource';
import { PingSource } from '@kubernetes-models/knative/sources.knative.dev/v1/PingSource';
import { Service } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import { EventPolicy } from '@kubernetes-models/knative/eventing.knative.dev/v1alpha1/EventPolicy';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
import { ValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding';
import { matchesSelector } from '../../functions/core/kube/cluster.ts';
import { ConfigSchema, loadConfig } from '../../functions/core/config.ts';
import { createLogger } from '../../functions/core/log.ts';
import { createSelector } from '../../functions/core/restore/selection.ts';
import { createServer } from '../../functions/server.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const EVENTING = join(ROOT, 'eventing');
const NAMESPACE = 'restore-guard';

// ---------------------------------------------------------------------------------------------
// Models

interface Validatable {
  validate(): void;
}
type ModelCtor = new (data: never) => Validatable;
const KNATIVE = join(ROOT, 'node_modules/@kubernetes-models/knative');
const K8S = join(ROOT, 'node_modules/kubernetes-models');
/** apiVersion/kind → the model class and the .d.ts that declares its fields. */
const MODELS: Record<string, { model: ModelCtor; dts: string; namespaced: boolean }> = {
  'v1/Namespace': { model: Namespace as never, dts: join(K8S, 'v1/Namespace.d.ts'), namespaced: false },
  'v1/ServiceAccount': { model: ServiceAccount as never, dts: join(K8S, 'v1/ServiceAccount.d.ts'), namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': {
    model: ClusterRole as never,
    dts: join(K8S, 'rbac.authorization.k8s.io/v1/ClusterRole.d.ts'),
    namespaced: false,
  },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    model: ClusterRoleBinding as never,
    dts: join(K8S, 'rbac.authorization.k8s.io/v1/ClusterRoleBinding.d.ts'),
    namespaced: false,
  },
  'rbac.authorization.k8s.io/v1/Role': {
    model: Role as never,
    dts: join(K8S, 'rbac.authorization.k8s.io/v1/Role.d.ts'),
    namespaced: true,
  },
  'rbac.authorization.k8s.io/v1/RoleBinding': {
    model: RoleBinding as never,
    dts: join(K8S, 'rbac.authorization.k8s.io/v1/RoleBinding.d.ts'),
    namespaced: true,
  },
  'eventing.knative.dev/v1/Broker': {
    model: Broker as never,
    dts: join(KNATIVE, 'eventing.knative.dev/v1/Broker.d.ts'),
    namespaced: true,
  },
  'eventing.knative.dev/v1/Trigger': {
    model: Trigger as never,
    dts: join(KNATIVE, 'eventing.knative.dev/v1/Trigger.d.ts'),
    namespaced: true,
  },
  'sources.knative.dev/v1/ApiServerSource': {
    model: ApiServerSource as never,
    dts: join(KNATIVE, 'sources.knative.dev/v1/ApiServerSource.d.ts'),
    namespaced: true,
  },
  'sources.knative.dev/v1/PingSource': {
    model: PingSource as never,
    dts: join(KNATIVE, 'sources.knative.dev/v1/PingSource.d.ts'),
    namespaced: true,
  },
  'serving.knative.dev/v1/Service': {
    model: Service as never,
    dts: join(KNATIVE, 'serving.knative.dev/v1/Service.d.ts'),
    namespaced: true,
  },
  'eventing.knative.dev/v1alpha1/EventPolicy': {
    model: EventPolicy as never,
    dts: join(KNATIVE, 'eventing.knative.dev/v1alpha1/EventPolicy.d.ts'),
    namespaced: true,
  },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: NetworkPolicy as never,
    dts: join(K8S, 'networking.k8s.io/v1/NetworkPolicy.d.ts'),
    namespaced: true,
  },
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': {
    model: ValidatingAdmissionPolicy as never,
    dts: join(K8S, 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy.d.ts'),
    namespaced: false,
  },
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': {
    model: ValidatingAdmissionPolicyBinding as never,
    dts: join(K8S, 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding.d.ts'),
    namespaced: false,
  },
};

/** The fields a kubernetes-models .d.ts declares for its model, with their type text. */
const dtsCache = new Map<string, { props: Map<string, string>; imports: Map<string, string> } | null>();
function declared(file: string): { props: Map<string, string>; imports: Map<string, string> } | null {
  if (dtsCache.has(file)) return dtsCache.get(file)!;
  const text = readFileSync(file, 'utf8');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) imports.set(m[1]!, m[2]!);
  const lines = text.split('\n');
  // The class, not the interface: the class spells out inherited fields (an interface may `extends`).
  const start = lines.findIndex((l) => /^export declare class \w+/.test(l));
  let result: { props: Map<string, string>; imports: Map<string, string> } | null = null;
  if (start >= 0) {
    const props = new Map<string, string>();
    for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('}'); i++) {
      const m = lines[i]!.match(/^ {4}"([^"]+)"\??: (.*)$/);
      if (!m) continue;
      let type = m[2]!;
      if (type === '{') {
        // An inline map type: { [key: string]: T; }
        const inner: string[] = [];
        while (!/^ {4}\};?$/.test(lines[++i]!)) inner.push(lines[i]!.trim());
        type = `{ ${inner.join(' ')} }`;
      }
      props.set(m[1]!, type.replace(/;$/, ''));
    }
    result = { props, imports };
  }
  dtsCache.set(file, result);
  return result;
}

function resolveImport(from: string, spec: string): string {
  const sub = spec.replace(/\.js$/, '');
  if (sub.startsWith('.')) return join(dirname(from), `${sub}.d.ts`);
  const parts = sub.split('/');
  const pkg = parts.slice(0, sub.startsWith('@') ? 2 : 1).join('/');
  const rest = parts.slice(sub.startsWith('@') ? 2 : 1).join('/');
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', pkg, `${rest}.d.ts`);
    if (existsSync(candidate)) return candidate;
    if (dir === dirname(dir)) throw new Error(`cannot resolve ${spec} from ${from}`);
  }
}

/** Unknown fields, as paths: what the API server's strict field validation would reject. */
function unknownFields(value: unknown, file: string, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  const decl = declared(file);
  if (!decl) return [];
  if (Array.isArray(value)) return [];
  const out: string[] = [];
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const type = decl.props.get(key);
    if (type === undefined) {
      out.push(`${path}.${key}`);
      continue;
    }
    out.push(...unknownInType(v, type, file, `${path}.${key}`, decl.imports));
  }
  return out;
}

function unknownInType(v: unknown, type: string, file: string, path: string, imports: Map<string, string>): string[] {
  const arr = type.match(/^Array<(\w+)>$/);
  if (arr)
    return Array.isArray(v) ? v.flatMap((x, i) => unknownInType(x, arr[1]!, file, `${path}[${i}]`, imports)) : [];
  const map = type.match(/^\{ \[key: string\]: (\w+); \}$/);
  if (map) {
    return v && typeof v === 'object'
      ? Object.entries(v).flatMap(([k, x]) => unknownInType(x, map[1]!, file, `${path}.${k}`, imports))
      : [];
  }
  const spec = imports.get(type);
  return spec ? unknownFields(v, resolveImport(file, spec), path) : [];
}

// ---------------------------------------------------------------------------------------------
// The documents

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}
interface Loaded {
  file: string;
  doc: Doc;
}

const manifestFiles = readdirSync(EVENTING)
  .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
  .sort();
const loaded: Loaded[] = manifestFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(join(EVENTING, file), 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return { file, doc: d.toJS() as Doc };
    })
    .filter((x) => x.doc !== null),
);
const of = (kind: string) => loaded.filter((l) => l.doc.kind === kind).map((l) => l.doc);
const id = (d: Doc) => `${d.kind} ${d.metadata?.namespace ? `${d.metadata.namespace}/` : ''}${d.metadata?.name}`;

/** Validates one document: a schema error or an unknown field throws. */
function validateDoc(doc: Doc): void {
  const m = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (!m) throw new Error(`${id(doc)}: no model for ${doc.apiVersion} ${doc.kind}`);
  new m.model(doc as never).validate();
  const unknown = unknownFields(doc, m.dts);
  if (unknown.length) throw new Error(`${id(doc)}: unknown field(s) ${unknown.join(', ')}`);
}

const trigger = (spec: Record<string, unknown>): Doc => ({
  apiVersion: 'eventing.knative.dev/v1',
  kind: 'Trigger',
  metadata: { name: 't', namespace: NAMESPACE },
  spec: {
    broker: 'restore-guard',
    subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'restore-guard' }, uri: '/x' },
    ...spec,
  },
});

test('kustomization.yaml lists every manifest in eventing/, once', () => {
  const k = parse(readFileSync(join(EVENTING, 'kustomization.yaml'), 'utf8')) as {
    apiVersion: string;
    kind: string;
    resources: string[];
  };
  assert.is(k.apiVersion, 'kustomize.config.k8s.io/v1beta1');
  assert.is(k.kind, 'Kustomization');
  assert.equal([...k.resources].sort(), manifestFiles);
  assert.is(new Set(k.resources).size, k.resources.length);
});

test('eventing/ holds what the design names', () => {
  const kinds = loaded.map((l) => l.doc.kind).sort();
  assert.equal(kinds, [
    'ApiServerSource',
    'ApiServerSource',
    'Broker',
    'ClusterRole',
    'ClusterRole',
    'ClusterRoleBinding',
    'ClusterRoleBinding',
    'EventPolicy',
    'Namespace',
    'NetworkPolicy',
    'PingSource',
    'ServiceAccount',
    'ServiceAccount',
    'Trigger',
    'Trigger',
    'Trigger',
    'Trigger',
    'Trigger',
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding',
    'ValidatingAdmissionPolicyBinding',
    'ValidatingAdmissionPolicyBinding',
  ]);
  const names = loaded.map((l) => id(l.doc));
  assert.is(new Set(names).size, names.length, 'duplicate objects');
});

test('every document validates against its model and has no unknown field', () => {
  for (const { file, doc } of loaded) {
    try {
      validateDoc(doc);
    } catch (e) {
      assert.unreachable(`${file}: ${(e as Error).message}`);
    }
  }
});

test('validation fails on bad documents', () => {
  const bad: [string, Doc][] = [
    ['unknown field', trigger({ filterz: [{ exact: { type: 'x' } }] })],
    ['unknown nested field', trigger({ delivery: { retries: 3 } })],
    ['unknown filter dialect', trigger({ filters: [{ regex: { type: 'x' } }] })],
    ['wrong type', trigger({ delivery: { retry: 'five' } })],
    ['missing subscriber', { ...trigger({}), spec: { broker: 'restore-guard' } }],
    ['wrong kind for apiVersion', { ...trigger({}), apiVersion: 'eventing.knative.dev/v1beta1' }],
    [
      'selector not a LabelSelector',
      {
        ...of('ApiServerSource')[0]!,
        spec: {
          ...of('ApiServerSource')[0]!.spec,
          resources: [{ apiVersion: 'v1', kind: 'Pod', selector: { matchExpressions: 'x' } }],
        },
      },
    ],
    [
      'unknown field deep in a LabelSelector',
      {
        ...of('ApiServerSource')[0]!,
        spec: {
          ...of('ApiServerSource')[0]!.spec,
          resources: [
            {
              apiVersion: 'v1',
              kind: 'Pod',
              selector: { matchExpressions: [{ key: 'a', operator: 'Exists', value: 'x' }] },
            },
          ],
        },
      },
    ],
    [
      'unknown field deep in a container',
      {
        apiVersion: 'serving.knative.dev/v1',
        kind: 'Service',
        metadata: { name: 's' },
        spec: {
          template: { spec: { containers: [{ name: 'c', image: 'i', securityContext: { capabilitiez: {} } }] } },
        },
      },
    ],
    [
      'ClusterRole verbs not a list',
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'r' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: 'get' }],
      },
    ],
  ];
  for (const [why, doc] of bad) assert.throws(() => validateDoc(doc), undefined, why);
  validateDoc(trigger({ filters: [{ exact: { type: 'x' } }] })); // the fixture itself is fine
});

// ---------------------------------------------------------------------------------------------
// Knative's admission rules

/** Knative's SubscriptionsAPIFilter validation: one dialect per expression, valid attribute names. */
function filterProblems(f: Record<string, unknown>, path: string): string[] {
  const dialects = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'cesql'].filter((d) => {
    const v = f[d];
    return Array.isArray(v) ? v.length > 0 : v && typeof v === 'object' ? Object.keys(v).length > 0 : Boolean(v);
  });
  const out: string[] = [];
  if (dialects.length !== 1) out.push(`${path}: ${dialects.length} dialects (${dialects}), Knative takes one`);
  for (const d of ['exact', 'prefix', 'suffix'] as const) {
    for (const [k, v] of Object.entries((f[d] ?? {}) as Record<string, string>)) {
      if (!/^[a-z0-9]+$/.test(k)) out.push(`${path}.${d}: attribute name ${k}`);
      if (!v) out.push(`${path}.${d}.${k}: empty value`);
    }
  }
  for (const d of ['all', 'any'] as const)
    for (const [i, x] of ((f[d] ?? []) as Record<string, unknown>[]).entries())
      out.push(...filterProblems(x, `${path}.${d}[${i}]`));
  if (f.not) out.push(...filterProblems(f.not as Record<string, unknown>, `${path}.not`));
  return out;
}

const ISO_DURATION =
  /^P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?$/;

/** Every object a ref points at: in eventing/, or the Knative Service func.yaml deploys. */
function refProblems(
  ref: { apiVersion: string; kind: string; name: string; namespace?: string } | undefined,
  path: string,
): string[] {
  if (!ref) return [];
  const fn = parse(readFileSync(join(ROOT, 'func.yaml'), 'utf8')) as { name: string; namespace: string };
  const known = new Set([
    ...loaded.map((l) => `${l.doc.apiVersion}/${l.doc.kind}/${l.doc.metadata.namespace ?? ''}/${l.doc.metadata.name}`),
    `serving.knative.dev/v1/Service/${fn.namespace}/${fn.name}`,
  ]);
  const key = `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? NAMESPACE}/${ref.name}`;
  return known.has(key) ? [] : [`${path}: ${key} is not defined in eventing/ nor deployed by func.yaml`];
}

interface Destination {
  ref?: { apiVersion: string; kind: string; name: string; namespace?: string };
  uri?: string;
}
function destinationProblems(d: Destination | undefined, path: string): string[] {
  if (!d) return [`${path}: missing`];
  if (!d.ref && !d.uri) return [`${path}: neither ref nor uri`];
  const out = refProblems(d.ref, `${path}.ref`);
  if (d.ref && d.uri && /^[a-z][a-z0-9+.-]*:/i.test(d.uri)) out.push(`${path}.uri: absolute URI with a ref`);
  return out;
}
interface Delivery {
  retry?: number;
  backoffPolicy?: string;
  backoffDelay?: string;
  deadLetterSink?: Destination;
}
function deliveryProblems(d: Delivery | undefined, path: string): string[] {
  if (!d) return [];
  const out: string[] = [];
  if (d.retry !== undefined && !(Number.isInteger(d.retry) && d.retry >= 0)) out.push(`${path}.retry: ${d.retry}`);
  if (d.backoffPolicy !== undefined && !['linear', 'exponential'].includes(d.backoffPolicy))
    out.push(`${path}.backoffPolicy: ${d.backoffPolicy}`);
  if (d.backoffDelay !== undefined && !ISO_DURATION.test(d.backoffDelay))
    out.push(`${path}.backoffDelay: ${d.backoffDelay} is not ISO 8601`);
  if (d.deadLetterSink) out.push(...destinationProblems(d.deadLetterSink, `${path}.deadLetterSink`));
  return out;
}

function knativeProblems(doc: Doc): string[] {
  const s = (doc.spec ?? {}) as Record<string, unknown>;
  const at = id(doc);
  switch (doc.kind) {
    case 'Trigger': {
      const out: string[] = [];
      if (!s.broker && !s.brokerRef) out.push(`${at}: no broker`);
      if (
        s.broker &&
        !of('Broker').some((b) => b.metadata.name === s.broker && b.metadata.namespace === doc.metadata.namespace)
      )
        out.push(`${at}: broker ${s.broker} not defined`);
      const attrs = ((s.filter as { attributes?: Record<string, string> } | undefined)?.attributes ?? {}) as Record<
        string,
        string
      >;
      for (const k of Object.keys(attrs)) if (!/^[a-z0-9]+$/.test(k)) out.push(`${at}: filter attribute ${k}`);
      for (const [i, f] of ((s.filters ?? []) as Record<string, unknown>[]).entries()) {
        out.push(...filterProblems(f, `${at}.filters[${i}]`));
      }
      out.push(...destinationProblems(s.subscriber as Destination, `${at}.subscriber`));
      out.push(...deliveryProblems(s.delivery as Delivery, `${at}.delivery`));
      return out;
    }
    case 'Broker':
      return deliveryProblems(s.delivery as Delivery, `${at}.delivery`);
    case 'ApiServerSource': {
      const out: string[] = [];
      if (s.mode !== 'Resource') out.push(`${at}: mode ${s.mode}; the functions take whole objects (Resource)`);
      const res = (s.resources ?? []) as { apiVersion?: string; kind?: string }[];
      if (!res.length) out.push(`${at}: no resources`);
      res.forEach((r, i) => {
        if (!r.kind?.trim()) out.push(`${at}.resources[${i}]: no kind`);
        if (!/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/.test(r.apiVersion ?? ''))
          out.push(`${at}.resources[${i}]: apiVersion ${r.apiVersion}`);
      });
      return [...out, ...destinationProblems(s.sink as Destination, `${at}.sink`)];
    }
    case 'PingSource': {
      const out = destinationProblems(s.sink as Destination, `${at}.sink`);
      const fields = String(s.schedule ?? '')
        .trim()
        .split(/\s+/);
      if (fields.length !== 5 || !fields.every((f) => /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/.test(f)))
        out.push(`${at}: schedule ${s.schedule}`);
      return out;
    }
    default:
      return [];
  }
}

test("the manifests pass Knative's admission rules, and every reference resolves", () => {
  assert.equal(
    loaded.flatMap((l) => knativeProblems(l.doc)),
    [],
  );
});

test("Knative's admission rules catch bad Triggers", () => {
  const problems = (spec: Record<string, unknown>) => knativeProblems(trigger(spec));
  assert.equal(problems({}), []);
  assert.ok(problems({ filters: [{ exact: { type: 'a' }, prefix: { type: 'b' } }] }).length, 'two dialects');
  assert.ok(problems({ filters: [{ any: [{ exact: { Type: 'a' } }] }] }).length, 'upper-case attribute');
  assert.ok(problems({ filters: [{ exact: { type: '' } }] }).length, 'empty value');
  assert.ok(problems({ delivery: { backoffDelay: '200ms' } }).length, 'not ISO 8601');
  assert.ok(problems({ delivery: { backoffPolicy: 'fibonacci' } }).length);
  assert.ok(
    problems({
      subscriber: {
        ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'restore-guard' },
        uri: 'http://x/completion',
      },
    }).length,
    'absolute uri with ref',
  );
  assert.ok(
    problems({ subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'nope' } } }).length,
    'dangling ref',
  );
  assert.ok(problems({ broker: 'default' }).length, 'undefined broker');
});

test('every namespaced object is in restore-guard, which eventing/ creates; cluster objects have none', () => {
  assert.ok(of('Namespace').some((n) => n.metadata.name === NAMESPACE));
  for (const { doc } of loaded) {
    const m = MODELS[`${doc.apiVersion}/${doc.kind}`]!;
    if (m.namespaced) assert.is(doc.metadata.namespace, NAMESPACE, id(doc));
    else assert.is(doc.metadata.namespace, undefined, id(doc));
  }
});

// ---------------------------------------------------------------------------------------------
// The ApiServerSource selects what profile.ts selects

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
function selectorString(s: LabelSelector): string {
  const terms = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    if (e.operator === 'Exists') terms.push(e.key);
    else if (e.operator === 'DoesNotExist') terms.push(`!${e.key}`);
    else if (e.operator === 'In') terms.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') terms.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else throw new Error(`operator ${e.operator}`);
  }
  return terms.join(',');
}

const fnYaml = parse(readFileSync(join(ROOT, 'func.yaml'), 'utf8')) as FuncYaml;
const deployedConfig = loadConfig(Object.fromEntries((fnYaml.run?.envs ?? []).map((e) => [e.name, e.value])));

test('the ApiServerSource watches every selected restore Pod and Job once, and every anchor Pod once (never as a restore)', () => {
  const src = of('ApiServerSource').find((d) => (d.metadata as { name?: string }).name === 'restore-guard')!;
  const spec = src.spec as {
    namespaceSelector?: LabelSelector;
    resources: { apiVersion: string; kind: string; selector?: LabelSelector }[];
  };
  assert.equal(
    spec.namespaceSelector,
    {},
    'an empty namespaceSelector watches all namespaces; none watches only restore-guard',
  );
  const selector = createSelector(deployedConfig);
  const kb = 'dataprotection.kubeblocks.io/restore';
  const group = `${deployedConfig.RG_DOMAIN}/group`;
  const anchor = `${deployedConfig.RG_DOMAIN}/anchor-for`;
  const cases: Record<string, string>[] = [
    { [kb]: 'r1' },
    { [kb]: 'r1', 'app.kubernetes.io/managed-by': 'kubeblocks-dataprotection' },
    { [group]: 'g1' },
    { [group]: 'g1', [kb]: 'r1' },
    { [kb]: 'r1', [group]: 'r1', [anchor]: 'pod-0' },
    { [group]: 'g1', [anchor]: 'pod-0' },
    { 'app.kubernetes.io/name': 'mysql' },
    {},
  ];
  for (const [apiVersion, kind] of [
    ['v1', 'Pod'],
    ['batch/v1', 'Job'],
  ] as const) {
    const entries = spec.resources.filter((r) => r.apiVersion === apiVersion && r.kind === kind);
    assert.ok(entries.length > 0, `${kind} is not watched`);
    for (const labels of cases) {
      const watched = entries.filter((r) => matchesSelector(labels, selectorString(r.selector ?? {}))).length;
      const selected = selector.selectLabels('db', labels) !== null;
      // Anchors are never selected as restore objects; their Pods have an entry of their own (their losses are repaired).
      const anchorPod = kind === 'Pod' && labels[anchor] !== undefined;
      assert.ok(!(selected && anchorPod), 'an anchor is never a restore object');
      assert.is(
        watched,
        selected || anchorPod ? 1 : 0,
        `${kind} ${JSON.stringify(labels)}: watched by ${watched} entries, selected ${selected}, anchor ${anchorPod}`,
      );
    }
  }
  assert.equal([...new Set(spec.resources.map((r) => `${r.apiVersion} ${r.kind}`))].sort(), ['batch/v1 Job', 'v1 Pod']);
});

test("a second ApiServerSource watches only KubeBlocks' Restores, for release", () => {
  const src = of('ApiServerSource').find((d) => (d.metadata as { name?: string }).name === 'restore-guard-kubeblocks');
  assert.ok(src, 'restore-guard-kubeblocks ApiServerSource');
  const spec = src!.spec as {
    mode: string;
    namespaceSelector?: unknown;
    resources: { apiVersion: string; kind: string; selector?: unknown }[];
  };
  assert.is(spec.mode, 'Resource');
  assert.equal(spec.namespaceSelector, {});
  assert.equal(spec.resources, [{ apiVersion: 'dataprotection.kubeblocks.io/v1alpha1', kind: 'Restore' }]);
});

// ---------------------------------------------------------------------------------------------
// func.yaml

/** knative/func schema/func_yaml-schema.json, the parts a function may set (every level closed). */
const quantity = z.string().regex(/^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/);
const FuncEnv = z.strictObject({
  name: z
    .string()
    .regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/)
    .optional(),
  value: z.string().optional(),
});
const FuncLabel = z.strictObject({
  key: z
    .string()
    .regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/,
    ),
  value: z
    .string()
    .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/)
    .optional(),
});
const FuncOptions = z.strictObject({
  scale: z
    .strictObject({
      min: z.int().min(0).optional(),
      max: z.int().min(0).optional(),
      metric: z.enum(['concurrency', 'rps']).optional(),
      target: z.number().min(0).optional(),
      utilization: z.number().min(1).max(100).optional(),
    })
    .optional(),
  resources: z
    .strictObject({
      requests: z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() }).optional(),
      limits: z
        .strictObject({ cpu: quantity.optional(), memory: quantity.optional(), concurrency: z.int().min(0).optional() })
        .optional(),
    })
    .optional(),
});
const FuncSchema = z.strictObject({
  specVersion: z.string(),
  name: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
    .optional(),
  domain: z.string().optional(),
  runtime: z.string().optional(),
  registry: z.string().optional(),
  registryInsecure: z.boolean().optional(),
  image: z.string().optional(),
  namespace: z.string().optional(),
  deployer: z.enum(['knative', 'raw', 'keda']).optional(),
  created: z.iso.datetime({ offset: true }),
  invoke: z.enum(['http', 'cloudevent']).optional(),
  build: z
    .strictObject({
      git: z
        .strictObject({
          url: z.string().optional(),
          revision: z.string().optional(),
          contextDir: z.string().optional(),
        })
        .optional(),
      builderImages: z.record(z.string(), z.string()).optional(),
      buildpacks: z.array(z.string()).optional(),
      builder: z.enum(['pack', 's2i']).optional(),
      buildEnvs: z.array(FuncEnv).optional(),
      pvcSize: z.string().optional(),
      remoteStorageClass: z.string().optional(),
      baseImage: z.string().optional(),
      volumes: z.array(z.strictObject({ hostPath: z.string(), path: z.string() })).optional(),
    })
    .optional(),
  run: z
    .strictObject({
      volumes: z.array(z.unknown()).optional(),
      envs: z.array(FuncEnv).optional(),
      startTimeout: z.int().optional(),
      kafka: z.strictObject({ brokers: z.string(), topic: z.string(), consumerGroup: z.string() }).optional(),
    })
    .optional(),
  deploy: z
    .strictObject({
      namespace: z.string().optional(),
      image: z.string().optional(),
      annotations: z.record(z.string(), z.string()).optional(),
      options: FuncOptions.optional(),
      labels: z.array(FuncLabel).optional(),
      healthEndpoints: z.strictObject({ liveness: z.string().optional(), readiness: z.string().optional() }).optional(),
      serviceAccountName: z.string().optional(),
      imagePullSecret: z.string().optional(),
      deployer: z.enum(['knative', 'raw', 'keda']).optional(),
      subscriptions: z
        .array(z.strictObject({ source: z.string(), filters: z.record(z.string(), z.string()).optional() }))
        .optional(),
      managementDisabled: z.boolean().optional(),
    })
    .optional(),
});
type FuncYaml = z.infer<typeof FuncSchema>;

/** The schema, plus func's own validation (function_options.go: scale.max ≥ scale.min). */
function funcProblems(f: unknown): string[] {
  const r = FuncSchema.safeParse(f);
  if (!r.success) return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  const scale = r.data.deploy?.options?.scale;
  if (scale?.min !== undefined && scale.max !== undefined && scale.max < scale.min)
    return ['deploy.options.scale: max < min'];
  return [];
}

test("func.yaml matches knative/func's schema", () => {
  assert.equal(funcProblems(fnYaml), []);
});

test("func.yaml checks fail on what func's schema rejects", () => {
  const bad: [string, unknown][] = [
    ['no specVersion', { ...fnYaml, specVersion: undefined }],
    ['no created', { ...fnYaml, created: undefined }],
    ['unknown top-level field', { ...fnYaml, services: {} }],
    ['unknown deploy field', { ...fnYaml, deploy: { ...fnYaml.deploy, minScale: 0 } }],
    ['bad name', { ...fnYaml, name: 'Restore_Guard' }],
    ['bad env name', { ...fnYaml, run: { envs: [{ name: '1BAD', value: 'x' }] } }],
    ['negative scale', { ...fnYaml, deploy: { ...fnYaml.deploy, options: { scale: { min: -1 } } } }],
    ['max below min', { ...fnYaml, deploy: { ...fnYaml.deploy, options: { scale: { min: 3, max: 1 } } } }],
    ['bad builder', { ...fnYaml, build: { builder: 'docker' } }],
  ];
  for (const [why, f] of bad) assert.ok(funcProblems(f).length > 0, why);
});

test('func.yaml deploys our server: name, runtime, namespace, identity, scale bounds', () => {
  assert.is(fnYaml.name, 'restore-guard');
  assert.is(fnYaml.runtime, 'typescript');
  assert.is(fnYaml.namespace, NAMESPACE);
  assert.is(fnYaml.deploy?.serviceAccountName, 'restore-guard');
  assert.ok(
    of('ServiceAccount').some(
      (s) => s.metadata.name === fnYaml.deploy?.serviceAccountName && s.metadata.namespace === fnYaml.namespace,
    ),
  );
  assert.is(fnYaml.deploy?.options?.scale?.min, 0);
  assert.ok((fnYaml.deploy?.options?.scale?.max ?? 0) >= 1);
  // Every Trigger subscribes this Service.
  for (const t of of('Trigger')) {
    const ref = (t.spec as { subscriber: Destination }).subscriber.ref!;
    assert.equal([ref.apiVersion, ref.kind, ref.name], ['serving.knative.dev/v1', 'Service', fnYaml.name], id(t));
  }
});

test("func.yaml's build runs `npm run build`, and `npm start` runs the bundle it makes", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const runScripts = fnYaml.build?.buildEnvs?.find((e) => e.name === 'BP_NODE_RUN_SCRIPTS')?.value?.split(',') ?? [];
  assert.ok(runScripts.includes('build'), 'BP_NODE_RUN_SCRIPTS must run build');
  for (const s of runScripts) assert.ok(pkg.scripts[s], `package.json has no script ${s}`);
  assert.is(pkg.scripts.start, 'node dist/server.js');
  assert.is(fnYaml.build?.builder, 'pack');
});

test('.funcignore keeps local installs, build output and the test rig out of the image build', () => {
  const patterns = readFileSync(join(ROOT, '.funcignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const p of ['/node_modules', '/dist', '/.rig', '/.node'])
    assert.ok(patterns.includes(p), `.funcignore misses ${p}`);
  for (const p of ['/functions', '/package.json', '/package-lock.json', '/esbuild.config.ts', '/eventing', '/scripts'])
    assert.not.ok(patterns.includes(p), `${p} is needed by the build`);
});

test('the launch image gets no node_modules and the build no Node binary from npm', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies: Record<string, string>;
    scripts: Record<string, string>;
    config?: { node?: string };
  };
  // The bundle holds every runtime dependency, so all are devDependencies: the buildpack's
  // `npm prune` (NODE_ENV=production) leaves the launch layer's node_modules empty.
  assert.equal(Object.keys(pkg.dependencies ?? {}), []);
  for (const d of ['hono', '@hono/node-server', '@kubernetes/client-node', 'zod', 'yaml'])
    assert.ok(pkg.devDependencies[d], `${d} is bundled: a devDependency`);
  // The buildpack brings Node (BP_NODE_VERSION); development machines get it from the postinstall
  // bootstrap, which does nothing where Node is recent enough.
  assert.not.ok(pkg.devDependencies.node, 'the `node` package would download a Node binary in every image build');
  assert.match(pkg.scripts.postinstall ?? '', /scripts\/bootstrap-node\.mjs/);
  const bpNode = fnYaml.build?.buildEnvs?.find((e) => e.name === 'BP_NODE_VERSION')?.value ?? '';
  assert.is(
    bpNode.split('.')[0],
    pkg.config?.node?.split('.')[0],
    'the same Node major in the image and in development',
  );
  // The lockfile agrees with package.json (what `npm ci` checks), so `npm install` leaves it alone.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dependencies?: Record<string, string>; devDependencies?: Record<string, string> }>;
  };
  assert.equal(lock.packages['']!.dependencies ?? {}, pkg.dependencies ?? {});
  assert.equal(lock.packages['']!.devDependencies, pkg.devDependencies);
  assert.not.ok(lock.packages['node_modules/node'], 'the lockfile still installs the node package');
});

test("func.yaml's environment parses with ConfigSchema, and sets nothing Knative owns", () => {
  const envs = fnYaml.run?.envs ?? [];
  assert.ok(envs.length > 0);
  // restore-guard's settings, and Node's own options (the heap ceiling, checked below)
  const known = new Set([...Object.keys(ConfigSchema.shape), 'NODE_OPTIONS']);
  for (const e of envs) {
    assert.ok(known.has(e.name!), `${e.name} is not a setting (functions/core/config.ts)`);
    assert.not.ok(e.name === 'PORT' || e.name!.startsWith('K_'), `${e.name} is set by Knative`);
  }
  assert.is(new Set(envs.map((e) => e.name)).size, envs.length, 'a variable is set twice');
  // The heap ceiling is under the memory limit, with room for what is not heap.
  const heapMb = Number(
    /--max-old-space-size=(\d+)/.exec(envs.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '')?.[1],
  );
  const limit = String(fnYaml.deploy?.options?.resources?.limits?.memory ?? '');
  assert.ok(
    heapMb > 0 && /^\d+Mi$/.test(limit) && heapMb <= Number.parseInt(limit, 10) / 2,
    `heap ${heapMb} MB, limit ${limit}`,
  );
  // The young generation pinned as well (else V8 sizes it from the machine it finds; func.yaml), and
  // the whole heap (old + three semi-spaces) leaves room under the limit.
  const semiMb = Number(
    /--max-semi-space-size=(\d+)/.exec(envs.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '')?.[1],
  );
  assert.ok(semiMb > 0 && heapMb + 3 * semiMb <= (Number.parseInt(limit, 10) * 3) / 4, `semi-space ${semiMb} MB`);
  assert.equal(deployedConfig.RG_PROFILES, ['kubeblocks', 'generic']);
  assert.is(deployedConfig.RG_LOCAL_BROKER, false);
  assert.is(deployedConfig.RG_DRY_RUN, false);
  assert.throws(() => loadConfig({ RG_PROFILES: 'postgres' }), /RG_PROFILES/); // the parse can fail
});

test("func.yaml's health endpoints answer 200 on the server", async () => {
  const server = createServer({ config: deployedConfig, log: createLogger({ sink: () => {} }) });
  for (const path of [fnYaml.deploy?.healthEndpoints?.liveness, fnYaml.deploy?.healthEndpoints?.readiness]) {
    assert.ok(path, 'health endpoint not set');
    const r = await server.app.request(path!);
    assert.is(r.status, 200, path);
  }
  assert.is((await server.app.request('/health/nope')).status, 404);
});

test("func.yaml's containerConcurrency is the server's own cap (RG_MAX_IN_FLIGHT)", () => {
  const concurrency = fnYaml.deploy?.options?.resources?.limits?.concurrency;
  assert.ok(concurrency && concurrency > 0, 'containerConcurrency is set (0 would be unlimited)');
  assert.is(deployedConfig.RG_MAX_IN_FLIGHT, concurrency);
});

// Knative Serving's autoscaler defaults (knative/serving config/core/configmaps/autoscaler.yaml and
// pkg/autoscaler/scaling/multiscaler.go): a revision is scaled to zero once a whole stable window
// has passed without a request (the decision is taken every 2 s tick), then after the
// scale-to-zero grace period at most.
const STABLE_WINDOW_S = 60;
const TICK_S = 2;
const SCALE_TO_ZERO_GRACE_S = 30;

/** Seconds between two pings of a `* * * * *` or `*\/N * * * *` schedule (N dividing 60); else null. */
function pingPeriodSeconds(schedule: string): number | null {
  const m = /^(\*|\*\/(\d+)) \* \* \* \*$/.exec(schedule.trim());
  if (!m) return null;
  const n = m[2] === undefined ? 1 : Number(m[2]);
  return n >= 1 && 60 % n === 0 ? n * 60 : null;
}

test('the resync schedule reads as a period', () => {
  assert.is(pingPeriodSeconds('* * * * *'), 60);
  assert.is(pingPeriodSeconds('*/5 * * * *'), 300);
  assert.is(pingPeriodSeconds('*/7 * * * *'), null); // uneven: 7 minutes, then 4 at the hour
  assert.is(pingPeriodSeconds('0 * * * *'), null);
});

test('between resync pings the revision reaches zero, and every lease renewal window holds two pings', () => {
  const ping = of('PingSource').find((p) => p.metadata.name === 'restore-guard-resync');
  assert.ok(ping, 'the resync PingSource');
  const period = pingPeriodSeconds(String((ping!.spec as { schedule: string }).schedule));
  assert.ok(period, 'the schedule is a fixed period');
  // After a ping the pod stays up for the stable window, a tick and the grace period (about 92 s):
  // the ping must come less often than that, and leave the revision at zero most of the time.
  const upAfterPing = STABLE_WINDOW_S + TICK_S + SCALE_TO_ZERO_GRACE_S;
  assert.ok(period! >= 2 * upAfterPing, `a ping every ${period} s keeps the pod up more than half the time`);
  // A window annotation would lengthen the stay; func.yaml sets none.
  assert.not.ok(JSON.stringify(fnYaml).includes('autoscaling.knative.dev/window'));
  // Resync stays bounded: a missed event waits at most one period.
  assert.ok(period! <= 600, 'resync at least every 10 minutes');
  // Resync renews an anchor once past half its lease (functions/core/restore/anchors.ts renewAnchor):
  // two pings in that half, so one lost ping never ends an anchor of a group in flight.
  const lease = deployedConfig.RG_ANCHOR_DEADLINE_SECONDS;
  assert.ok(lease / 2 >= 2 * period!, `lease ${lease} s: fewer than two pings every ${lease / 2} s`);
});

const RECOMMENDED = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/component',
  'app.kubernetes.io/part-of',
  'app.kubernetes.io/managed-by',
];
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test("every shipped object carries Kubernetes' recommended labels, with package.json's version", () => {
  assert.ok(loaded.length >= 17, 'every document of eventing/');
  for (const { doc } of loaded) {
    const labels = (doc.metadata as { labels?: Record<string, string> }).labels ?? {};
    for (const k of RECOMMENDED) assert.ok(labels[k], `${id(doc)}: no ${k}`);
    assert.is(labels['app.kubernetes.io/name'], 'restore-guard', id(doc));
    assert.is(labels['app.kubernetes.io/part-of'], 'restore-guard', id(doc));
    assert.is(labels['app.kubernetes.io/version'], VERSION, `${id(doc)}: version`);
  }
  const fnLabels = Object.fromEntries((fnYaml.deploy?.labels ?? []).map((l) => [l.key, l.value]));
  for (const k of RECOMMENDED) assert.ok(fnLabels[k], `func.yaml: no ${k}`);
  assert.is(fnLabels['app.kubernetes.io/version'], VERSION, 'func.yaml: version');
  const ociVersion = fnYaml.build?.buildEnvs?.find((e) => e.name === 'BP_OCI_VERSION')?.value;
  assert.is(ociVersion, VERSION, 'func.yaml: BP_OCI_VERSION, the image label org.opencontainers.image.version');
  // Only what Knative's and the ApiServerSource's selectors read: our labels never select a
  // restore pod, so an anchor (which copies what the restore pods' selectors select) never gets them.
  const sources = of('ApiServerSource').flatMap((s) => JSON.stringify((s.spec as { resources: unknown }).resources));
  for (const k of ['app.kubernetes.io/managed-by', 'app.kubernetes.io/component'])
    assert.not.ok(sources.join().includes(k), `an ApiServerSource selects on ${k}`);
});

test("CHANGELOG.md's latest entry is package.json's version", () => {
  const latest = /^## \[(\d+\.\d+\.\d+[^\]]*)\]/m.exec(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8'));
  assert.ok(latest, 'CHANGELOG.md has a "## [x.y.z]" entry');
  assert.is(latest![1], VERSION);
});

// ---------------------------------------------------------------------------------------------
// Sender authentication and the confined identity agree with the configuration

test("every Trigger's subscriber audience is the one restore-guard requires (func.yaml and the default)", () => {
  assert.is(deployedConfig.RG_AUTH, 'oidc', 'func.yaml requires authenticated senders');
  for (const t of of('Trigger')) {
    const sub = t.spec!.subscriber as { audience?: string };
    assert.is(sub.audience, deployedConfig.RG_AUTH_AUDIENCE, t.metadata!.name);
  }
  assert.is(loadConfig({}).RG_AUTH_AUDIENCE, deployedConfig.RG_AUTH_AUDIENCE);
});

test("the default allowed senders are exactly the Triggers' OIDC identities (Knative: <trigger>-oidc-eventing.knative.dev-trigger)", async () => {
  const { subjectMatcher } = await import('../../functions/core/http/auth.ts');
  const allowed = subjectMatcher(deployedConfig.RG_AUTH_SUBJECTS);
  for (const t of of('Trigger')) {
    const sa = `${t.metadata!.name}-oidc-eventing.knative.dev-trigger`;
    assert.ok(sa.length <= 63, `${sa}: Knative shortens longer names with a hash`);
    assert.ok(allowed(`system:serviceaccount:${NAMESPACE}:${sa}`), sa);
  }
  for (const sa of of('ServiceAccount'))
    assert.not.ok(allowed(`system:serviceaccount:${NAMESPACE}:${sa.metadata!.name}`));
});

test('the EventPolicy lets exactly our sources and Triggers into our Broker', () => {
  const [p] = of('EventPolicy');
  const spec = p!.spec as {
    to: { ref: { kind: string; name: string } }[];
    from: { ref: { kind: string; name: string } }[];
  };
  assert.equal(
    spec.to.map((t) => `${t.ref.kind}/${t.ref.name}`),
    of('Broker').map((b) => `Broker/${b.metadata!.name}`),
  );
  const senders = ['ApiServerSource', 'PingSource', 'Trigger'].flatMap((k) =>
    of(k).map((d) => `${k}/${d.metadata!.name}`),
  );
  assert.equal(spec.from.map((f) => `${f.ref.kind}/${f.ref.name}`).sort(), senders.sort());
});

test("func.yaml makes the Service cluster-local; the NetworkPolicy selects the Service's pods", () => {
  const labels = Object.fromEntries((fnYaml.deploy?.labels ?? []).map((l) => [l.key, l.value]));
  assert.is(labels['networking.knative.dev/visibility'], 'cluster-local');
  const [np] = of('NetworkPolicy');
  const sel = (np!.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels;
  assert.equal(sel, { 'serving.knative.dev/service': fnYaml.name });
});

test("the admission policy's anchor image is func.yaml's RG_ANCHOR_IMAGE, and each policy is bound", () => {
  const policies = of('ValidatingAdmissionPolicy');
  const pods = policies.find((p) => p.metadata!.name === 'restore-guard-pods')!;
  const text = JSON.stringify(pods.spec);
  assert.ok(text.includes(`image == '${deployedConfig.RG_ANCHOR_IMAGE}'`), 'the anchor image');
  const bound = of('ValidatingAdmissionPolicyBinding').map((b) => (b.spec as { policyName: string }).policyName);
  assert.equal(bound.sort(), policies.map((p) => p.metadata!.name!).sort());
  for (const p of policies) {
    const cond = (p.spec as { matchConditions: { expression: string }[] }).matchConditions;
    assert.equal(
      cond.map((c) => c.expression),
      [`request.userInfo.username == 'system:serviceaccount:${NAMESPACE}:${fnYaml.deploy?.serviceAccountName}'`],
      p.metadata!.name,
    );
  }
});

test.run();
