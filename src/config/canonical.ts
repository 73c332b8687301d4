// One byte-exact form of a config, so equal configs hash equal wherever they were written from.
import { createHash } from 'node:crypto';
import { KINDS, type Kind } from './kinds.js';
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

/** Whether two JSON values are equal (objects by their keys, in any order). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bs = b as unknown[];
    return a.length === bs.length && a.every((x, i) => jsonEqual(x, bs[i]));
  }
  const ka = Object.keys(a);
  const ob = b as Record<string, unknown>;
  return ka.length === Object.keys(ob).length && ka.every((k) => Object.hasOwn(ob, k) && jsonEqual((a as Record<string, unknown>)[k], ob[k]));
}

/** The kinds in the order stableStringify puts a config's keys. */
const CANONICAL_KINDS = [...KINDS].sort();

/**
 * The hash of a config given each object's canonical form (stableStringify), per kind in id
 * order: equal to configHash of that config, without stringifying objects whose form is known.
 */
export function configHashOf(canonical: (kind: Kind) => readonly string[]): string {
  const hash = createHash('sha256');
  let sep = '{';
  for (const kind of CANONICAL_KINDS) {
    const forms = canonical(kind);
    // No settings object (every setting at its default) hashes as a config from before settings existed.
    if (kind === 'settings' && forms.length === 0) continue;
    hash.update(`${sep}${JSON.stringify(kind)}:[`);
    let first = true;
    for (const form of forms) {
      hash.update(first ? form : `,${form}`);
      first = false;
    }
    hash.update(']');
    sep = ',';
  }
  return hash.update('}').digest('hex');
}

/** sha256 of the canonical config: the `hash` every version and every proxy reports. */
export function configHash(config: Config): string {
  return configHashOf((kind) => config[kind].map(stableStringify));
}
