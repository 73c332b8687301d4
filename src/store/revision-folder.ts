// Folds watch events into whole committed states. Pure: it knows the key layout, not etcd (the
// watcher feeds it snapshots and events and publishes what it returns).
//
// A revision that puts the version key commits everything buffered. Without the unfinished-write
// marker, any other revision commits too (a key written straight into etcd is a change like any
// other; the version stays). While the marker stands, a multi-transaction change is under way:
// its revisions stay buffered until the revision that puts the version key.
//
// A state's entries share structure with the state before (PersistentMap): a revision costs
// what it changes, and an emitted state never changes, so consumers may keep old states.
import { KINDS, perKind } from '../config/schema.js';
import { mapChanges, PersistentMap } from '../util/persistent-map.js';
import { uncommittedChanges, type CommittedRead } from './committed.js';
import { parseVersionExtras, parseVersionInfo, type VersionInfo, type VersionKeyExtras } from './decode.js';
import type { Keys } from './keys.js';

export interface CommittedState {
  /** The revision this state was read or committed at (0: no version yet). */
  revision: number;
  version: VersionInfo | null;
  /** Object keys → raw JSON (version key excluded). Never mutated after it is emitted. */
  entries: ReadonlyMap<string, string>;
  /** True when the state was re-read because the watch could not resume (compaction). */
  resync: boolean;
  /**
   * The entries are exactly what `version` was written with, so its hash holds. False once keys
   * were written straight into etcd since (or when that cannot be told cheaply).
   */
  versionExact: boolean;
  /**
   * What differs from the state emitted just before this one, so a consumer can rebuild only
   * that. Absent or null: there was none to compare with (the first state; a state from
   * elsewhere, e.g. a disk cache): take every entry as changed.
   */
  delta?: StateDelta | null;
  /**
   * The version key behind `version`: the revision that put it and what the writer recorded
   * beside it (the control plane guards and chains its next write with these). null: there is
   * no version key. Absent on states from elsewhere (history, a disk cache).
   */
  versionKey?: VersionKey | null;
}

export interface VersionKey extends VersionKeyExtras {
  /** Its mod revision. */
  revision: number;
}

/** The version key of a raw value put at `revision`. */
const versionKeyOf = (raw: string, revision: number): VersionKey => ({ revision, ...parseVersionExtras(raw) });

export interface StateDelta {
  /** The revision of the state this one is compared with: the one emitted just before it. */
  base: number;
  /** Keys whose value differs from that state's: the value here, or null for a deleted key. */
  changed: ReadonlyMap<string, string | null>;
}

/** One key change of a watch response. */
export interface WatchEvent {
  /** The revision that made the change (etcd's mod revision of the event). */
  revision: number;
  key: string;
  /** The new value; null for a delete. */
  value: string | null;
}

export interface Folded {
  /** The newest state the response committed; null when it committed none that changes anything. */
  state: CommittedState | null;
  /** Revisions that deleted the version key: ignored, the config stays as it was. */
  versionDeletedAt: number[];
}

/** A state as the folder keeps it: its entries are the map later states are made from. */
interface FoldedState extends CommittedState {
  entries: PersistentMap<string>;
}

export class RevisionFolder {
  private current: FoldedState | null = null;
  /** Changes received since the last commit: key → value, null for a delete. */
  private buffer = new Map<string, string | null>();
  /** The unfinished-write marker stands: buffer, do not commit, until a version is put. */
  private unfinished = false;
  private received = 0;

  constructor(private readonly keys: Keys) {}

  /** The last state returned; null before the first snapshot. */
  get state(): CommittedState | null {
    return this.current;
  }

  /** The last revision whose events were received (a watch resumes after it). */
  get lastRevision(): number {
    return this.received;
  }

  /**
   * Start from a snapshot of the prefix (at start, and after a resync): its committed state.
   * What the snapshot holds beyond that (an unfinished change) is buffered exactly as if its
   * events had been received. After a resync the state is made from the one before (sharing
   * what did not change) and its delta says what did.
   */
  restart(read: CommittedRead, resync: boolean): CommittedState {
    this.buffer = uncommittedChanges(read.entries, read.current);
    this.unfinished = read.unfinished > 0;
    this.received = read.headRevision;
    const before = this.current;
    const changed = before ? mapChanges(before.entries, read.entries) : null;
    this.current = {
      ...stateOfRead(this.keys, read, resync),
      entries: before && changed ? before.entries.withChanges(changed) : PersistentMap.from(read.entries),
      delta: before && changed ? { base: before.revision, changed } : null,
    };
    return this.current;
  }

  /** Nothing is buffered: the prefix as received holds no change beyond the state (no unfinished write). */
  get settled(): boolean {
    return !this.unfinished && this.buffer.size === 0;
  }

  /**
   * One whole watch response, revision by revision. Events at or below the last revision
   * received (seen before a reconnect) are skipped. A response without events is a progress
   * notification: everything up to `headerRevision` was sent.
   */
  fold(events: readonly WatchEvent[], headerRevision: number): Folded {
    const seen = this.received;
    const versionDeletedAt: number[] = [];
    let latest: FoldedState | null = null;
    let rev = 0;
    let versionRaw: string | null = null;
    const endOfRevision = () => {
      if (rev === 0) return;
      if (versionRaw !== null) {
        const key = versionKeyOf(versionRaw, rev);
        // A write planned at `base` holds exactly its version unless something else changed since.
        const exact = key.base === null || ((latest ?? this.current)?.revision ?? 0) <= key.base;
        latest = this.commit(rev, parseVersionInfo(versionRaw), key, exact, latest);
        versionRaw = null;
      } else if (!this.unfinished && this.buffer.size > 0) {
        const last = latest ?? this.current;
        latest = this.commit(rev, last?.version ?? null, last?.versionKey ?? null, false, latest);
      }
    };
    for (const ev of events) {
      if (ev.revision <= seen) continue;
      if (ev.revision !== rev) {
        endOfRevision();
        rev = ev.revision;
      }
      if (ev.key === this.keys.version) {
        if (ev.value === null) versionDeletedAt.push(ev.revision);
        else versionRaw = ev.value;
      } else if (ev.key === this.keys.unfinished) {
        this.unfinished = ev.value !== null;
      } else {
        this.buffer.set(ev.key, ev.value);
      }
    }
    endOfRevision();
    const upTo = events.length > 0 ? rev : headerRevision;
    if (upTo > this.received) this.received = upTo;
    if (latest === null) return { state: null, versionDeletedAt };
    // Only the newest state of the response is emitted: its delta spans all its revisions.
    const before = this.current;
    const folded: FoldedState = latest;
    this.current = { ...folded, delta: before ? { base: before.revision, changed: folded.entries.changesSince(before.entries) } : null };
    return { state: this.current, versionDeletedAt };
  }

  /** The buffered changes applied to the newest state; `after` when they change nothing. */
  private commit(revision: number, version: VersionInfo | null, versionKey: VersionKey | null, versionExact: boolean, after: FoldedState | null): FoldedState | null {
    const base = after ?? this.current;
    const baseEntries = base?.entries ?? PersistentMap.empty<string>();
    const sameVersion = base !== null && base.version?.version === version?.version && base.version?.hash === version?.hash;
    const entries = baseEntries.withChanges(this.buffer);
    this.buffer.clear();
    // E.g. an undone unfinished change: every key is back to its committed value.
    if (sameVersion && entries === baseEntries) return after;
    return { revision, version, entries, resync: false, versionExact, versionKey };
  }
}

/** The committed state a snapshot read holds (its entries as a plain map). */
export function stateOfRead(keys: Keys, read: CommittedRead, resync = false): CommittedState {
  return {
    revision: read.stateRevision,
    version: read.version,
    entries: read.entries,
    resync,
    versionExact: isVersionExact(keys, read),
    versionKey: read.versionRaw === null ? null : versionKeyOf(read.versionRaw, read.revision),
  };
}

/**
 * A snapshot holds exactly its version's config when nothing under the prefix is newer than the
 * version key, nothing changed between the revision the write was planned at and its commit, and
 * the object counts match (a deletion leaves no newer key). Right after a write of the control
 * plane with nothing written beside it, this holds.
 */
function isVersionExact(keys: Keys, read: CommittedRead): boolean {
  if (!read.version || read.unfinished) return false;
  const base = parseVersionExtras(read.versionRaw).base ?? read.revision;
  const counts = perKind(() => 0);
  for (const [key, e] of read.current) {
    const where = keys.parseObject(key);
    if (!where || e.modRevision > read.revision || (e.modRevision > base && e.modRevision < read.revision)) return false;
    counts[where.kind]++;
  }
  return KINDS.every((k) => counts[k] === read.version!.counts[k]);
}
