/**
 * Knative's own webhook code over eventing/: every Knative object (Broker, Triggers, ApiServerSources,
 * PingSource, the dead-letter Service) decoded strictly and put through its type's SetDefaults and
 * Validate, with the release's default ConfigMaps loaded, as the defaulting and validating webhooks
 * of Eventing and Serving do on `kubectl apply -k eventing/` (test/knative/main.go, built from
 * knative.dev/eventing and knative.dev/serving at the rig's versions).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KNATIVE_CONFIG, knativeCheck } from '../support/knative.ts';

const EVENTING = resolve(import.meta.dirname, '../../eventing');

const lines = (out: string) => out.trim().split('\n').filter(Boolean);

// README's prerequisite: Eventing's authentication-oidc feature on (the EventPolicy needs it).
const OIDC = ['--feature', 'authentication-oidc=enabled'];

test('every Knative object in eventing/ passes Knative’s own defaulting and validation', () => {
  const r = knativeCheck(['validate', '--config', KNATIVE_CONFIG, ...OIDC, EVENTING]);
  const errors = lines(r.stdout).filter((l) => l.startsWith('error '));
  assert.equal(errors, [], r.stdout + r.stderr);
  assert.is(r.status, 0, r.stderr);
  // It saw every object: the Knative kinds were validated, the rest (Namespace, RBAC) skipped.
  const ok = lines(r.stdout)
    .filter((l) => l.startsWith('ok '))
    .map((l) => l.split(' ').slice(3).join(' '))
    .sort();
  assert.equal(ok, [
    'ApiServerSource restore-guard',
    'ApiServerSource restore-guard-kubeblocks',
    'Broker restore-guard',
    'EventPolicy restore-guard',
    'PingSource restore-guard-resync',
    'Trigger restore-guard-completion',
    'Trigger restore-guard-labeling',
    'Trigger restore-guard-release',
    'Trigger restore-guard-resync',
    'Trigger restore-guard-retry',
  ]);
  const kinds = readdirSync(EVENTING)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) => readFileSync(join(EVENTING, f), 'utf8').match(/^kind: \w+$/gm) ?? []);
  assert.is(lines(r.stdout).length, kinds.length, 'one line per object in eventing/');
});

test('without Eventing’s authentication-oidc feature the EventPolicy is refused (the prerequisite is real)', () => {
  const r = knativeCheck(['validate', '--config', KNATIVE_CONFIG, join(EVENTING, 'eventpolicy.yaml')]);
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /error .* EventPolicy restore-guard: .*oidc-authentication feature not enabled/);
});

/** eventing/triggers.yaml with one edit, validated on its own. */
function validateEdited(edit: (text: string) => string): { status: number; stdout: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rg-knative-'));
  try {
    const text = readFileSync(join(EVENTING, 'triggers.yaml'), 'utf8');
    const edited = edit(text);
    assert.is.not(edited, text, 'the edit changed nothing');
    writeFileSync(join(dir, 'triggers.yaml'), edited);
    return knativeCheck(['validate', '--config', KNATIVE_CONFIG, dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('it catches a broken Trigger: an invalid filter attribute name', () => {
  const r = validateEdited((t) => t.replace('exact: { kind: Restore }', 'exact: { Kind: Restore }'));
  assert.is(r.status, 1);
  assert.match(r.stdout, /error .*Trigger restore-guard-completion: .*invalid key name "Kind"/);
  assert.is(lines(r.stdout).filter((l) => l.startsWith('error ')).length, 1, r.stdout);
});

test('it catches a broken Trigger: a CloudEvents SQL filter that does not parse', () => {
  const r = validateEdited((t) => t.replace('- not:\n        exact: { kind: Restore }', '- cesql: "kind = \'Restore"'));
  assert.is(r.status, 1);
  assert.match(r.stdout, /error .*Trigger restore-guard-completion: .*cesql/i);
});

test('it catches a field the types do not have (strict decoding, as the webhooks decode)', () => {
  const r = validateEdited((t) =>
    t.replace(
      '    backoffPolicy: exponential\n    backoffDelay: PT0.2S',
      '    backoffPolicy: exponential\n    backofDelay: PT0.2S',
    ),
  );
  assert.is(r.status, 1);
  assert.match(r.stdout, /error .*Trigger restore-guard-completion: decoding: .*unknown field "backofDelay"/);
});

test('it catches an invalid delivery spec and a Trigger without a broker', () => {
  const r = validateEdited((t) =>
    t
      .replace('backoffDelay: PT0.2S', 'backoffDelay: 200ms')
      .replace(
        '  broker: restore-guard\n  filters:\n    - any:\n        - exact: { type: dev.restoreguard.restore.gated }',
        '  filters:\n    - any:\n        - exact: { type: dev.restoreguard.restore.gated }',
      ),
  );
  assert.is(r.status, 1);
  assert.match(r.stdout, /error .*Trigger restore-guard-completion: .*backoffDelay/);
  assert.match(r.stdout, /error .*Trigger restore-guard-labeling: missing field\(s\): spec.broker/);
});

test.run();
