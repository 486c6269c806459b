/**
 * The replay CLI: the shipped recordings replay offline to their expected end state; duplicated and
 * late, out-of-order delivery ends in the same state; unreadable inputs give file, line and what
 * was expected.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { replay } from '../../cli/replay/run.ts';
import { readInputs } from '../../cli/replay/inputs.ts';
import { main, parseCli } from '../../cli/replay/main.ts';
import { renderSvg } from '../../cli/replay/svg.ts';
import type { KubeObject } from '../../functions/core/kube/objects.ts';
import { KB } from '../../functions/core/restore/keys.ts';
import type { Report, GroupState } from '../../cli/replay/report.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const REC = join(ROOT, 'test', 'fixtures', 'recordings');
const EVENTING = join(ROOT, 'eventing');
const env = {}; // the functions' defaults, whatever the shell running the tests has set

const run = (name: string, extra: Partial<Parameters<typeof replay>[0]> = {}) =>
  replay({ paths: [join(REC, name)], mode: 'offline', eventingDir: EVENTING, env, cwd: ROOT, ...extra });

const group = (r: Report, name: string): GroupState => {
  const g = r.state?.groups.find((x) => x.group === name);
  if (!g) throw new Error(`no group ${name} in ${r.state?.groups.map((x) => x.group).join(', ')}`);
  return g;
};
const creates = (r: Report, kind: string) =>
  r.writes.filter((w) => w.verb === 'create' && w.kind === kind && w.changed);

/**
 * The end state restore-guard is answerable for, without times: anchors left, records on the Jobs
 * still there and on every PVC, retry Jobs and what they avoid, restore pods still there.
 */
function essence(r: Report) {
  return (r.state?.groups ?? []).map((g) => ({
    group: `${g.namespace}/${g.group}`,
    released: g.completedAt !== null || g.releasedAt !== null,
    anchorsLeft: g.anchors
      .filter((a) => a.present)
      .map((a) => a.name)
      .sort(),
    jobs: g.jobs
      .filter((j) => j.present)
      .map((j) => `${j.name} state=${j.state} outcome=${j.outcome?.state}/${j.outcome?.reason ?? '-'}`)
      .sort(),
    pvcs: g.pvcs
      .map((p) => `${p.name} ${p.outcome ? `${p.outcome.state}/${p.outcome.reason ?? '-'}` : 'no record'}`)
      .sort(),
    retries: g.retries
      .map(
        (x) =>
          `${x.job} of ${x.of} attempt ${x.attempt} avoids ${x.avoid.join(',') || '-'}${x.required ? ' required' : ''}`,
      )
      .sort(),
    podsLeft: g.pods
      .filter((p) => p.present)
      .map((p) => `${p.name} ${p.state}`)
      .sort(),
  }));
}

test('kubeblocks-fast-sequential: one anchor per replica on three nodes, records on every PVC, anchors released at the end', async () => {
  const r = await run('kubeblocks-fast-sequential');
  assert.is(r.errors, 0);
  assert.equal(r.problems, []);
  const g = group(r, 'mysql-restore');
  assert.is(g.profile, 'kubeblocks');
  assert.equal(
    g.pods.map((p) => p.node),
    ['node-a', 'node-b', 'node-c'],
  );
  assert.ok(g.pods.every((p) => p.outcome === 'succeeded'));
  // Each anchor was created when its pod was placed, before the next replica started.
  assert.is(g.anchors.length, 3);
  assert.equal(
    g.anchors.map((a) => a.node),
    ['node-a', 'node-b', 'node-c'],
  );
  for (const [i, a] of g.anchors.entries()) {
    assert.is(a.owner, 'Restore/mysql-restore');
    const next = g.pods[i + 1];
    if (next) assert.ok(a.createdAt! < next.placedAt!, `anchor ${a.name} exists before replica ${i + 1} is placed`);
  }
  // Kept until the Restore said Completed; none left.
  assert.equal(
    g.anchors.filter((a) => a.present),
    [],
  );
  assert.ok(g.releasedAt !== null && g.releasedAt >= Date.parse('2025-06-12T09:41:37.200Z'));
  assert.equal(
    g.pvcs.map((p) => `${p.name}:${p.outcome?.state}`),
    ['data-mysql-mysql-0:succeeded', 'data-mysql-mysql-1:succeeded', 'data-mysql-mysql-2:succeeded'],
  );
  assert.ok(
    g.jobs.every((j) => j.state === 'succeeded'),
    'the Jobs carried the record until KubeBlocks deleted them',
  );
  assert.equal(g.retries, []);
});

test('evicted-retried: the failure is recorded, the Job is retried once with node-a avoided, its pod runs on node-b', async () => {
  const r = await run('evicted-retried');
  assert.is(r.errors, 0);
  const g = group(r, 'pg-restore');
  const [first, second] = g.pods;
  assert.is(first?.node, 'node-a');
  assert.is(first?.outcome, 'failed');
  assert.is(first?.reason, 'Evicted');
  assert.is(second?.node, 'node-b');
  assert.is(second?.outcome, 'succeeded');
  // restore-guard itself created the replacement, with a preferred avoidance of node-a.
  const created = creates(r, 'Job');
  assert.equal(
    created.map((w) => w.name),
    ['restore-pg-data-0-retry-1'],
  );
  const body = created[0]!.body as KubeObject & {
    spec: { template: { spec: { affinity: { nodeAffinity: Record<string, unknown> } } } };
  };
  assert.equal(body.spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution, [
    {
      weight: 100,
      preference: { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['node-a'] }] },
    },
  ]);
  assert.is(body.metadata.annotations?.['restoreguard.dev/retry-of'], 'restore-pg-data-0');
  assert.equal(
    g.retries.map((x) => [x.job, x.of, x.attempt, x.avoid]),
    [['restore-pg-data-0-retry-1', 'restore-pg-data-0', 2, ['node-a']]],
  );
  const jobs = Object.fromEntries(g.jobs.map((j) => [j.name, j]));
  assert.is(jobs['restore-pg-data-0']?.state, 'retried');
  assert.is(jobs['restore-pg-data-0']?.outcome?.reason, 'BackoffLimitExceeded');
  assert.is(jobs['restore-pg-data-0-retry-1']?.state, 'succeeded');
  assert.equal(
    g.pvcs.map((p) => `${p.name}:${p.outcome?.state}`),
    ['data-pg-0:succeeded'],
  );
  assert.ok(g.completedAt !== null, 'release answered group.completed');
  assert.equal(
    g.anchors.filter((a) => a.present),
    [],
  );
  // The failed attempt's anchor went with the failure (it would repel its own retry).
  const a0 = g.anchors.find((a) => a.node === 'node-a');
  assert.ok(a0 && a0.deletedAt !== null && a0.deletedAt < g.retries[0]!.at);
});

test('sidecar-never-stopped: restore-guard sets the stop annotation on each pod as its restore container ends', async () => {
  const r = await run('sidecar-never-stopped');
  assert.is(r.errors, 0);
  const g = group(r, 'orders-restore');
  assert.is(g.pods.length, 3);
  const stops = r.writes.filter(
    (w) =>
      w.verb === 'patch' &&
      w.kind === 'Pod' &&
      (w.body as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations?.[KB.stop] === 'true',
  );
  assert.equal(stops.map((w) => w.name).sort(), g.pods.map((p) => p.name).sort());
  for (const p of g.pods) {
    assert.is(p.stopBy, 'restore-guard');
    assert.ok(
      p.restoreDoneAt !== null && p.stopAt! >= p.restoreDoneAt && p.stopAt! - p.restoreDoneAt < 100,
      `${p.name} stopped as soon as its restore container ended`,
    );
    assert.is(p.outcome, 'succeeded');
  }
  // Pods stopped one by one (3.2 s, 5.1 s, 8.4 s), not all at the slowest sibling's end.
  const [a, b, c] = g.pods.map((p) => p.stopAt!);
  assert.ok(a! < b! && b! < c!);
  assert.equal(
    g.anchors.filter((x) => x.present),
    [],
  );
  assert.ok(g.pvcs.every((p) => p.outcome?.state === 'succeeded'));
});

for (const name of ['kubeblocks-fast-sequential', 'evicted-retried', 'sidecar-never-stopped']) {
  test(`${name}: every event 3 times, late and out of order, ends in the same state as a clean replay`, async () => {
    const clean = essence(await run(name));
    for (const seed of ['1', '2', '3']) {
      const r = await run(name, { dup: 3, shuffleSeed: seed });
      assert.is(r.errors, 0);
      assert.is(r.events, 3 * (await run(name)).events);
      const order = r.steps.filter((s) => s.kind === 'event').map((s) => s.recordedAt);
      assert.ok(
        order.some((t, i) => i > 0 && t < order[i - 1]!),
        'the deliveries really were out of order',
      );
      assert.equal(essence(r), clean, `seed ${seed}`);
    }
  });
}

test('the recordings are raw captures the replay reads as the recorder wrote them', () => {
  const r = readInputs([join(REC, 'evicted-retried')], { failFast: false });
  assert.equal(r.problems, []);
  const ev = r.items.find((i) => i.kind === 'event');
  assert.ok(ev && ev.kind === 'event');
  assert.is(ev.path, '/completion');
  assert.is(ev.event.source, 'https://10.96.0.1:443');
  assert.match(ev.event.subject ?? '', /^\/apis\/(batch\/)?v1\/namespaces\/db\/(pods|jobs)\//);
  assert.match(
    ev.event.time ?? '',
    /\.\d{4,9}Z$/,
    'the adapter time, with more than millisecond precision, is kept raw',
  );
});

// ---- bad input ----

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rg-replay-'));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}
const goodEvent = JSON.stringify({
  specversion: '1.0',
  id: 'e1',
  source: 's',
  type: 'dev.knative.sources.ping',
  time: '2025-01-01T00:00:00Z',
  data: {},
});

test('bad files: file, line and what was expected; the readable rest is kept', () => {
  const dir = tmp({
    'a.jsonl': `${goodEvent}\n{"specversion":"1.0","id":"x"\n${goodEvent}\n`,
    'b.json': `[\n  ${goodEvent},\n  {"specversion": "1.0", "source": "s", "type": "t"}\n]\n`,
    'c.json': '{"hello": "world"}',
    'd.json': '{ "specversion": "1.0",\n  "id": 5,\n',
    'e.json': '',
    'f.jsonl': '{"path":"/completion","receivedAt":"yesterday","headers":{},"body":""}\n',
  });
  const r = readInputs([dir], { failFast: false, cwd: dir });
  const by = Object.fromEntries(r.problems.map((p) => [p.file, p]));
  assert.is(by['a.jsonl']?.line, 2);
  assert.match(by['a.jsonl']!.message, /not valid JSON/);
  assert.match(by['a.jsonl']!.expected, /one JSON value per line/);
  assert.is(by['b.json']?.line, 3);
  assert.match(by['b.json']!.message, /id is required/);
  assert.match(by['b.json']!.expected, /structured CloudEvent/);
  assert.is(by['c.json']?.line, 1);
  assert.match(by['c.json']!.message, /keys hello/);
  assert.match(by['c.json']!.expected, /raw capture .* structured CloudEvent .* Kubernetes object/);
  assert.is(by['d.json']?.line, 3);
  assert.match(by['d.json']!.message, /not valid JSON/);
  assert.match(by['e.json']!.message, /empty/);
  assert.match(by['f.jsonl']!.message, /receivedAt "yesterday" is not a time/);
  // The readable events of a.jsonl and b.json are kept.
  assert.is(r.items.length, 3);
});

test('fail-fast stops at the first unreadable input; keep-going (the default) replays the rest and exits 2', async () => {
  const dir = tmp({ '1-bad.json': '[1]', '2-good.json': goodEvent });
  const ff = readInputs([dir], { failFast: true, cwd: dir });
  assert.is(ff.problems.length, 1);
  assert.is(ff.items.length, 0);
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
  } as unknown as Parameters<typeof main>[1];
  const code = await main([dir, '--eventing', EVENTING], io);
  assert.is(code, 2);
  assert.match(out.join(''), /1-bad\.json:1: found 1; expected a raw capture/);
  assert.match(out.join(''), /ping/);
  const missing = await main([join(dir, 'nope.json'), '--eventing', EVENTING, '--fail-fast'], io);
  assert.is(missing, 2);
});

test('command line: clear refusals', () => {
  assert.throws(() => parseCli([]), /no recordings given/);
  assert.throws(() => parseCli(['x', '--target', 'http://h', '--cluster']), /exclude each other/);
  assert.throws(() => parseCli(['x', '--apply']), /--apply only goes with --cluster/);
  assert.throws(() => parseCli(['x', '--dup', '0']), /--dup takes a whole number/);
  assert.throws(() => parseCli(['x', '--target', 'ftp://h']), /--target takes an http\(s\) URL/);
  assert.throws(() => parseCli(['x', '--bogus']), /bogus/);
  const c = parseCli(['x', '--dup', '3', '--shuffle', '7', '--only', 'completion,labeling', '--json']);
  assert.is(c.options.dup, 3);
  assert.is(c.options.shuffleSeed, '7');
  assert.equal(c.options.only, ['completion', 'labeling']);
  assert.is(c.json, true);
});

test('--only runs just those functions', async () => {
  const r = await run('evicted-retried', { only: ['completion'] });
  assert.ok(r.steps.flatMap((s) => s.hops).every((h) => h.function === 'completion'));
  assert.equal(r.writes, []);
  let refused = '';
  try {
    await run('evicted-retried', { only: ['nope'] });
  } catch (e) {
    refused = (e as Error).message;
  }
  assert.match(refused, /no function named nope/);
});

test('--target posts each event in binary mode and reports the answers; an error answer makes it fail', async () => {
  const sent: { url: string; headers: Record<string, string>; body: string }[] = [];
  const fake = (async (url: string, init: { headers: Record<string, string>; body: string }) => {
    sent.push({ url, headers: init.headers, body: init.body });
    const bad = sent.length === 2;
    return new Response(bad ? JSON.stringify({ error: 'invalid_event', message: 'nope' }) : null, {
      status: bad ? 400 : 202,
    });
  }) as unknown as typeof fetch;
  const r = await run('evicted-retried', { mode: 'target', target: 'http://localhost:9/completion', fetch: fake });
  assert.is(sent.length, r.events);
  assert.is(sent[0]!.url, 'http://localhost:9/completion');
  assert.ok(sent[0]!.headers['ce-id'] && sent[0]!.headers['ce-type']?.startsWith('dev.knative.apiserver.resource.'));
  assert.is(JSON.parse(sent[0]!.body).kind, 'Job');
  assert.is(r.errors, 1);
  assert.is(r.state, null);
  assert.match(r.steps.flatMap((s) => s.hops).find((h) => h.status === 400)!.error!, /nope/);
});

test('--json and the text report carry the timeline and the end state', async () => {
  const out: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: () => true } } as unknown as Parameters<
    typeof main
  >[1];
  const code = await main([join(REC, 'evicted-retried'), '--eventing', EVENTING, '--json'], io);
  assert.is(code, 0);
  const j = JSON.parse(out.join('')) as {
    timeline: { hops: { decision: string }[] }[];
    state: { groups: { group: string }[] };
  };
  assert.ok(
    j.timeline.some((s) =>
      s.hops.some((h) => /retry\.scheduled restore-pg-data-0-retry-1 attempt 2, avoiding node-a/.test(h.decision)),
    ),
  );
  assert.equal(
    j.state.groups.map((g) => g.group),
    ['pg-restore'],
  );
  out.length = 0;
  await main([join(REC, 'evicted-retried'), '--eventing', EVENTING], io);
  const text = out.join('');
  assert.match(text, /\+ create Job db\/restore-pg-data-0-retry-1 {2}attempt 2/);
  assert.match(text, /End state/);
  assert.match(text, /avoids node-a \(preferred\)/);
});

test('--svg draws one lane per node with the restore pods, anchors, the failure and the retry', async () => {
  const svg = renderSvg(await run('evicted-retried'));
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  for (const s of [
    '>node-a</text>',
    '>node-b</text>',
    '>Evicted</text>',
    'retry-1 (attempt 2), avoids node-a',
    'group completed',
    'marker-end="url(#arrow)"',
  ])
    assert.ok(svg.includes(s), s);
  assert.is((svg.match(/<title>restore-pg-data-0[^<]*-anchor: anchor on/g) ?? []).length, 2);
  const held = renderSvg(await run('sidecar-never-stopped'));
  assert.is(
    (held.match(/fill="url\(#held0\)" stroke/g) ?? []).length,
    3 + 1,
    'three sidecar-held tails and the legend',
  );
  assert.is((held.match(/<title>stop annotation set by restore-guard<\/title>/g) ?? []).length, 3);
});

test('a capture written by the recorder replays like the shipped ones', async () => {
  const dir = tmp({});
  const src = readFileSync(
    join(
      REC,
      'evicted-retried',
      readInputs([join(REC, 'evicted-retried')], { failFast: false })
        .files[0]!.split('/')
        .pop()!,
    ),
    'utf8',
  );
  writeFileSync(join(dir, 'one.capture.json'), src);
  const r = await replay({ paths: [dir], mode: 'offline', eventingDir: EVENTING, env, cwd: ROOT });
  assert.is(r.events, 1);
  assert.is(r.errors, 0);
});

// ---------------------------------------------------------------------------------------------
// Hostile recordings: links, control characters, deep nesting

const capture = (id: string, pod: Record<string, unknown>) =>
  JSON.stringify({
    path: '/',
    receivedAt: '2026-11-29T10:00:02Z',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': id,
      'ce-type': 'dev.knative.apiserver.resource.add',
      'ce-source': 's',
      'content-type': 'application/json',
    },
    body: JSON.stringify(pod),
  });
const ioOf = () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
  } as unknown as Parameters<typeof main>[1];
  return { io, out, err };
};

test('a folder link loop and a link out of the folder are reported, not followed; links to files inside are read', async () => {
  const outside = tmp({ 'secret.json': goodEvent.replace('"e1"', '"outside"') });
  const dir = tmp({ 'a.json': goodEvent });
  mkdirSync(join(dir, 'sub'));
  symlinkSync(dir, join(dir, 'sub', 'loop')); // sub/loop -> the folder itself
  symlinkSync(join(outside, 'secret.json'), join(dir, 'b.json')); // a file elsewhere
  symlinkSync(join(dir, 'a.json'), join(dir, 'c.json')); // a file inside
  const problems: { message: string; file: string }[] = [];
  const r = readInputs([dir], { failFast: false, cwd: dir });
  problems.push(...r.problems);
  assert.equal(r.files.sort(), ['a.json', 'c.json']);
  assert.equal(
    r.items.map((i) => (i.kind === 'event' ? i.event.id : '')),
    ['e1', 'e1'],
  );
  assert.ok(problems.some((p) => p.file.endsWith('loop') && /link to the folder .*not followed/.test(p.message)));
  assert.ok(problems.some((p) => p.file.endsWith('b.json') && /outside .*not read/.test(p.message)));
  // A path given by name is followed wherever it points.
  assert.is(readInputs([join(dir, 'b.json')], { failFast: false }).items.length, 1);
});

test('control characters in recordings reach neither the terminal nor the SVG raw; the SVG stays valid XML', async () => {
  const dir = tmp({
    'ctl.json': capture('c\u001b[31mRED\u0007', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p\u001b[2Jx', namespace: 'db', labels: { 'restoreguard.dev/group': 'g\u0008\u009b' } },
      spec: { nodeName: 'n\u001b]0;pwned\u0007', containers: [{ name: 'restore' }] },
      status: { phase: 'Running' },
    }),
  });
  const svg = join(dir, 'out.svg');
  for (const args of [[], ['--json'], ['--verbose']]) {
    const { io, out, err } = ioOf();
    await main([dir, '--eventing', EVENTING, '--svg', svg, ...args], io);
    const text = out.join('') + err.join('');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters
    const raw = [...text].filter((c) => /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(c));
    assert.equal(raw, [], `no raw control character (${args.join(' ') || 'text'})`);
    if (!args.length) assert.match(text, /p\\x1b\[2Jx/, 'shown escaped');
  }
  const xml = readFileSync(svg, 'utf8');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters
  assert.not.match(xml, /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/, 'only characters XML 1.0 admits');
  assert.match(xml, /n\\x1b\]0;pwned\\x07/);
});

test('one capture nested deeper than any object is reported; the rest of the replay goes on', async () => {
  // Built as text: JSON.stringify itself overflows on such a value.
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const body = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"db"},"spec":{"x":${deep}}}`;
  const dir = tmp({
    'a-deep.json': capture('deep', {}).replace('"body":"{}"', `"body":${JSON.stringify(body)}`),
    'b-good.json': goodEvent,
  });
  const { io, out } = ioOf();
  const code = await main([dir, '--eventing', EVENTING], io);
  assert.is(code, 2, 'replayed, with an unreadable input');
  assert.match(out.join(''), /a-deep\.json:1: nested more than 512 levels deep/);
  assert.match(out.join(''), /ping/, 'the other capture was replayed');
});

test.run();
