/**
 * Anchors that the namespace admits. A LimitRange may demand more than the anchor's tiny requests
 * ("minimum cpu usage per Container is 10m, but request is 1m"): the anchor then takes the smallest
 * requests (and limits, equal to them) the namespace allows. Pure: the caller reads the LimitRanges
 * only after the API server refused an anchor, so the common path costs nothing.
 */
import type { KubeObject } from '../kube/objects.ts';

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** A Kubernetes quantity (`500m`, `512Mi`, `2`) as a number (cores, bytes); NaN when it does not parse. */
export function quantity(q: string | number | undefined | null): number {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return Number.NaN;
  const m = /^([0-9]+(?:\.[0-9]+)?)(n|u|m|k|K|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q.trim());
  if (!m) return Number.NaN;
  return Number(m[1]) * (SUFFIX[m[2] ?? ''] ?? Number.NaN);
}

interface LimitItem {
  type?: string;
  min?: Record<string, string>;
  max?: Record<string, string>;
}

/**
 * The anchor fitted to the namespace's LimitRanges: requests = limits = the larger of what it asks and
 * every Container (or Pod) minimum. Null when nothing needs to change, or when a maximum is below the
 * needed value (no anchor fits: the caller reports it).
 */
export function fitToLimits(anchor: KubeObject, limitRanges: KubeObject[]): { anchor: KubeObject | null; why: string } {
  const spec = anchor.spec as {
    containers: { resources: { requests: Record<string, string>; limits: Record<string, string> } }[];
  };
  const res = spec.containers[0]!.resources;
  const items = limitRanges.flatMap((l) => (l.spec as { limits?: LimitItem[] } | undefined)?.limits ?? []);
  const wanted: Record<string, string> = { ...res.requests };
  let changed = false;
  for (const item of items.filter((i) => i.type === 'Container' || i.type === 'Pod')) {
    for (const [name, min] of Object.entries(item.min ?? {})) {
      const have = wanted[name];
      if (have === undefined || quantity(min) > quantity(have)) {
        wanted[name] = min;
        changed = true;
      }
    }
  }
  for (const item of items.filter((i) => i.type === 'Container' || i.type === 'Pod')) {
    for (const [name, max] of Object.entries(item.max ?? {})) {
      const have = wanted[name];
      if (have !== undefined && quantity(have) > quantity(max)) {
        return {
          anchor: null,
          why: `the namespace's LimitRange allows at most ${max} ${name}, an anchor needs ${have}`,
        };
      }
    }
  }
  if (!changed) return { anchor: null, why: 'the LimitRanges ask for nothing the anchor lacks' };
  const fitted = structuredClone(anchor);
  const c = (fitted.spec as typeof spec).containers[0]!;
  c.resources = { requests: { ...wanted }, limits: { ...wanted } };
  return {
    anchor: fitted,
    why: `requests raised to the namespace's minimum: ${Object.entries(wanted)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  };
}
