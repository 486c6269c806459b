import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Counter, Gauge, Histogram, createMetrics } from '../../functions/core/metrics.ts';

test('counters add per label set and render in the exposition format', () => {
  const c = new Counter('x_total', 'help me');
  c.inc({ fn: 'a' });
  c.inc({ fn: 'a' }, 2);
  c.inc({ fn: 'b "q"' });
  assert.is(c.get({ fn: 'a' }), 3);
  assert.equal(c.render(), [
    '# HELP x_total help me',
    '# TYPE x_total counter',
    'x_total{fn="a"} 3',
    'x_total{fn="b \\"q\\""} 1',
  ]);
});

test('gauges set and add; label order does not matter', () => {
  const g = new Gauge('g', 'h');
  g.set({ a: '1', b: '2' }, 5);
  g.add({ b: '2', a: '1' }, -2);
  assert.is(g.get({ a: '1', b: '2' }), 3);
  assert.match(g.render().join('\n'), /# TYPE g gauge\ng\{a="1",b="2"\} 3/);
});

test('histograms count cumulative buckets, sum and count', () => {
  const h = new Histogram('h_seconds', 'h', [0.1, 1]);
  h.observe({}, 0.05);
  h.observe({}, 0.5);
  h.observe({}, 5);
  assert.equal(h.render().slice(2), [
    'h_seconds_bucket{le="0.1"} 1',
    'h_seconds_bucket{le="1"} 2',
    'h_seconds_bucket{le="+Inf"} 3',
    'h_seconds_sum 5.55',
    'h_seconds_count 3',
  ]);
});

test('the registry renders every metric restore-guard exports', () => {
  const text = createMetrics().render();
  for (const name of [
    'restoreguard_events_total',
    'restoreguard_decision_seconds',
    'restoreguard_kube_requests_total',
    'restoreguard_anchors_created_total',
    'restoreguard_anchors_deleted_total',
    'restoreguard_retries_total',
    'restoreguard_refused_writes_total',
    'restoreguard_anchors_refused_total',
    'restoreguard_dead_letters_total',
    'restoreguard_broker_deliveries_total',
    'restoreguard_resync_anchors',
    'restoreguard_resync_anchors_past_lease',
    'restoreguard_resync_anchor_oldest_age_seconds',
    'restoreguard_resync_last_sweep_timestamp_seconds',
    'restoreguard_resync_repairs_total',
    'restoreguard_resync_errors_total',
    'restoreguard_build_info',
  ]) {
    assert.match(text, new RegExp(`# TYPE ${name} `));
  }
});

test.run();
