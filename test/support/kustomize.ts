/**
 * The part of `kustomize build` our overlays use, so tests build them where no kustomize binary is
 * installed (CI installs only from npm and the Go proxy): `resources` (files, or folders with a
 * kustomization.yaml), and `patches` (a `path` or an inline `patch`) of whole documents matched by
 * apiVersion, kind, name and namespace: `$patch: delete` removes the target, any other patch is
 * merged as a JSON merge patch (maps merged, lists replaced: what kustomize does for the Knative
 * kinds, which it has no strategic-merge schema for). Anything else in a kustomization throws.
 * Checked against kubectl kustomize (v5.5.0) on overlays/namespaced: the same objects.
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
};

const key = (d: Pick<Doc, 'apiVersion' | 'kind' | 'metadata'>) =>
  `${d.apiVersion}/${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`;

function docs(text: string): Doc[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => !!d && typeof d.kind === 'string');
}

function merge(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

/** Builds the kustomization in `dir`: its objects, in kustomize's resource order. */
export function build(dir: string): Doc[] {
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Record<string, unknown>;
  const known = new Set(['apiVersion', 'kind', 'resources', 'patches']);
  const extra = Object.keys(k).filter((f) => !known.has(f));
  if (extra.length) throw new Error(`${dir}: kustomization fields this builder does not know: ${extra.join(', ')}`);
  let out: Doc[] = [];
  for (const r of (k.resources ?? []) as string[]) {
    const p = resolve(dir, r);
    out.push(...(statSync(p).isDirectory() ? build(p) : docs(readFileSync(p, 'utf8'))));
  }
  const seen = new Set<string>();
  for (const d of out) {
    if (seen.has(key(d))) throw new Error(`${dir}: ${key(d)} twice`);
    seen.add(key(d));
  }
  for (const p of (k.patches ?? []) as { path?: string; patch?: string; target?: unknown }[]) {
    if (p.target) throw new Error(`${dir}: patch targets are not supported here`);
    const text = p.path ? readFileSync(resolve(dir, p.path), 'utf8') : p.patch;
    if (typeof text !== 'string') throw new Error(`${dir}: a patch needs path or patch`);
    for (const patch of docs(text)) {
      const i = out.findIndex((d) => key(d) === key(patch));
      if (i < 0) throw new Error(`${dir}: patch for ${key(patch)}, which is not among the resources`);
      if ((patch as Record<string, unknown>).$patch === 'delete') out = out.filter((_, j) => j !== i);
      else out[i] = merge(out[i], patch) as Doc;
    }
  }
  return out;
}
