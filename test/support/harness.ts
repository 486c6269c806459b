/** An in-process restore-guard over an in-memory cluster, with a fixed clock: for function tests. */
import { loadConfig } from '../../functions/core/config.ts';
import type { CloudEvent } from '../../functions/core/http/cloudevent.ts';
import { toBinary } from '../../functions/core/http/cloudevent.ts';
import { memoryLogger } from '../../functions/core/log.ts';
import { MemoryCluster } from '../../functions/core/kube/memory-cluster.ts';
import { createServer } from '../../functions/server.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';

export function harness(env: Record<string, string> = {}, now = new Date('2026-11-29T10:00:10Z')) {
  let time = now.getTime();
  const clock = () => new Date(time);
  const cluster = new MemoryCluster(clock);
  const log = memoryLogger();
  const slept: number[] = [];
  const server = createServer({
    config: loadConfig({ RG_EVENTING_DIR: 'eventing', RG_AUTH: 'none', ...env }),
    log,
    connect: async () => cluster,
    clock,
    random: () => 0.5,
    sleep: async (ms) => {
      slept.push(ms);
      time += ms;
    },
  });
  const seed = async (...objs: KubeObject[]) => {
    for (const o of objs) await cluster.create(o.kind as 'Pod', o.metadata.namespace ?? 'db', o);
    cluster.writes.length = 0;
  };
  const post = async (path: string, ev: CloudEvent) => {
    const { headers, body } = toBinary(ev);
    const res = await server.app.request(path, { method: 'POST', headers, body });
    const text = await res.text();
    const reply =
      res.status === 200
        ? { type: res.headers.get('ce-type'), id: res.headers.get('ce-id'), data: JSON.parse(text) }
        : null;
    return { status: res.status, text, reply };
  };
  return { server, cluster, log, clock, slept, seed, post, advance: (ms: number) => (time += ms) };
}

let n = 0;
export function apiEvent(obj: KubeObject, verb: 'add' | 'update' | 'delete' = 'update'): CloudEvent {
  return {
    specversion: '1.0',
    id: `api-${++n}`,
    source: 'https://127.0.0.1:6443',
    type: `dev.knative.apiserver.resource.${verb}`,
    subject: `/apis/v1/namespaces/${obj.metadata.namespace}/${obj.kind === 'Pod' ? 'pods' : 'jobs'}/${obj.metadata.name}`,
    time: '2026-11-29T10:00:06Z',
    datacontenttype: 'application/json',
    data: obj,
  };
}

export function restoreEvent(type: string, data: unknown, id = `rg-${++n}`): CloudEvent {
  return {
    specversion: '1.0',
    id,
    source: 'restore-guard/test',
    type,
    subject: 'db/x',
    time: '2026-11-29T10:00:06Z',
    datacontenttype: 'application/json',
    data,
  };
}
