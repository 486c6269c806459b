/**
 * What a replay reports: its options, every delivery (hop) and step, and the end state per group.
 * Data types only, so the orchestrator (run.ts), the end-state reader (state.ts) and the printers
 * (format.ts, svg.ts) share them without importing one another; svg.ts hands the groups to the
 * timeline drawing shared with the status CLI (cli/shared/timeline-svg.ts), whose input types they fit.
 */
import type { Cluster } from '../../functions/core/kube/cluster.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import type { InputProblem } from './inputs.ts';
import type { ViewResult, WriteRecord } from './view.ts';
import type { TimelineAnchor, TimelinePod } from '../shared/timeline-svg.ts';

export type Mode = 'offline' | 'target' | 'cluster';

export interface ReplayOptions {
  paths: string[];
  mode: Mode;
  /** --target URL */
  target?: string;
  /** --cluster: write for real (default: dry-run). */
  apply?: boolean;
  /** Keep the recorded pacing (real waiting), divided by `speed`. */
  pace?: boolean;
  speed?: number;
  /** Deliver every event this many times in all. */
  dup?: number;
  /** Deliver late and out of order, seeded: each copy up to `windowMs` late. */
  shuffleSeed?: string | null;
  windowMs?: number;
  /** Run only these functions (their Triggers); the others are dropped from the local broker. */
  only?: string[] | null;
  /** Also deliver events restore-guard itself produced (dropped by default: the chain makes them again). */
  withReplies?: boolean;
  failFast?: boolean;
  /** Folder of Trigger manifests; default RG_EVENTING_DIR or the project's eventing/. */
  eventingDir?: string;
  /** Environment for the functions' configuration (RG_*, KUBECONFIG). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Called after each item. */
  onProgress?: (done: number, total: number) => void;
  /** Every log line of the functions (JSON), for --verbose. */
  onLog?: (line: string) => void;
  /** For --cluster: how to connect (tests pass a fake). */
  connect?: () => Promise<Cluster>;
  /** For --target: how to send (tests pass a fake). */
  fetch?: typeof fetch;
}

export interface HopRecord {
  function: string;
  trigger: string;
  depth: number;
  attempt: number;
  event: { id: string; type: string };
  status: number;
  reply: { id: string; type: string; data: unknown } | null;
  error: string | null;
  writes: WriteRecord[];
}

export interface Step {
  index: number;
  /** Time the item was replayed at (the virtual clock offline). */
  at: number;
  recordedAt: number;
  origin: { file: string; line: number };
  copy: number;
  kind: 'event' | 'observation';
  event: { id: string; type: string; source: string; subject: string | null } | null;
  object: KubeObject | null;
  deleted: boolean;
  /** Offline: the view's object just before a delete event took it away (with restore-guard's writes). */
  before: KubeObject | null;
  view: ViewResult | null;
  skipped: string | null;
  hops: HopRecord[];
}

export interface Report {
  mode: Mode;
  dryRun: boolean;
  target: string | null;
  eventingDir: string | null;
  triggers: string[];
  files: string[];
  problems: InputProblem[];
  events: number;
  observations: number;
  steps: Step[];
  /** Writes no delivery can be tied to (should be none). */
  strayWrites: WriteRecord[];
  writes: WriteRecord[];
  errors: number;
  state: EndState | null;
  start: number;
  end: number;
  /** PVCs (Kind/ns/name) the offline view inferred from pod volumes. */
  inferred: string[];
  /** Offline: every state of the world applied to the view, in recorded order. */
  world: { at: number; object: KubeObject; deleted: boolean; before: KubeObject | null; result: ViewResult }[];
}

export class UsageError extends Error {}

/** One restore pod's life as the replay saw it (times in ms, on the replay's clock). */
export interface PodLife extends TimelinePod {
  uid: string | null;
  stopBy: 'restore-guard' | 'recording' | null;
  deletedBy: 'restore-guard' | 'recording' | null;
  /** Labels restore-guard left on it (state), when it is still there. */
  state: string | null;
  /** Attempt number (retry pods carry it). */
  attempt: number;
}

export interface AnchorLife extends TimelineAnchor {
  owner: string | null;
}

export interface Outcome {
  state: string;
  scope: string;
  reason: string | null;
  node: string | null;
  pod: string | null;
  attempt: number | null;
}

export interface JobState {
  name: string;
  condition: string | null;
  state: string | null;
  outcome: Outcome | null;
  present: boolean;
  deletedBy: 'restore-guard' | 'recording' | null;
  retryOf: string | null;
  attempt: number;
  createdByRestoreGuard: boolean;
}

export interface RetryState {
  job: string;
  of: string;
  attempt: number;
  /** Nodes the replacement avoids (its node affinity). */
  avoid: string[];
  required: boolean;
  at: number;
  /** restore-guard in this replay, or already in the recording (restore-guard of the recorded run). */
  createdBy: 'restore-guard' | 'recording';
}

export interface GroupState {
  namespace: string;
  group: string;
  profile: 'kubeblocks' | 'generic';
  /** When release answered group.completed (first time). */
  completedAt: number | null;
  /** When the last of the group's anchors was deleted, and by which function (resync answers nothing). */
  releasedAt: number | null;
  releasedBy: string | null;
  pods: PodLife[];
  anchors: AnchorLife[];
  jobs: JobState[];
  pvcs: { name: string; outcome: Outcome | null; inferred: boolean }[];
  retries: RetryState[];
  failures: {
    pod: string | null;
    job: string | null;
    node: string | null;
    reason: string | null;
    scope: string;
    at: number;
    retryable: boolean;
  }[];
}

export interface EndState {
  groups: GroupState[];
}
