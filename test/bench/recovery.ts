/**
 * Figure 3, recovery: time from a retryable failure (the rig's evict stage) to its replacement pod
 * Running, and whether the replacement runs on another node.
 *
 * - baseline: a plain Job with backoffLimit 3, no restore-guard: the Job controller's own pod retry
 *   (its backoff starts at 10 s) on whatever node the scheduler picks;
 * - restore-guard: backoffLimit 0 and `restoreguard.dev/retry: "true"`: the Job fails for good and
 *   restore-guard creates `<job>-retry-1`, preferring to avoid the node that failed.
 *
 * Each sample pins the first attempt to rig-node-1 by filling rig-node-2 and rig-node-3 (filler pods
 * bound to them, requests that leave less than the restore needs), deletes the fillers as soon as
 * the attempt is bound, and lets it be evicted there (`fail-on-nodes: rig-node-1`). So a free node
 * exists for every replacement, and the baseline's scheduler sees three empty nodes.
 */
import { randomBytes } from 'node:crypto';
import type { Chain, Change } from '../support/chain.ts';
import { L, type Observer, placement } from '../support/chain.ts';
import { ANNOTATIONS, NODE_NAMES } from '../rig/index.ts';
import { atLeast, all, fmtMs, fmtPct, fmtRatio, ratioAtMost, share, summarize, type Row } from './table.ts';

export interface RecoverySample {
  arm: 'baseline' | 'guard';
  job: string;
  firstNode: string | null;
  /** ms from the failure (pod Failed observed) to the replacement Running; null: none within the cap */
  recoveryMs: number | null;
  replacementNode: string | null;
  /** the first attempt did not land on the failing node (sample not usable) */
  discarded?: string;
}

const FAIL_NODE = NODE_NAMES[0]!;
const FREE_NODES = NODE_NAMES.slice(1, 3);

function podsOf(obs: Observer, job: string): Change[][] {
  return obs
    .histories(
      'Pod',
      (o) =>
        !o.metadata.labels?.[L.anchorFor] &&
        (o.metadata.labels?.['job-name'] === job ||
          String(o.metadata.labels?.['job-name'] ?? '').startsWith(`${job}-retry-`)),
    )
    .sort((a, b) => a[0]!.at - b[0]!.at);
}

async function until<T>(obs: Observer, capMs: number, f: () => T | null | undefined): Promise<T | null> {
  const t = Date.now();
  for (;;) {
    const v = f();
    if (v !== null && v !== undefined) return v;
    if (Date.now() - t > capMs) return null;
    await obs.next(250);
  }
}

export async function recoverySample(chain: Chain, arm: 'baseline' | 'guard', capMs: number): Promise<RecoverySample> {
  const obs = chain.observer;
  const tag = randomBytes(2).toString('hex');
  const fillers = FREE_NODES.map((n) => `filler-${tag}-${n}`);
  for (const [i, n] of FREE_NODES.entries()) {
    await chain.kube.post(`/api/v1/namespaces/${chain.ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: fillers[i], labels: { 'rig.restoreguard.dev/role': 'filler' } },
      spec: {
        nodeName: n,
        terminationGracePeriodSeconds: 0,
        containers: [
          { name: 'fill', image: 'registry.invalid/fill:1', resources: { requests: { cpu: '7600m', memory: '1Gi' } } },
        ],
      },
    });
  }
  const running = (name: string) =>
    obs.histories('Pod', (o) => o.metadata.name === name).some((h) => h.some((c) => c.obj.status?.phase === 'Running'));
  await until(obs, 20_000, () => fillers.every(running) || null);

  const group = await chain.createRestoreGroup({
    name: `rec-${arm[0]}-${tag}`,
    profile: 'generic',
    sidecar: false,
    replicas: 1,
    runMs: 500,
    evict: true,
    podAnnotations: { [ANNOTATIONS.failOnNodes]: FAIL_NODE },
    nodes: NODE_NAMES.slice(0, 3),
    antiAffinity: false,
    retry: arm === 'guard',
    backoffLimit: arm === 'guard' ? 0 : 3,
  });
  const job = group.jobNames[0]!;
  try {
    const first = await until(obs, 20_000, () => {
      const h = podsOf(obs, job)[0];
      return h && placement(h) ? h : null;
    });
    for (const f of fillers) await chain.kube.del(`/api/v1/namespaces/${chain.ns}/pods/${f}`).catch(() => undefined);
    if (!first)
      return {
        arm,
        job,
        firstNode: null,
        recoveryMs: null,
        replacementNode: null,
        discarded: 'first attempt never bound',
      };
    const firstNode = placement(first)!.node;
    if (firstNode !== FAIL_NODE)
      return {
        arm,
        job,
        firstNode,
        recoveryMs: null,
        replacementNode: null,
        discarded: `first attempt bound to ${firstNode}`,
      };
    const uid = first[0]!.obj.metadata.uid;
    const failedAt = await until(obs, 20_000, () => first.find((c) => c.obj.status?.phase === 'Failed')?.at);
    if (failedAt === null)
      return { arm, job, firstNode, recoveryMs: null, replacementNode: null, discarded: 'first attempt never failed' };
    const rep = await until(obs, capMs, () => {
      for (const h of podsOf(obs, job)) {
        if (h[0]!.obj.metadata.uid === uid) continue;
        const r = h.find((c) => c.obj.status?.phase === 'Running');
        if (r) return { at: r.at, node: r.obj.spec.nodeName as string };
      }
      return null;
    });
    return { arm, job, firstNode, recoveryMs: rep ? rep.at - failedAt : null, replacementNode: rep?.node ?? null };
  } finally {
    group.stop();
    for (const f of fillers) await chain.kube.del(`/api/v1/namespaces/${chain.ns}/pods/${f}`).catch(() => undefined);
    // Stop the Job (and its retries) so nothing keeps retrying into the next sample.
    for (const j of [job, `${job}-retry-1`, `${job}-retry-2`]) {
      await chain.kube
        .call('DELETE', `/apis/batch/v1/namespaces/${chain.ns}/jobs/${j}?propagationPolicy=Background`)
        .catch(() => undefined);
    }
  }
}

export async function runRecovery(
  chains: { baseline: Chain; guard: Chain },
  samples: number,
  capMs: number,
  progress: (s: string) => void,
): Promise<RecoverySample[]> {
  const out: RecoverySample[] = [];
  for (let i = 0; i < samples; i++) {
    for (const arm of i % 2 ? (['guard', 'baseline'] as const) : (['baseline', 'guard'] as const)) {
      const s = await recoverySample(chains[arm], arm, capMs);
      out.push(s);
      progress(
        `fig 3  sample ${i + 1}/${samples} ${arm.padEnd(8)} ${s.discarded ? `discarded: ${s.discarded}` : `failure → replacement Running ${s.recoveryMs === null ? 'never' : fmtMs(s.recoveryMs)} on ${s.replacementNode ?? '—'}`}`,
      );
    }
  }
  return out;
}

export function figure3(samples: RecoverySample[]): Row[] {
  const use = (arm: string) => samples.filter((s) => s.arm === arm && !s.discarded);
  const b = use('baseline');
  const g = use('guard');
  const times = (xs: RecoverySample[]) => summarize(xs.map((s) => s.recoveryMs ?? Infinity).filter(Number.isFinite));
  const never = (xs: RecoverySample[]) => xs.filter((s) => s.recoveryMs === null).length;
  const elsewhere = (xs: RecoverySample[]) =>
    share(xs.filter((s) => s.replacementNode && s.replacementNode !== s.firstNode).length, xs.length);
  const bt = times(b);
  const gt = times(g);
  const discarded = samples.filter((s) => s.discarded).length;
  const note = [
    never(g) ? `${never(g)} guard failure(s) never replaced` : '',
    never(b) ? `${never(b)} baseline failure(s) not replaced within the cap` : '',
    discarded ? `${discarded} sample(s) discarded (first attempt not on the failing node)` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return [
    {
      figure: '3',
      title: 'recovery: retryable failure → replacement Running',
      cell: `evicted on ${FAIL_NODE}, 2 free nodes (${g.length} / ${b.length} samples)`,
      value: `p50 ${fmtMs(gt.p50)}, max ${fmtMs(gt.max)}`,
      baseline: `Job controller backoff p50 ${fmtMs(bt.p50)}, max ${fmtMs(bt.max)}`,
      ratio: `${fmtRatio(gt.p50, bt.p50)} (p50)`,
      target: '≤ 20% of baseline',
      verdict: never(g) ? 'MISSED' : all([ratioAtMost(gt.p50, bt.p50, 0.2), ratioAtMost(gt.max, bt.p50, 0.2)]),
      ...(note ? { note } : {}),
    },
    {
      figure: '3',
      title: 'recovery: replacement on another node',
      cell: 'a free node exists',
      value: fmtPct(elsewhere(g)),
      baseline: `Job controller ${fmtPct(elsewhere(b))}`,
      ratio: '—',
      target: '100%',
      verdict: atLeast(elsewhere(g), 1),
    },
  ];
}
