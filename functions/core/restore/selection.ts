import type { Config } from '../config.ts';
import { KB, keys } from './keys.ts';
import type { Job, KubeObject, Pod, PodSpec } from '../kube/objects.ts';
import { annotationsOf, labelsOf } from '../kube/objects.ts';
import { isLabelValue } from '../kube/names.ts';
import { InvalidEventError } from '../errors.ts';

export type ProfileName = 'kubeblocks' | 'generic';

/** What selection learns about an object: which profile, which group, which containers restore. */
export interface Selection {
  profile: ProfileName;
  namespace: string;
  group: string;
  /** Names of the containers whose termination is the restore's outcome; empty = all regular but helpers. */
  restoreContainers: string[];
  helpers: string[];
}

export interface Selector {
  /** The fast path: labels only, no parsing of anything else. */
  selectLabels(namespace: string | undefined, labels: Record<string, string> | null | undefined): Selection | null;
  selectPod(pod: Pod): Selection | null;
  selectJob(job: Job): Selection | null;
  /** Is this one of our anchors? */
  isAnchor(obj: KubeObject): boolean;
  /** Label selectors (one per profile) that find every restore object; for list calls and manifests. */
  listSelectors(): string[];
  /** Label selector for the members (pods and jobs) of one group. Throws when the group is not a label value. */
  groupSelector(sel: Pick<Selection, 'profile' | 'group'>): string;
}

export function createSelector(
  cfg: Pick<Config, 'RG_PROFILES' | 'RG_DOMAIN' | 'RG_GENERIC_RESTORE_CONTAINERS' | 'RG_HELPER_CONTAINERS'>,
): Selector {
  const k = keys(cfg.RG_DOMAIN);
  const kubeblocks = cfg.RG_PROFILES.includes('kubeblocks');
  const generic = cfg.RG_PROFILES.includes('generic');
  const helpers = [...new Set([KB.helper, ...cfg.RG_HELPER_CONTAINERS])];

  const selectLabels = (
    namespace: string | undefined,
    labels: Record<string, string> | null | undefined,
  ): Selection | null => {
    if (!labels || !namespace) return null;
    if (labels[k.anchorFor] !== undefined) return null; // our own anchors are never restore objects
    if (kubeblocks) {
      const g = labels[KB.restore];
      if (g) return { profile: 'kubeblocks', namespace, group: g, restoreContainers: [KB.restoreContainer], helpers };
    }
    if (generic) {
      const g = labels[k.group];
      if (g)
        return {
          profile: 'generic',
          namespace,
          group: g,
          restoreContainers: cfg.RG_GENERIC_RESTORE_CONTAINERS,
          helpers,
        };
    }
    return null;
  };

  const withContainerOverride = (sel: Selection | null, annotations: Record<string, string>): Selection | null => {
    const named = annotations[k.containers];
    if (!sel || !named) return sel;
    return {
      ...sel,
      restoreContainers: named
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    };
  };

  return {
    selectLabels,
    selectPod: (pod) =>
      withContainerOverride(selectLabels(pod.metadata.namespace, pod.metadata.labels), annotationsOf(pod)),
    selectJob: (job) => {
      // KubeBlocks labels the Job itself; the generic profile looks at the pod template.
      const tmpl = job.spec.template.metadata?.labels ?? {};
      const sel = selectLabels(job.metadata.namespace, { ...tmpl, ...labelsOf(job) });
      return withContainerOverride(sel, { ...(job.spec.template.metadata?.annotations ?? {}), ...annotationsOf(job) });
    },
    isAnchor: (obj) => labelsOf(obj)[k.anchorFor] !== undefined,
    listSelectors: () =>
      [...(kubeblocks ? [KB.restore] : []), ...(generic ? [k.group] : [])].map((key) => `${key},!${k.anchorFor}`),
    groupSelector: (sel) => {
      // Never paste a free string into a selector: `g,other/key` would select every object with that key.
      if (!isLabelValue(sel.group))
        throw new InvalidEventError(`group ${JSON.stringify(sel.group.slice(0, 80))} is not a label value`, {
          hint: 'a group is the value of a label: at most 63 characters of [A-Za-z0-9_.-]',
        });
      return `${sel.profile === 'kubeblocks' ? KB.restore : k.group}=${sel.group}`;
    },
  };
}

/** Which containers decide the restore's outcome. Native sidecars (init, restartPolicy Always) never count. */
export function restoreContainerNames(pod: Pick<Pod, 'spec'>, sel: Selection): string[] {
  // Sets, not lists: an event may carry tens of thousands of containers (linear, never quadratic).
  const regular = pod.spec.containers.map((c) => c.name);
  const present = new Set(regular);
  const named = [...new Set(sel.restoreContainers)].filter((n) => present.has(n));
  if (named.length > 0) return named;
  const helpers = new Set(sel.helpers);
  return regular.filter((n) => !helpers.has(n));
}

/**
 * The PVCs a restore restores into: where its outcome is recorded, and what release checks. KubeBlocks
 * mounts its Mount-type backup repository as the volume `dp-backup-data`: one PVC shared by every
 * restore, not the restore's own (its data volumes are `dp-claim-<pvc>` / `dp-claim-tpl-<name>`).
 * The generic profile: every PVC the pod mounts.
 */
export function restoreClaims(spec: PodSpec, profile: ProfileName): string[] {
  return (spec.volumes ?? []).flatMap((v) =>
    v.persistentVolumeClaim && !(profile === 'kubeblocks' && v.name === KB.repoVolume)
      ? [v.persistentVolumeClaim.claimName]
      : [],
  );
}
