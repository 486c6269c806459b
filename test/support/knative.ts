/**
 * knative-check (test/knative/main.go): Knative's own webhook validation and Trigger filters, built
 * from the Go module proxy by test/rig/build.sh (family `knative`, cached in .rig/bin) on first use.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { build } from '../rig/rig.ts';
import { BIN_DIR, RIG_DIR } from '../rig/paths.ts';

export const KNATIVE_CHECK = path.join(BIN_DIR, 'knative-check');
/** Eventing's own default ConfigMaps (config-br-defaults, config-features), copied from the module by build.sh. */
export const KNATIVE_CONFIG = path.join(RIG_DIR, 'knative', 'config');

let built = false;

export function knativeCheck(args: string[], stdin = ''): { status: number; stdout: string; stderr: string } {
  if (!built) {
    build(['knative']);
    built = true;
  }
  const r = spawnSync(KNATIVE_CHECK, args, { input: stdin, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
