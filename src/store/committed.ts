// The committed state. One range read of the prefix at the current revision H gives the version
// key (mod revision V), the unfinished-write marker and every object. Without the marker, that
// read IS the state: every change was committed (by the control plane, or written straight into
// etcd by hand). With the marker (created at revision M), a multi-transaction change is under way
// or was cut off, and its writes are not part of the state: the prefix is read again at M - 1;
// if etcd has compacted that away, the state comes from the history entry of version V.
import type { Etcd3, IKeyValue } from 'etcd3';
import { KINDS } from '../config/schema.js';
import { parseVersionInfo, type VersionInfo } from './decode.js';
import { readHistory, type HistoryRead } from './history.js';
import { buf, isCompactedError, kvKey, kvValue, prefixEnd } from './kv.js';
import type { Keys } from './keys.js';

export interface CurrentEntry {
  value: string;
  modRevision: number;
}

export interface CommittedRead {
  version: VersionInfo | null;
  /** Raw value of the version key (null: no version key). */
  versionRaw: string | null;
  /** Mod revision of the version key; 0 when there is none. */
  revision: number;
  /** Committed keys under the config prefix (version key excluded) → raw value. */
  entries: Map<string, string>;
  /** The revision of the snapshot `current` was read at. */
  headRevision: number;
  /** Keys under the config prefix (version key and marker excluded) at headRevision. */
  current: Map<string, CurrentEntry>;
  /** Create revision of the unfinished-write marker at headRevision; 0 when there is none. */
  unfinished: number;
  /** The revision `entries` is the state at. */
  stateRevision: number;
  /** How `entries` was found. */
  source: 'head' | 'revision' | 'history' | 'head-without-newer';
}

export interface Snapshot {
  versionRaw: string | null;
  revision: number;
  current: Map<string, CurrentEntry>;
  unfinished: number;
}

export function splitSnapshot(keys: Keys, kvs: readonly IKeyValue[]): Snapshot {
  let versionKv: IKeyValue | undefined;
  let unfinished = 0;
  const current = new Map<string, CurrentEntry>();
  for (const kv of kvs) {
    const key = kvKey(kv);
    if (key === keys.version) versionKv = kv;
    else if (key === keys.unfinished) unfinished = Number(kv.create_revision);
    else current.set(key, { value: kvValue(kv), modRevision: Number(kv.mod_revision) });
  }
  return {
    versionRaw: versionKv ? kvValue(versionKv) : null,
    revision: versionKv ? Number(versionKv.mod_revision) : 0,
    current,
    unfinished,
  };
}

/** The committed entries, given a snapshot of the prefix at its head revision. */
export async function resolveCommitted(
  client: Etcd3,
  keys: Keys,
  snap: Snapshot,
  onWarning: (msg: string) => void = () => {},
): Promise<{ entries: Map<string, string>; source: CommittedRead['source'] }> {
  const { current } = snap;
  if (!snap.unfinished) {
    return { entries: new Map([...current].map(([k, e]) => [k, e.value])), source: 'head' };
  }
  const version = parseVersionInfo(snap.versionRaw);
  try {
    const res = await client.kv.range({ key: buf(keys.config), range_end: prefixEnd(keys.config), revision: snap.unfinished - 1 });
    const entries = new Map<string, string>();
    for (const kv of res.kvs) if (kvKey(kv) !== keys.version) entries.set(kvKey(kv), kvValue(kv));
    return { entries, source: 'revision' };
  } catch (err) {
    if (!isCompactedError(err)) throw err;
  }
  if (version) {
    const fromHistory = await historyEntries(client, keys, version.version);
    if (fromHistory) return { entries: fromHistory, source: 'history' };
  }
  onWarning(`revision ${snap.unfinished - 1} is compacted and the history entry of version ${version?.version ?? 0} is unusable; ignoring keys written since`);
  const entries = new Map<string, string>();
  for (const [k, e] of current) if (e.modRevision < snap.unfinished) entries.set(k, e.value);
  return { entries, source: 'head-without-newer' };
}

/** Object entries of history version n, as the writer stored them; null if missing or unreadable. */
export async function historyEntries(client: Etcd3, keys: Keys, n: number): Promise<Map<string, string> | null> {
  let read: HistoryRead | null;
  try {
    read = await readHistory(client, keys, n);
  } catch {
    return null;
  }
  if (!read) return null;
  const doc = (typeof read.doc === 'object' && read.doc !== null ? read.doc : {}) as Record<string, unknown>;
  const out = new Map<string, string>();
  for (const kind of KINDS) {
    const list = doc[kind] ?? [];
    if (!Array.isArray(list)) return null;
    for (const obj of list as unknown[]) {
      const id = (obj as { id?: unknown } | null)?.id;
      if (typeof id !== 'string') return null;
      out.set(keys.object(kind, id), JSON.stringify(obj));
    }
  }
  return out;
}

/** Read the committed state (one snapshot of the prefix, plus a read at V when needed). */
export async function readCommittedRaw(client: Etcd3, keys: Keys, onWarning?: (msg: string) => void): Promise<CommittedRead> {
  const res = await client.kv.range({ key: buf(keys.config), range_end: prefixEnd(keys.config) });
  const snap = splitSnapshot(keys, res.kvs);
  const { entries, source } = await resolveCommitted(client, keys, snap, onWarning);
  return {
    version: parseVersionInfo(snap.versionRaw),
    versionRaw: snap.versionRaw,
    revision: snap.revision,
    entries,
    headRevision: Number(res.header.revision),
    current: snap.current,
    unfinished: snap.unfinished,
    stateRevision: snap.unfinished ? snap.unfinished - 1 : Number(res.header.revision),
    source,
  };
}

/** What turns `committed` into `current`: key → new value, or null for a deleted key. */
export function uncommittedChanges(
  committed: ReadonlyMap<string, string>,
  current: ReadonlyMap<string, CurrentEntry>,
): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const [k, e] of current) if (committed.get(k) !== e.value) out.set(k, e.value);
  for (const k of committed.keys()) if (!current.has(k)) out.set(k, null);
  return out;
}
