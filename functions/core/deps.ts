import type { Cluster } from './kube/cluster.ts';
import type { Config } from './config.ts';
import { ClusterUnavailableError } from './errors.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { RecentIds } from './recent-ids.ts';
import type { Selector } from './restore/selection.ts';

/** Everything a function needs from outside, passed in (clock, randomness and the cluster included). */
export interface Deps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  selector: Selector;
  clock: () => Date;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  /** The cluster, connected on first use. Rejects with ClusterUnavailableError when none is configured. */
  cluster: () => Promise<Cluster>;
  /** Recently answered event ids per function, so repeats are cheap. Correctness never depends on it. */
  memory: RecentIds;
}

export const noCluster = (): Promise<Cluster> =>
  Promise.reject(
    new ClusterUnavailableError('no Kubernetes API server is configured', {
      hint: 'set KUBECONFIG to a kubeconfig (or run in a cluster with a ServiceAccount); completion works without one',
    }),
  );
