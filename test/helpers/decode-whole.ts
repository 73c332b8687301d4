// A committed state decoded and validated whole, in one pass: the reference the LiveView tests
// hold the control plane's incremental view equal to.
import { perKind, type Config, type ConfigObject } from '../../src/config/schema.js';
import { normalize, type ConfigIssue } from '../../src/config/validate.js';
import { decodeEntries, decodeObject } from '../../src/store/decode.js';
import type { Keys } from '../../src/store/keys.js';

/**
 * Like decodeEntries, but always yields a config: the objects that are valid on their own
 * (references are not checked), plus the issues of the whole.
 */
export function decodeEntriesLenient(keys: Keys, entries: Iterable<readonly [key: string, value: string]>): { config: Config; issues: ConfigIssue[] } {
  const list = [...entries];
  const result = decodeEntries(keys, list);
  if (result.ok) return { config: result.config, issues: [] };
  const doc = perKind<ConfigObject[]>(() => []);
  for (const [key, value] of list) {
    if (key === keys.version) continue;
    const d = decodeObject(keys, key, value);
    if (d) doc[d.kind].push(d.object);
  }
  return { config: normalize(doc as Parameters<typeof normalize>[0]), issues: result.issues };
}
