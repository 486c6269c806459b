/** Label and annotation keys, under the configured domain. */
export function keys(domain: string) {
  return {
    state: `${domain}/state`,
    outcome: `${domain}/outcome`,
    history: `${domain}/history`,
    group: `${domain}/group`,
    groupSize: `${domain}/group-size`,
    anchorFor: `${domain}/anchor-for`,
    anchorUid: `${domain}/anchor-for-uid`,
    /** The full name of the pod an anchor stands for (the label holds a shortened one past 63 characters). */
    anchorPod: `${domain}/anchor-for-pod`,
    /** On anchors: the restore pod's Job, whose record re-anchors the member once its pod is gone. */
    anchorJob: `${domain}/anchor-for-job`,
    profile: `${domain}/profile`,
    retry: `${domain}/retry`,
    attempt: `${domain}/attempt`,
    retryOf: `${domain}/retry-of`,
    rootJob: `${domain}/root-job`,
    failedNodes: `${domain}/failed-nodes`,
    retrySkipped: `${domain}/retry-skipped`,
    containers: `${domain}/restore-containers`,
    /** The scheduling gate of the opt-in placement gate (generic profile): pods wait until their siblings are anchored. */
    gate: `${domain}/placement`,
    /** Optional member label (generic profile): the restore pod and the workload pod restored onto its PVCs share it. */
    member: `${domain}/member`,
    /** On anchors: a hash of the scheduling constraint (anti-affinity) they hold; groups that share it are released together. */
    constraint: `${domain}/constraint`,
    /** On anchors: how many times the lease was renewed (each renewal is a new anchor pod). */
    generation: `${domain}/generation`,
    /** On anchors: the member they stand for (its member label's value), to hand the node over to its successor. */
    anchorMember: `${domain}/anchor-member`,
  } as const;
}
export type Keys = ReturnType<typeof keys>;

/** KubeBlocks' own keys (profile kubeblocks). */
export const KB = {
  restore: 'dataprotection.kubeblocks.io/restore',
  managedBy: 'app.kubernetes.io/managed-by',
  stop: 'dataprotection.kubeblocks.io/stop-restore-manager',
  restoreContainer: 'restore',
  helper: 'restore-manager',
  /** The member a restore pod restores: the name of the workload pod its PVCs are for. */
  podName: 'apps.kubeblocks.io/pod-name',
  /** The volume of a Mount-type backup repository: a PVC shared by every restore. */
  repoVolume: 'dp-backup-data',
} as const;
