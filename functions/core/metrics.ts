/**
 * Prometheus metrics in the text exposition format: counters, gauges and histograms with labels.
 * Our own code, not prom-client: importing prom-client costs about 140 ms on a cold start (measured
 * here, more than a bare Node.js spawn), and the server scales to zero, so start-up cost matters
 * more than features. The process and Node.js metrics keep prom-client's names (runtime-metrics.ts).
 * Every metric is listed in README (Operations); eventing/monitoring/ uses them.
 */
import { BUILD } from './build-info.ts';
import { runtimeMetrics } from './runtime-metrics.ts';

type Labels = Record<string, string>;
const key = (l: Labels) => JSON.stringify(Object.entries(l).sort(([a], [b]) => a.localeCompare(b)));
const fmt = (l: Labels) => {
  const e = Object.entries(l);
  return e.length
    ? `{${e.map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`
    : '';
};

interface Metric {
  render(): string[];
}

/** A value per label set: what counters and gauges share. */
abstract class LabeledValue implements Metric {
  protected readonly values = new Map<string, { labels: Labels; value: number }>();
  protected abstract readonly type: 'counter' | 'gauge';
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  protected addTo(labels: Labels, by: number): void {
    const k = key(labels);
    const cur = this.values.get(k);
    if (cur) cur.value += by;
    else this.values.set(k, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.value ?? 0;
  }
  render(): string[] {
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} ${this.type}`,
      ...[...this.values.values()].map((v) => `${this.name}${fmt(v.labels)} ${v.value}`),
    ];
  }
}

export class Counter extends LabeledValue {
  protected readonly type = 'counter';
  inc(labels: Labels = {}, by = 1): void {
    this.addTo(labels, by);
  }
}

export class Gauge extends LabeledValue {
  protected readonly type = 'gauge';
  set(labels: Labels, value: number): void {
    this.values.set(key(labels), { labels, value });
  }
  add(labels: Labels, by: number): void {
    this.addTo(labels, by);
  }
}

export class Histogram implements Metric {
  private readonly values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  readonly name: string;
  readonly help: string;
  readonly buckets: number[];
  constructor(name: string, help: string, buckets: number[]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }
  observe(labels: Labels, v: number): void {
    const k = key(labels);
    let cur = this.values.get(k);
    if (!cur) {
      cur = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.values.set(k, cur);
    }
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) cur.counts[i]!++;
    cur.sum += v;
    cur.count++;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const v of this.values.values()) {
      for (const [i, b] of this.buckets.entries()) {
        out.push(`${this.name}_bucket${fmt({ ...v.labels, le: String(b) })} ${v.counts[i]}`);
      }
      out.push(`${this.name}_bucket${fmt({ ...v.labels, le: '+Inf' })} ${v.count}`);
      out.push(`${this.name}_sum${fmt(v.labels)} ${v.sum}`, `${this.name}_count${fmt(v.labels)} ${v.count}`);
    }
    return out;
  }
}

/** Every metric restore-guard exports. */
export function createMetrics() {
  const m = {
    events: new Counter(
      'restoreguard_events_total',
      'CloudEvents handled, by function, event type, outcome (reply type, none or error code) and HTTP status code.',
    ),
    decisionSeconds: new Histogram(
      'restoreguard_decision_seconds',
      'Time from request to answer, by function.',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ),
    kubeCalls: new Counter('restoreguard_kube_requests_total', 'Kubernetes API calls, by verb, kind and result code.'),
    anchorsCreated: new Counter(
      'restoreguard_anchors_created_total',
      'Anchor pods this process created for placed restore pods (renewals not counted).',
    ),
    anchorsDeleted: new Counter(
      'restoreguard_anchors_deleted_total',
      'Anchor pods this process deleted because their group completed.',
    ),
    retries: new Counter(
      'restoreguard_retries_total',
      'Job-level retries, by reason and decision (scheduled, exhausted, skipped).',
    ),
    refused: new Counter('restoreguard_refused_writes_total', 'Writes refused by the guard, by verb and kind.'),
    anchorsRefused: new Counter(
      'restoreguard_anchors_refused_total',
      'Anchors the API server refused (admission: LimitRange, ResourceQuota), by whether a fitted anchor was then admitted.',
    ),
    deadLetters: new Counter(
      'restoreguard_dead_letters_total',
      'Events whose delivery failed for good (the dead-letter sink, POST /dead-letter), by the function they failed to reach, event type and its last HTTP status (none: no answer).',
    ),
    brokerDeliveries: new Counter(
      'restoreguard_broker_deliveries_total',
      'Local broker deliveries, by trigger and HTTP status.',
    ),
    // Set by each resync sweep from what it lists in the cluster (every replica's work), so true
    // across replicas and restarts, as of this replica's last sweep: see README, Operations.
    resyncAnchors: new Gauge(
      'restoreguard_resync_anchors',
      "Anchor pods in the cluster (every replica's), by state (holding: running or pending; ended: failed or succeeded, e.g. at the end of its lease), as this replica's last resync sweep left them. Refreshed once per sweep; use the replica with the newest restoreguard_resync_last_sweep_timestamp_seconds.",
    ),
    resyncAnchorsPastLease: new Gauge(
      'restoreguard_resync_anchors_past_lease',
      "Anchor pods older than their lease (activeDeadlineSeconds) still in the cluster after this replica's last resync sweep. Refreshed once per sweep.",
    ),
    resyncAnchorOldest: new Gauge(
      'restoreguard_resync_anchor_oldest_age_seconds',
      "Age of the oldest anchor pod in the cluster after this replica's last resync sweep (0: none). Refreshed once per sweep.",
    ),
    resyncLastSweep: new Gauge(
      'restoreguard_resync_last_sweep_timestamp_seconds',
      "When this replica's last resync sweep ended (unix seconds).",
    ),
    resyncRepairs: new Counter(
      'restoreguard_resync_repairs_total',
      'What resync sweeps did that events had not (missed or lost events), by action.',
    ),
    resyncErrors: new Counter(
      'restoreguard_resync_errors_total',
      'Resync sweep steps that failed (retried next sweep).',
    ),
    build: new Gauge(
      'restoreguard_build_info',
      'Always 1: the restore-guard version, source commit and Node.js version of this process.',
    ),
  };
  m.build.set({ version: BUILD.version, commit: BUILD.commit, node: process.version }, 1);
  const runtime = runtimeMetrics();
  return {
    ...m,
    render(): string {
      return `${[...Object.values(m).flatMap((x) => x.render()), ...runtime.render()].join('\n')}\n`;
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
