import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every depth: equal values give equal text, whatever order their keys were built in. Pure. */

export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, canonical(v)]));
  return value;
}

export const canonicalJson = (value: unknown): string => JSON.stringify(canonical(value));

/** sha256 of a value's canonical JSON, as sha256:HEX: what binds a saved plan to the manifest it was made from. */
export const digestOf = (value: unknown): string => `sha256:${createHash('sha256').update(canonicalJson(value)).digest('hex')}`;
