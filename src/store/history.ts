// History: each version as the writer recorded it, `<prefix>/history/<n>` beside its VersionInfo
// in `<prefix>/history-info/<n>`. An entry is either a snapshot (the whole config, as it always
// was) or a diff from the version before it (the objects it added, changed or removed), so a
// one-route change on 10,000 routes records a few hundred bytes instead of the whole config.
//
// A diff chain always starts at a snapshot:
// - a diff is written only on top of a version recorded with its chain, when etcd holds exactly
//   that version (no key written by hand since); otherwise the entry is a snapshot;
// - every SNAPSHOT_EVERY-th version (1, 101, 201, ...) is a snapshot, and pruning deletes entries
//   only below the snapshot point at or below the oldest version kept, so no kept diff loses its
//   start;
// - once the diffs of a chain add up to more bytes than the whole config, the next entry is a
//   snapshot: reading any version reads at most about twice the config.
// Reading version n reads its history-info (which names the chain's snapshot), then the entries
// from that snapshot to n in one range, applies them, and checks the result against n's hash.
import type { Etcd3 } from 'etcd3';
import { configHash } from '../config/canonical.js';
import { KINDS, perKind, type Config, type Kind } from '../config/schema.js';
import { decodeHistory, parseVersionExtras, parseVersionInfo, wrapHistory, type HistoryChain } from './decode.js';
import { buf, kvKey, kvValue, rangeOp } from './kv.js';
import type { Keys } from './keys.js';

/** Versions kept in history (listed, readable, rollback targets). */
export const HISTORY_VERSIONS_KEPT = 500;

/** Every this many versions, a snapshot (versions 1, 1 + SNAPSHOT_EVERY, ...). The same for every writer of a prefix. */
export const SNAPSHOT_EVERY = 100;

/** The snapshot point at or below version n. */
export const snapshotPointAtOrBelow = (n: number, every = SNAPSHOT_EVERY): number => n - ((n - 1) % every);

/**
 * A diff from version `diffFrom`: per kind it changes, id → the object as it is now, or null
 * (removed). Each kind is an object, never a list, so a reader that only knows snapshots refuses
 * a diff instead of reading it as an empty config.
 */
type DiffDoc = { diffFrom: number } & Partial<Record<Kind, Record<string, unknown>>>;

function isDiff(doc: unknown): doc is DiffDoc {
  return typeof doc === 'object' && doc !== null && typeof (doc as { diffFrom?: unknown }).diffFrom === 'number';
}

/** One object a write changes: its stored value afterwards, or null when it is removed. */
export interface ObjectWrite {
  kind: Kind;
  id: string;
  value: string | null;
}

/**
 * The JSON of a diff from version `from` (object values go in as they are stored: JSON already).
 * Only the kinds it changes (a reader takes a missing kind as unchanged), so a kind added to the
 * config later costs nothing in the diffs of configs that do not change it; every kind, each
 * empty, when it changes none, so a diff never reads as an empty config.
 */
export function diffJson(from: number, writes: Iterable<ObjectWrite>): string {
  const parts = perKind<string[]>(() => []);
  for (const w of writes) parts[w.kind].push(`${JSON.stringify(w.id)}:${w.value ?? 'null'}`);
  const changed = KINDS.filter((kind) => parts[kind].length > 0);
  return `{"diffFrom":${from},${(changed.length > 0 ? changed : KINDS).map((kind) => `"${kind}":{${parts[kind].join(',')}}`).join(',')}}`;
}

export interface HistoryEntryInput {
  /** The version being written. */
  version: number;
  /** The chain of the version before, when etcd holds exactly that version; null: write a snapshot. */
  base: HistoryChain | null;
  /** What the version changes against the one before (only read for a diff). */
  writes: () => Iterable<ObjectWrite>;
  /** The whole config as JSON (only called for a snapshot). */
  wholeJson: () => string;
  /** Bytes of the whole config (the sum of its object values): what a snapshot weighs, about. */
  wholeBytes: number;
  gzipAbove: number;
  snapshotEvery: number;
}

/** The history value of a version, and its chain. */
export function historyEntry(input: HistoryEntryInput): { value: string; chain: HistoryChain } {
  const { version: n, base } = input;
  if (base !== null && (n - 1) % input.snapshotEvery !== 0) {
    const json = diffJson(n - 1, input.writes());
    const bytes = base.bytes + Buffer.byteLength(json);
    if (bytes <= input.wholeBytes) return { value: wrapHistory(json, input.gzipAbove), chain: { snapshot: base.snapshot, bytes } };
  }
  return { value: wrapHistory(input.wholeJson(), input.gzipAbove), chain: { snapshot: n, bytes: 0 } };
}

/** The ranges that prune history once version n is written: infos below the oldest kept version, entries below its snapshot point. */
export function pruneRanges(keys: Keys, n: number, snapshotEvery: number): { key: string; end: string }[] {
  if (n <= HISTORY_VERSIONS_KEPT) return [];
  const keepFrom = n - HISTORY_VERSIONS_KEPT + 1;
  return [
    { key: keys.historyPrefix, end: keys.history(snapshotPointAtOrBelow(keepFrom, snapshotEvery)) },
    { key: keys.historyInfoPrefix, end: keys.historyInfo(keepFrom) },
  ];
}

export interface HistoryRead {
  /** The config document of the version (not yet validated). */
  doc: unknown;
  /** The raw value of its history-info. */
  infoRaw: string;
}

/**
 * Version n's config as history holds it; null when n is not in history (its history-info is the
 * mark of a version kept: entries below the oldest kept version may stay as the start of a
 * chain). Throws, naming the key, when an entry is corrupt, or a diff chain is broken or does not
 * reproduce n's hash.
 */
export async function readHistory(client: Etcd3, keys: Keys, n: number): Promise<HistoryRead | null> {
  const res = await client.kv.txn({ compare: [], success: [rangeOp(keys.history(n)), rangeOp(keys.historyInfo(n))], failure: [] });
  const entryKv = res.responses[0]!.response_range.kvs[0];
  const infoKv = res.responses[1]!.response_range.kvs[0];
  if (!entryKv || !infoKv) return null;
  const infoRaw = kvValue(infoKv);
  const doc = decodeEntry(keys, n, kvValue(entryKv));
  if (!isDiff(doc)) return { doc, infoRaw };

  const chain = parseVersionExtras(infoRaw).chain;
  if (!chain || chain.snapshot >= n) throw new Error(`${keys.history(n)} is a diff, but ${keys.historyInfo(n)} names no snapshot it starts at`);
  const range = await client.kv.range({ key: buf(keys.history(chain.snapshot)), range_end: buf(keys.history(n)) });
  const raw = new Map(range.kvs.map((kv) => [kvKey(kv), kvValue(kv)]));
  const at = (v: number) => {
    const value = raw.get(keys.history(v));
    if (value === undefined) throw new Error(`${keys.history(n)} needs ${keys.history(v)}, which is missing`);
    return decodeEntry(keys, v, value);
  };
  const first = at(chain.snapshot);
  if (isDiff(first)) throw new Error(`${keys.history(chain.snapshot)} should be the snapshot version ${n} starts at, but is a diff`);
  const objects = objectsOf(keys, chain.snapshot, first);
  for (let v = chain.snapshot + 1; v <= n; v++) {
    const diff = v === n ? doc : at(v);
    if (!isDiff(diff) || diff.diffFrom !== v - 1) throw new Error(`${keys.history(v)} should be a diff from version ${v - 1}`);
    for (const kind of KINDS) {
      for (const [id, obj] of Object.entries(diff[kind] ?? {})) {
        if (obj === null) objects[kind].delete(id);
        else objects[kind].set(id, obj);
      }
    }
  }
  const config = perKind((kind) => [...objects[kind]].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, obj]) => obj)) as unknown as Config;
  const hash = parseVersionInfo(infoRaw)?.hash;
  if (hash !== configHash(config)) throw new Error(`${keys.history(n)} and the diffs before it do not reproduce the hash of version ${n}`);
  return { doc: config, infoRaw };
}

function decodeEntry(keys: Keys, n: number, raw: string): unknown {
  try {
    return decodeHistory(raw);
  } catch (err) {
    throw new Error(`${keys.history(n)} is corrupt: ${(err as Error).message}`);
  }
}

/** A snapshot's objects by kind and id. */
function objectsOf(keys: Keys, n: number, doc: unknown): Record<Kind, Map<string, unknown>> {
  const lists = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  return perKind((kind) => {
    const list = lists[kind] ?? [];
    if (!Array.isArray(list)) throw new Error(`${keys.history(n)} is corrupt: ${kind} is not a list`);
    return new Map(list.map((obj: unknown) => [String((obj as { id?: unknown } | null)?.id), obj]));
  });
}
