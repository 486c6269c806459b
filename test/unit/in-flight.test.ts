/**
 * RG_MAX_IN_FLIGHT holds for the local broker's in-process deliveries too (core/http/in-flight.ts):
 * they share one count with the HTTP routes, wait their turn instead of running at once, none is
 * lost, and the ingress refuses new events while the backlog is ten times the cap.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../functions/core/config.ts';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { createInFlight } from '../../functions/core/http/in-flight.ts';
import { deliveryContext } from '../../functions/core/http/local-broker.ts';
import type { Cluster } from '../../functions/core/kube/cluster.ts';
import { MemoryCluster } from '../../functions/core/kube/memory-cluster.ts';
import { memoryLogger } from '../../functions/core/log.ts';
import { createServer } from '../../functions/server.ts';

test('turns: at most max at once, waiters served first come first served, a route never jumps the queue', async () => {
  const f = createInFlight(2);
  assert.ok(f.tryEnter());
  assert.ok(f.tryEnter());
  assert.not.ok(f.tryEnter());
  const order: number[] = [];
  const a = f.enter().then(() => order.push(1));
  const b = f.enter().then(() => order.push(2));
  assert.is(f.waiting, 2);
  f.leave();
  assert.not.ok(f.tryEnter(), 'a waiter is served before a new route');
  f.leave();
  await Promise.all([a, b]);
  assert.equal(order, [1, 2]);
  assert.is(f.running, 2);
  f.leave();
  f.leave();
  assert.is(f.running, 0);
});

/** A gated pod's event: labeling lists the group's pods (admitNext); each one its own delivery. */
const gated = (): CloudEvent => ({
  specversion: '1.0',
  id: randomUUID(),
  source: 'restore-guard/completion',
  type: 'dev.restoreguard.restore.gated',
  datacontenttype: 'application/json',
  data: {
    namespace: 'db',
    group: 'g',
    profile: 'generic',
    job: 'g-0',
    pod: 'g-0-x',
    uid: randomUUID(),
    node: null,
    scope: 'pod',
    state: 'gated',
    reason: null,
    retryable: false,
    exitCode: null,
    containers: [],
    message: null,
    attempt: 1,
    startedAt: null,
    finishedAt: null,
  },
});

test("the local broker's deliveries respect RG_MAX_IN_FLIGHT, share it with the routes, and all arrive", async () => {
  const inner = new MemoryCluster();
  // Deliveries inside the cluster at once.
  const inside = new Map<string, number>();
  let peak = 0;
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  // Every gated event's handler lists first: each delivery waits there until the gate opens. (Not
  // resync's pings: a ping that arrives while a sweep runs waits for that sweep, not in a list.)
  const cluster: Cluster = Object.assign(Object.create(inner) as Cluster, {
    list: async (...a: Parameters<Cluster['list']>) => {
      const id = deliveryContext.getStore()?.eventId ?? 'http';
      inside.set(id, (inside.get(id) ?? 0) + 1);
      peak = Math.max(peak, inside.size);
      await gate;
      const n = inside.get(id)! - 1;
      if (n) inside.set(id, n);
      else inside.delete(id);
      return inner.list(...a);
    },
  });
  const hops: number[] = [];
  const server = createServer({
    config: loadConfig({ RG_AUTH: 'none', RG_LOCAL_BROKER: 'true', RG_MAX_IN_FLIGHT: '2', RG_NAMESPACES: 'db' }),
    log: memoryLogger('error'),
    connect: async () => cluster,
    onHop: (h) => hops.push(h.status),
    backoffScale: 0,
  });
  for (let i = 0; i < 24; i++) server.broker!.publish(gated());
  await new Promise((r) => setTimeout(r, 50));
  assert.is(peak, 2, 'two handlers at once, the others wait');
  // The routes share the count: full, so an HTTP event is answered 503 at once.
  const route = await server.app.request('/resync', {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': 'x',
      'ce-type': 'dev.knative.sources.ping',
      'ce-source': 's',
      'content-type': 'application/json',
    },
    body: '{}',
  });
  assert.is(route.status, 503);
  // The ingress refuses more while the backlog is ten times the cap (22 waiting >= 20).
  const ingress = await server.app.request('/', {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': 'y',
      'ce-type': 'dev.knative.sources.ping',
      'ce-source': 's',
      'content-type': 'application/json',
    },
    body: '{}',
  });
  assert.is(ingress.status, 503);
  open();
  await server.broker!.idle();
  assert.is(peak, 2, 'never more than two');
  assert.is(hops.length, 24, 'every delivery made, none refused or lost');
  assert.ok(
    hops.every((s) => s < 300),
    String(hops),
  );
});

test.run();
