import { createHash } from 'node:crypto';

/** Short stable hash of the parts, for deterministic ids and names. */
export function stableHash(...parts: (string | number | undefined)[]): string {
  return createHash('sha256')
    .update(parts.map((p) => String(p ?? '')).join('\u0000'))
    .digest('hex')
    .slice(0, 16);
}

/**
 * A deterministic DNS-1123 name `<base>-<suffix>`, shortened with a hash when too long, so the
 * same inputs always name the same object and AlreadyExists means "done before".
 */
export function childName(base: string, suffix: string, max = 63): string {
  const full = `${base}-${suffix}`;
  if (full.length <= max) return full;
  const h = stableHash(full).slice(0, 8);
  const room = max - suffix.length - h.length - 2;
  return `${base.slice(0, room).replace(/[-.]+$/, '')}-${h}-${suffix}`;
}

/** A DNS-1123 label: namespaces, container names (at most 63 characters). */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS-1123 subdomain: names of Pods, Jobs, PVCs, Nodes and custom objects (at most 253 characters). */
export const DNS1123_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A label value (at most 63 characters); the empty value is left out here: a group always has a name. */
export const LABEL_VALUE = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export const isLabelValue = (v: string): boolean => LABEL_VALUE.test(v);
export const isObjectName = (v: string): boolean => DNS1123_SUBDOMAIN.test(v);
export const isNamespaceName = (v: string): boolean => DNS1123_LABEL.test(v);

/**
 * A label value that stands for `name`: the name itself when it fits (63 characters), else a
 * deterministic shortening with a hash, so a long name (a pod not made by a Job) still labels.
 */
export function labelValueFor(name: string): string {
  if (name.length <= 63) return name;
  const h = stableHash(name).slice(0, 8);
  return `${name.slice(0, 63 - h.length - 1).replace(/[-._]+$/, '')}-${h}`;
}
