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
