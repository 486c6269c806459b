/**
 * Reads what status shows from the cluster, with the narrow Cluster interface the functions use:
 * restore pods (one list per profile's selector), Jobs (all, selected as the functions select
 * them: a generic Job may carry its group only on its pod template), anchors (their label), and
 * the PVCs the restore pods and their Jobs' templates mount (each read by name). Read-only: list and get, nothing else.
 */
import type { Cluster } from '../../functions/core/kube/cluster.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { JobSchema, PodSchema } from '../../functions/core/kube/objects.ts';
import type { Keys } from '../../functions/core/restore/keys.ts';
import type { Selector } from '../../functions/core/restore/selection.ts';
import { restoreClaims } from '../../functions/core/restore/selection.ts';
import type { Snapshot } from './model.ts';

export async function readSnapshot(
  cluster: Cluster,
  selector: Selector,
  k: Keys,
  namespace: string | null,
  source: string,
  now: () => number = Date.now,
): Promise<Snapshot> {
  const [podLists, jobs, anchors] = await Promise.all([
    Promise.all(selector.listSelectors().map((s) => cluster.list('Pod', namespace, s))),
    cluster.list('Job', namespace, ''),
    cluster.list('Pod', namespace, k.anchorFor),
  ]);
  const seen = new Set<string>();
  const pods = podLists.flat().filter((p) => {
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const claims = new Set<string>();
  for (const p of pods) {
    const parsed = PodSchema.safeParse(p);
    const sel = parsed.success ? selector.selectPod(parsed.data) : null;
    if (parsed.success && sel)
      for (const c of restoreClaims(parsed.data.spec, sel.profile)) claims.add(`${sel.namespace}/${c}`);
  }
  // A finished pod is deleted once its outcome is recorded: its Job's template still names the PVCs.
  for (const j of jobs) {
    const parsed = JobSchema.safeParse(j);
    const sel = parsed.success ? selector.selectJob(parsed.data) : null;
    if (parsed.success && sel)
      for (const c of restoreClaims(parsed.data.spec.template.spec, sel.profile)) claims.add(`${sel.namespace}/${c}`);
  }
  const pvcs = (
    await Promise.all(
      [...claims].sort().map((key) => {
        const [ns, name] = key.split('/') as [string, string];
        return cluster.get('PersistentVolumeClaim', ns, name);
      }),
    )
  ).filter((p): p is KubeObject => p !== null);
  return {
    at: now(),
    source,
    namespace,
    pods,
    jobs,
    anchors,
    pvcs,
  };
}
