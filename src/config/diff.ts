// Per-object differences between two configs: what `signalbox diff` shows and what a write sends.
import { stableStringify } from './canonical.js';
import { KINDS, perKind, type Kind } from './kinds.js';
import type { Config, ConfigObject } from './schema.js';

export interface ObjectChange {
  kind: Kind;
  id: string;
  op: 'add' | 'change' | 'remove';
  before?: ConfigObject;
  after?: ConfigObject;
}

const MARK = { add: '+', change: '~', remove: '-' } as const;

/** `+ routes/users`: one change as the CLI and the GitOps agent print it; `~ globalPolicies` for the settings. */
export function changeLine(c: { kind: string; id: string; op: ObjectChange['op'] }): string {
  return c.kind === 'settings' ? `~ globalPolicies` : `${MARK[c.op]} ${c.kind}/${c.id}`;
}

export function diffConfigs(before: Config, after: Config): ObjectChange[] {
  const changes: ObjectChange[] = [];
  for (const kind of KINDS) {
    const old = new Map<string, ConfigObject>(before[kind].map((o) => [o.id, o]));
    for (const obj of after[kind]) {
      const prev = old.get(obj.id);
      if (!prev) changes.push({ kind, id: obj.id, op: 'add', after: obj });
      // The same object (a document checked against the live config shares its unchanged ones) is no change.
      else if (prev !== obj && stableStringify(prev) !== stableStringify(obj)) changes.push({ kind, id: obj.id, op: 'change', before: prev, after: obj });
      old.delete(obj.id);
    }
    for (const [id, prev] of old) changes.push({ kind, id, op: 'remove', before: prev });
  }
  return changes;
}

export function emptyConfig(): Config {
  return perKind(() => []);
}
