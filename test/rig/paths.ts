// Where the rig keeps things. Everything lives under <repo>/.rig (git-ignored).
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RIG_DIR = process.env.RIG_DIR ?? path.join(REPO_ROOT, '.rig');
export const BIN_DIR = path.join(RIG_DIR, 'bin');
export const LOG_DIR = path.join(RIG_DIR, 'logs');
export const RUN_DIR = path.join(RIG_DIR, 'run');
export const PKI_DIR = path.join(RIG_DIR, 'pki');
export const KUBECONFIG_DIR = path.join(RUN_DIR, 'kubeconfigs');
export const STATE_FILE = path.join(RUN_DIR, 'state.json');
export const STAGES_DIR = path.join(REPO_ROOT, 'test', 'rig', 'stages');
export const BUILD_SCRIPT = path.join(REPO_ROOT, 'test', 'rig', 'build.sh');

/** Binary path; etcd and kube-apiserver come from KUBEBUILDER_ASSETS when that is set and holds them. */
export function binPath(name: string): string {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets && (name === 'etcd' || name === 'kube-apiserver')) return path.join(assets, name);
  return path.join(BIN_DIR, name);
}
