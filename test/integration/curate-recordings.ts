/**
 * Copies the events the real ApiServerSource adapter sent during the integration tests (recorded by
 * the server into .rig/recordings/<scenario>/ with RG_RECORD_DIR) into small fixtures:
 * test/fixtures/recordings/rig-<name>/, one restore group each, raw captures unchanged (whole
 * files are selected, never edited).
 *
 *   npm test   (or: npx node test/run.ts integration/)   then   npx node test/integration/curate-recordings.ts
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { L } from '../support/chain.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FROM = path.join(ROOT, '.rig', 'recordings');
const TO = path.join(ROOT, 'test', 'fixtures', 'recordings');

/** fixture folder → [recorded scenario, group] */
export const CURATED: Record<string, [string, string]> = {
  'rig-anti-affinity-sequential': ['anti-affinity', 'seq-three-nodes'],
  'rig-kubeblocks-sidecar': ['kubeblocks-sidecar', 'mysql-restore'],
  'rig-evicted-retried': ['retry', 'evicted'],
  'rig-not-retryable': ['retry', 'notfound'],
  'rig-attempt-bound': ['retry', 'flaky'],
  'rig-release-workload': ['release', 'pg-restore'],
};

function groupOf(body: string): string | undefined {
  try {
    const o = JSON.parse(body) as {
      metadata?: { labels?: Record<string, string> };
      spec?: { template?: { metadata?: { labels?: Record<string, string> } } };
    };
    const labels = { ...o.spec?.template?.metadata?.labels, ...o.metadata?.labels };
    return labels[L.group] ?? labels[L.kbRestore];
  } catch {
    return undefined;
  }
}

if (import.meta.main) {
  for (const [name, [scenario, group]] of Object.entries(CURATED)) {
    const src = path.join(FROM, scenario);
    if (!fs.existsSync(src)) throw new Error(`${src} missing: run the integration tests first`);
    const files = fs
      .readdirSync(src)
      .filter((f) => f.endsWith('.capture.json'))
      .sort()
      .filter(
        (f) => groupOf((JSON.parse(fs.readFileSync(path.join(src, f), 'utf8')) as { body: string }).body) === group,
      );
    const dst = path.join(TO, name);
    for (const f of fs.existsSync(dst) ? fs.readdirSync(dst) : [])
      if (f.endsWith('.capture.json')) fs.rmSync(path.join(dst, f));
    fs.mkdirSync(dst, { recursive: true });
    for (const f of files) fs.copyFileSync(path.join(src, f), path.join(dst, f));
    console.log(`${name}: ${files.length} captures of group ${group} from ${scenario}`);
  }
}
