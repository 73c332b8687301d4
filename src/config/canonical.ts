// One byte-exact form of a config, so equal configs hash equal wherever they were written from.
import { createHash } from 'node:crypto';
import type { Config } from './schema.js';

/** JSON with object keys sorted at every depth; arrays keep their order. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

/** sha256 of the canonical config: the `hash` every version and every proxy reports. */
export function configHash(config: Config): string {
  return createHash('sha256').update(stableStringify(config)).digest('hex');
}
