import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../functions/core/config.ts';
import { ConfigError } from '../../functions/core/errors.ts';

test('defaults: an empty environment is a valid configuration', () => {
  const c = loadConfig({});
  assert.is(c.PORT, 8080);
  assert.is(c.HOST, '0.0.0.0');
  assert.equal(c.RG_PROFILES, ['kubeblocks', 'generic']);
  assert.is(c.RG_DOMAIN, 'restoreguard.dev');
  assert.equal(c.RG_NON_RETRYABLE_EXIT_CODES, [126, 127]);
  assert.is(c.RG_RETRY_JOBS, false);
  assert.is(c.RG_DELETE_FINISHED_PODS, true);
  assert.is(c.RG_RETRY_AVOID, 'preferred');
  assert.is(c.KUBECONFIG, undefined);
});

test('values are parsed: numbers, booleans, lists; empty strings mean the default', () => {
  const c = loadConfig({
    PORT: '9090',
    HOST: '127.0.0.1',
    RG_RETRY_JOBS: 'yes',
    RG_PROFILES: ' generic ',
    RG_NAMESPACES: 'a, b,,c',
    RG_RETRY_JITTER: '0',
    RG_DOMAIN: '',
  });
  assert.is(c.PORT, 9090);
  assert.is(c.HOST, '127.0.0.1');
  assert.is(c.RG_RETRY_JOBS, true);
  assert.equal(c.RG_PROFILES, ['generic']);
  assert.equal(c.RG_NAMESPACES, ['a', 'b', 'c']);
  assert.is(c.RG_RETRY_JITTER, 0);
  assert.is(c.RG_DOMAIN, 'restoreguard.dev');
});

test('bad values: one error naming every bad variable, its value and what is allowed', () => {
  try {
    loadConfig({
      PORT: 'eighty',
      RG_RETRY_AVOID: 'sometimes',
      RG_PROFILES: 'kubeblocks,argo',
      RG_ANCHOR_CPU: 'lots',
      RG_NON_RETRYABLE_EXIT_CODES: '1,x',
      RG_DRY_RUN: 'maybe',
    });
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, ConfigError);
    const m = (e as Error).message;
    for (const part of [
      'PORT="eighty"',
      'whole number',
      'RG_RETRY_AVOID="sometimes"',
      'preferred, required or off',
      'RG_PROFILES',
      'kubeblocks and generic',
      'RG_ANCHOR_CPU="lots"',
      'quantity',
      'RG_NON_RETRYABLE_EXIT_CODES',
      'RG_DRY_RUN="maybe"',
      'true or false',
    ]) {
      assert.ok(m.includes(part), `message names ${part}: ${m}`);
    }
    assert.match((e as ConfigError).hint ?? '', /README/);
  }
});

test('bounds are enforced', () => {
  assert.throws(() => loadConfig({ PORT: '70000' }), /PORT/);
  assert.throws(() => loadConfig({ RG_RETRY_MAX_ATTEMPTS: '0' }), /RG_RETRY_MAX_ATTEMPTS/);
  assert.throws(() => loadConfig({ RG_ANCHOR_DEADLINE_SECONDS: '5' }), /RG_ANCHOR_DEADLINE_SECONDS/);
  assert.throws(() => loadConfig({ RG_RETRY_JITTER: '2' }), /RG_RETRY_JITTER/);
  assert.throws(() => loadConfig({ RG_ANCHOR_PRIORITY_CLASS: 'High Priority' }), /RG_ANCHOR_PRIORITY_CLASS/);
  assert.is(loadConfig({ RG_ANCHOR_PRIORITY_CLASS: 'restore-anchors' }).RG_ANCHOR_PRIORITY_CLASS, 'restore-anchors');
  assert.is(loadConfig({}).RG_ANCHOR_PRIORITY_CLASS, '', "default: the restore pod's own class");
});

test("every setting is in README's Configuration table", async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { ConfigSchema } = await import('../../functions/core/config.ts');
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const table = readme.slice(
    readme.indexOf('## Configuration'),
    readme.indexOf('\n## ', readme.indexOf('## Configuration') + 5),
  );
  for (const key of Object.keys(ConfigSchema.shape))
    assert.ok(table.includes(`\`${key}\``), `${key} is not in README's table`);
});

test('RG_NON_RETRYABLE_EXIT_CODES takes exit codes 0 to 255 only', () => {
  assert.equal(loadConfig({ RG_NON_RETRYABLE_EXIT_CODES: '0,126,255' }).RG_NON_RETRYABLE_EXIT_CODES, [0, 126, 255]);
  for (const bad of ['999', '256', '-1', 'x'])
    assert.throws(() => loadConfig({ RG_NON_RETRYABLE_EXIT_CODES: bad }), /RG_NON_RETRYABLE_EXIT_CODES/, bad);
});

test('a record or eventing folder that cannot be used stops the start with a ConfigError naming the variable', async () => {
  const { createServer } = await import('../../functions/server.ts');
  const { memoryLogger } = await import('../../functions/core/log.ts');
  const start = (env: Record<string, string>) => () =>
    createServer({ config: loadConfig(env), log: memoryLogger('error') });
  for (const [env, name] of [
    [{ RG_RECORD_DIR: '/dev/null/captures' }, /RG_RECORD_DIR/],
    [{ RG_LOCAL_BROKER: 'true', RG_EVENTING_DIR: '/nonexistent/eventing' }, /RG_EVENTING_DIR/],
  ] as const) {
    try {
      start(env)();
      assert.unreachable('should not start');
    } catch (e) {
      assert.instance(e, ConfigError);
      assert.match((e as Error).message, name);
    }
  }
});

test.run();
