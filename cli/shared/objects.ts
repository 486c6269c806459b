/** Readings of Kubernetes objects that both CLIs show (replay's end state, status' live view). */
import type { KubeObject } from '../../functions/core/kube/objects.ts';

type Json = Record<string, unknown>;
/** The hostnames a Job's pod template avoids (NotIn on kubernetes.io/hostname), and whether it is required. */
export function avoidedNodes(job: KubeObject): { nodes: string[]; required: boolean } {
  const na = (
    (((job.spec as Json | undefined)?.template as Json | undefined)?.spec as Json | undefined)?.affinity as
      | Json
      | undefined
  )?.nodeAffinity as Json | undefined;
  const exprs = (terms: Json[]) =>
    terms.flatMap((t) =>
      ((t.matchExpressions as Json[] | undefined) ?? []).filter(
        (e) => e.key === 'kubernetes.io/hostname' && e.operator === 'NotIn',
      ),
    );
  const req = exprs(
    ((na?.requiredDuringSchedulingIgnoredDuringExecution as Json | undefined)?.nodeSelectorTerms as
      | Json[]
      | undefined) ?? [],
  );
  const pref = exprs(
    ((na?.preferredDuringSchedulingIgnoredDuringExecution as Json[] | undefined) ?? [])
      .map((p) => p.preference as Json)
      .filter(Boolean),
  );
  const nodes = [...new Set([...req, ...pref].flatMap((e) => (e.values as string[] | undefined) ?? []))].sort();
  return { nodes, required: req.length > 0 };
}

export function jobCondition(job: KubeObject): string | null {
  const conds =
    (job.status as { conditions?: { type: string; status: string; reason?: string }[] } | undefined)?.conditions ?? [];
  const c = ['Complete', 'Failed', 'SuccessCriteriaMet', 'FailureTarget']
    .map((t) => conds.find((x) => x.status === 'True' && x.type === t))
    .find(Boolean);
  return c ? `${c.type}${c.reason ? ` (${c.reason})` : ''}` : null;
}
