/**
 * eventing/monitoring/ (README, Operations): the PodMonitor and PrometheusRule against the
 * Prometheus Operator's schemas (@kubernetes-models/prometheus-operator), and every PromQL
 * expression of the rules and the Grafana dashboard parsed with Prometheus' own PromQL grammar
 * (@prometheus-io/lezer-promql): each metric it names exists in the app's GET /metrics (served
 * in-process after real traffic), and each label it matches or groups by is one that metric has.
 * Prometheus' own promtool checks and unit-tests the rules by hand: test/rig/promtool-check.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { parser } from '@prometheus-io/lezer-promql';
import { EventType } from '../../functions/core/restore/events.ts';
import { toBinary } from '../../functions/core/http/cloudevent.ts';
import { apiEvent, harness, restoreEvent } from '../support/harness.ts';
import { pvc, restoreJob, restorePod } from '../support/objects.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DIR = join(ROOT, 'eventing/monitoring');
const read = (f: string) => readFileSync(join(DIR, f), 'utf8');

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const kustomization = parse(read('kustomization.yaml')) as {
  resources: string[];
  configMapGenerator: { name: string; files: string[]; options: { labels: Record<string, string> } }[];
};
const podMonitor = parse(read('podmonitor.yaml')) as Record<string, any>;
const rule = parse(read('prometheusrule.yaml')) as Record<string, any>;
const rules: Rule[] = (rule.spec.groups as { rules: Rule[] }[]).flatMap((g) => g.rules);
const dashboard = JSON.parse(read('dashboard.json')) as { panels: { title: string; targets?: { expr: string }[] }[] };

/** Every PromQL expression shipped, with where it is. */
const EXPRS: { where: string; expr: string }[] = [
  ...rules.map((r) => ({ where: `rule ${r.record ?? r.alert}`, expr: r.expr })),
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
];
const RECORDED = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
/** Labels Prometheus adds to every scraped series (PodMonitor target labels). */
const TARGET_LABELS = ['instance', 'job', 'namespace', 'pod', 'container', 'endpoint'];

// Grafana's interval variables, as a query would have them.
const grafana = (e: string) => e.replace(/\$__(rate_interval|interval|range)/g, '5m');

interface Use {
  metric: string;
  labels: string[];
}
/** Parses one expression: the syntax errors, the selectors (metric + matched labels), the groupings. */
function analyse(expr: string): {
  errors: string[];
  selectors: Use[];
  groupings: { metrics: string[]; labels: string[] }[];
} {
  const text = grafana(expr);
  const tree = parser.parse(text);
  const errors: string[] = [];
  const selectors: Use[] = [];
  const groupings: { metrics: string[]; labels: string[] }[] = [];
  const slice = (n: { from: number; to: number }) => text.slice(n.from, n.to);
  tree.iterate({
    enter: (n) => {
      if (n.type.isError)
        errors.push(`syntax error at ${n.from}: …${text.slice(Math.max(0, n.from - 20), n.to + 20)}…`);
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier');
        const labels = n.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? [];
        if (id)
          selectors.push({
            metric: slice(id),
            labels: labels.map((m) => slice(m.getChild('LabelName')!)),
          });
      }
      if (n.name === 'AggregateExpr') {
        const by = n.node.getChild('AggregateModifier');
        if (by && slice(by).startsWith('by')) {
          const labels = by.getChild('GroupingLabels')?.getChildren('LabelName').map(slice) ?? [];
          // The metrics inside this aggregation: a grouping label must be on one of them (an
          // approximation: `a and on (x) b` keeps a's labels only).
          const inner: string[] = [];
          const cur = n.node.cursor();
          const end = n.to;
          while (cur.next() && cur.from < end)
            if (cur.name === 'VectorSelector') {
              const id = cur.node.getChild('Identifier');
              if (id) inner.push(slice(id));
            }
          groupings.push({ metrics: inner, labels });
        }
      }
    },
  });
  return { errors, selectors, groupings };
}

/** /metrics of an app that has done real work: events, a record, an anchor, a sweep, a dead letter. */
async function scrape(): Promise<string> {
  const h = harness();
  const pod = restorePod({ restore: { exit: 0 } });
  await h.seed(pod, restoreJob(), pvc('data-mysql-0'));
  const c = await h.post('/completion', apiEvent(pod));
  assert.is(c.status, 200);
  assert.is((await h.post('/labeling', restoreEvent(c.reply!.type!, c.reply!.data, c.reply!.id!))).status, 200);
  assert.is((await h.post('/resync', restoreEvent(EventType.ping, { message: 'resync' }))).status, 202);
  // An opted-in Job that failed on its last allowed attempt: retries exhausted.
  const outcome = { state: 'failed', reason: 'Error', retryable: true, exitCode: 1, node: 'node-1', attempt: 3 };
  const job = restoreJob({
    profile: 'generic',
    group: 'pg',
    name: 'pg-0',
    condition: { type: 'Failed', reason: 'BackoffLimitExceeded' },
    labels: { 'restoreguard.dev/retry': 'true' },
    annotations: { 'restoreguard.dev/outcome': JSON.stringify(outcome), 'restoreguard.dev/attempt': '3' },
  });
  await h.seed(job);
  const f = await h.post('/completion', apiEvent(job));
  assert.is(f.reply?.type, EventType.failed, f.text);
  const r = await h.post('/retry', restoreEvent(EventType.failed, f.reply!.data, f.reply!.id!));
  assert.is(r.reply?.type, EventType.retryExhausted, r.text);
  const dl = toBinary({
    ...restoreEvent(EventType.succeeded, {}),
    knativeerrordest: 'http://restore-guard/labeling',
    knativeerrorcode: '503',
  });
  assert.is((await h.server.app.request('/dead-letter', { method: 'POST', ...dl })).status, 202);
  const res = await h.server.app.request('/metrics');
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The families of an exposition (name → type) and the label names each sample name carries. */
function exposition(text: string): { types: Map<string, string>; labels: Map<string, Set<string>> } {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (s) {
      const set = labels.get(s[1]!) ?? new Set<string>();
      for (const m of (s[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) set.add(m[1]!);
      labels.set(s[1]!, set);
    }
  }
  return { types, labels };
}

/** The family a sample name belongs to: itself, or a histogram's _bucket/_sum/_count. */
function family(name: string, types: Map<string, string>): string | null {
  if (types.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m && types.get(m[1]!) === 'histogram' ? m[1]! : null;
}

test('kustomization lists every manifest of monitoring/ and generates the dashboard ConfigMap for Grafana', () => {
  const yamls = readdirSync(DIR)
    .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
    .sort();
  assert.equal([...kustomization.resources].sort(), yamls);
  const cm = kustomization.configMapGenerator.find((g) => g.name === 'restore-guard-dashboard');
  assert.ok(cm);
  assert.equal(cm!.files, ['restore-guard.json=dashboard.json']);
  assert.ok(existsSync(join(DIR, 'dashboard.json')));
  assert.is(cm!.options.labels.grafana_dashboard, '1', "the label kube-prometheus-stack's Grafana sidecar loads");
});

test("PodMonitor and PrometheusRule validate against the Prometheus Operator's schemas", () => {
  new PodMonitor(podMonitor as never).validate();
  new PrometheusRule(rule as never).validate();
  assert.throws(() =>
    new PodMonitor({ ...podMonitor, spec: { ...podMonitor.spec, podMetricsEndpoints: 'x' } } as never).validate(),
  );
  assert.throws(() =>
    new PrometheusRule({ ...rule, spec: { groups: [{ rules: [{ expr: 1 }] }] } } as never).validate(),
  );
});

test("the PodMonitor scrapes the pods' own port, never the Knative Service URL", () => {
  const fn = parse(readFileSync(join(ROOT, 'func.yaml'), 'utf8')) as { name: string; namespace: string };
  assert.is(podMonitor.metadata.namespace, fn.namespace);
  assert.equal(podMonitor.spec.selector.matchLabels, { 'serving.knative.dev/service': fn.name });
  assert.equal(podMonitor.spec.namespaceSelector.matchNames, [fn.namespace]);
  const [ep, ...more] = podMonitor.spec.podMetricsEndpoints as Record<string, string>[];
  assert.is(more.length, 0);
  // Knative names the user container's port user-port (the queue-proxy's are queue-port, http-autometric...).
  assert.is(ep!.port, 'user-port');
  assert.is(ep!.path, '/metrics');
});

test('every alert has a severity, a summary and a description; every recording rule name is used', () => {
  const alerts = rules.filter((r) => r.alert);
  assert.equal(
    alerts.map((a) => a.alert),
    [
      'RestoreGuardEventErrors',
      'RestoreGuardAnchorsPastLease',
      'RestoreGuardDeadLetters',
      'RestoreGuardRetriesExhausted',
      'RestoreGuardWritesRefused',
      'RestoreGuardAnchorsRefused',
      'RestoreGuardResyncErrors',
    ],
  );
  for (const a of alerts) {
    assert.ok(a.labels?.severity, `${a.alert}: severity`);
    assert.ok(a.annotations?.summary && a.annotations.description, `${a.alert}: summary and description`);
  }
  const used = new Set(EXPRS.flatMap((e) => analyse(e.expr).selectors.map((s) => s.metric)));
  for (const r of RECORDED) assert.ok(used.has(r), `recording rule ${r} is used by an alert or the dashboard`);
});

test('every PromQL expression parses, and every metric and label it uses exists in /metrics', async () => {
  const text = await scrape();
  const { types, labels } = exposition(text);
  const problems: string[] = [];
  const metrics = new Set<string>();
  for (const { where, expr } of EXPRS) {
    const a = analyse(expr);
    problems.push(...a.errors.map((e) => `${where}: ${e}`));
    if (!a.selectors.length) problems.push(`${where}: names no metric`);
    for (const s of a.selectors) {
      if (RECORDED.has(s.metric)) continue;
      metrics.add(s.metric);
      if (!family(s.metric, types)) problems.push(`${where}: ${s.metric} is not in /metrics`);
      const have = labels.get(s.metric);
      for (const l of s.labels)
        if (have && !have.has(l) && !TARGET_LABELS.includes(l))
          problems.push(`${where}: ${s.metric} has no label ${l} (has ${[...have].join(', ')})`);
    }
    for (const g of a.groupings) {
      // Unknown labels (a recorded series, a metric without samples here) cannot be checked.
      if (g.metrics.some((m) => RECORDED.has(m) || !labels.has(m))) continue;
      for (const l of g.labels)
        if (!TARGET_LABELS.includes(l) && !g.metrics.some((m) => labels.get(m)!.has(l)))
          problems.push(`${where}: groups ${g.metrics.join(', ')} by ${l}, which none of them has`);
    }
  }
  assert.equal(problems, []);
  // The check has teeth: the exposition really was read, and a misspelt name would be caught.
  assert.ok(metrics.size >= 20, `${metrics.size} metrics used`);
  assert.is(family('restoreguard_decision_seconds_bucket', types), 'restoreguard_decision_seconds');
  assert.is(family('restoreguard_events_totl', types), null);
  assert.ok(analyse('sum(rate(x[5m])').errors.length > 0, 'a syntax error is seen');
});

test('/metrics has the process and Node.js runtime metrics and the build info', async () => {
  const text = await scrape();
  const { types } = exposition(text);
  for (const name of [
    'process_cpu_seconds_total',
    'process_cpu_user_seconds_total',
    'process_cpu_system_seconds_total',
    'process_start_time_seconds',
    'process_resident_memory_bytes',
    'process_virtual_memory_bytes',
    'process_open_fds',
    'process_max_fds',
    'nodejs_heap_size_total_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_external_memory_bytes',
    'nodejs_heap_space_size_used_bytes',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_gc_duration_seconds',
    'nodejs_active_resources_total',
    'nodejs_version_info',
    'restoreguard_build_info',
  ])
    assert.ok(types.has(name), `${name} in /metrics`);
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
  const start = value('process_start_time_seconds');
  assert.ok(Math.abs(start - (Date.now() / 1000 - process.uptime())) < 5, `start time ${start}`);
  assert.ok(value('process_resident_memory_bytes') > 10 * 2 ** 20, 'resident memory');
  assert.ok(value('process_open_fds') > 0 && value('process_open_fds') < value('process_max_fds'), 'fds');
  assert.ok(value('process_cpu_seconds_total') > 0, 'cpu');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const info = /^restoreguard_build_info\{version="([^"]+)",commit="([^"]+)",node="([^"]+)"\} 1$/m.exec(text);
  assert.ok(info, 'build info with version, commit and node');
  assert.is(info![1], pkg.version);
  assert.is(info![3], process.version);
});

test.run();
