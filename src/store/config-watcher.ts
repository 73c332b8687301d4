// Follows the committed config. Reads the committed state, then watches the config prefix and
// emits whole revisions, never single events; while a multi-transaction change is unfinished it
// buffers until the revision that puts the version key, so that change is never seen in part. Survives etcd restarts
// (resumes after the last revision received) and compaction (re-reads everything: resync).
import { EventEmitter } from 'node:events';
import { ClientClosedError, type Etcd3, type IWatchResponse } from 'etcd3';
import type { Logger } from 'pino';
import { KINDS, type Kind } from '../config/schema.js';
import { readCommittedRaw, uncommittedChanges, type CommittedRead } from './committed.js';
import { parseVersionInfo, type VersionInfo } from './decode.js';
import { Backoff } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import { kvKey, kvValue } from './kv.js';
import type { Keys } from './keys.js';
import { PrefixWatch } from './watch-stream.js';

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
}

export interface ConfigWatcherEvents {
  state: [CommittedState];
  connected: [];
  disconnected: [];
}

export class ConfigWatcher extends EventEmitter<ConfigWatcherEvents> {
  /** The watch is established: changes arrive as they are committed. */
  connected = false;
  /** The last revision whose events were received (the watch resumes after it). */
  lastRevision = 0;
  private current: CommittedState | null = null;
  /** Events received since the last commit: key → value, null for a delete. */
  private buffer = new Map<string, string | null>();
  /** The unfinished-write marker stands: buffer, do not commit, until a version is put. */
  private unfinished = false;
  private watch: PrefixWatch | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly backoff = new Backoff(100, 2_000);
  private firstState: Promise<void> | null = null;
  private resolveFirst: () => void = () => {};

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly logger: Logger,
  ) {
    super();
  }

  /** The last emitted state; null while the first one is pending. */
  get state(): CommittedState | null {
    return this.current;
  }

  /** True until the first state was read (e.g. etcd is unreachable at start). */
  get pending(): boolean {
    return this.current === null;
  }

  /** Resolves once the first state was emitted (or stop() was called); retries while etcd is unreachable. */
  start(): Promise<void> {
    if (!this.firstState) {
      this.firstState = new Promise((resolve) => (this.resolveFirst = resolve));
      void this.bootstrap(false);
    }
    return this.firstState;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.watch?.close();
    this.watch = null;
    this.resolveFirst();
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.emit(connected ? 'connected' : 'disconnected');
  }

  /** Read the committed state, emit it, and watch from the snapshot's revision + 1. */
  private async bootstrap(resync: boolean): Promise<void> {
    if (this.stopped) return;
    this.retryTimer = null;
    try {
      const read = await readCommittedRaw(this.client, this.keys, (msg) => this.logger.warn(msg));
      if (this.stopped) return;
      this.backoff.reset();
      // The snapshot is at headRevision; what it holds beyond the committed state (an unfinished
      // change) is buffered exactly as if its events had been received.
      this.buffer = uncommittedChanges(read.entries, read.current);
      this.unfinished = read.unfinished > 0;
      this.lastRevision = read.headRevision;
      this.publish({ revision: read.stateRevision, version: read.version, entries: read.entries, resync, versionExact: isVersionExact(this.keys, read) });
      this.openWatch();
    } catch (err) {
      if (this.stopped) return;
      this.setConnected(false);
      if (err instanceof ClientClosedError) {
        this.logger.error('the etcd client was closed before the config watcher was stopped');
        return;
      }
      const delay = this.backoff.next();
      this.logger.warn({ err: errorMessage(err), retryInMs: delay }, 'reading the config from etcd failed; retrying');
      this.retryTimer = setTimeout(() => void this.bootstrap(resync), delay);
    }
  }

  private publish(state: CommittedState): void {
    this.current = state;
    this.emit('state', state);
    this.resolveFirst();
  }

  private openWatch(): void {
    this.watch?.close();
    const watch = new PrefixWatch(this.client, this.keys.config, {
      startRevision: () => this.lastRevision + 1,
      onCreated: () => this.setConnected(true),
      onResponse: (res) => this.onResponse(res),
      onDisconnected: (err) => {
        // Once per outage at warn level; every further failed attempt at debug.
        const level = this.connected ? 'warn' : 'debug';
        this.logger[level]({ err: errorMessage(err), resumeAt: this.lastRevision + 1 }, 'config watch lost; reconnecting');
        this.setConnected(false);
      },
      onCanceled: ({ compactRevision, reason }) => {
        if (this.watch !== watch) return;
        this.watch = null;
        this.logger.warn(
          { compactRevision, reason, lastRevision: this.lastRevision },
          compactRevision > 0 ? 'etcd compacted past the watch; re-reading the config' : 'etcd cancelled the config watch; re-reading the config',
        );
        // Re-read after a short pause (immediately would spin if etcd keeps cancelling).
        this.retryTimer = setTimeout(() => void this.bootstrap(true), compactRevision > 0 ? 0 : this.backoff.next());
      },
    });
    this.watch = watch;
    watch.start();
  }

  /**
   * One whole watch response, revision by revision. A revision that puts the version key commits
   * everything buffered. Without the unfinished-write marker, any other revision commits too (a
   * key written straight into etcd is a change like any other; the version stays). While the
   * marker stands, a multi-transaction change is under way: its revisions stay buffered.
   */
  private onResponse(res: IWatchResponse): void {
    if (this.stopped) return;
    const seen = this.lastRevision;
    let latest: CommittedState | null = null;
    let rev = 0;
    let versionRaw: string | null = null;
    const endOfRevision = () => {
      if (rev === 0) return;
      if (versionRaw !== null) {
        latest = this.commit(rev, parseVersionInfo(versionRaw), true, latest);
        versionRaw = null;
      } else if (!this.unfinished && this.buffer.size > 0) {
        latest = this.commit(rev, (latest ?? this.current)?.version ?? null, false, latest);
      }
    };
    for (const ev of res.events ?? []) {
      const evRev = Number(ev.kv.mod_revision);
      if (evRev <= seen) continue; // already received before a reconnect
      if (evRev !== rev) {
        endOfRevision();
        rev = evRev;
      }
      const key = kvKey(ev.kv);
      const isDelete = String(ev.type).toUpperCase() === 'DELETE';
      if (key === this.keys.version) {
        if (isDelete) this.logger.warn({ revision: evRev }, 'the version key was deleted; keeping the current config');
        else versionRaw = kvValue(ev.kv);
      } else if (key === this.keys.unfinished) {
        this.unfinished = !isDelete;
      } else {
        this.buffer.set(key, isDelete ? null : kvValue(ev.kv));
      }
    }
    endOfRevision();
    // A response without events is a progress notification: everything up to its revision was sent.
    const upTo = res.events?.length ? rev : Number(res.header?.revision ?? 0);
    if (upTo > this.lastRevision) this.lastRevision = upTo;
    // One emit for the newest state of the response.
    if (latest) this.publish(latest);
  }

  /** The buffered changes applied to the newest state; null when they change nothing. */
  private commit(revision: number, version: VersionInfo | null, versionExact: boolean, after: CommittedState | null): CommittedState | null {
    const base = after ?? this.current;
    const baseEntries = base?.entries ?? new Map<string, string>();
    const sameVersion = base !== null && base.version?.version === version?.version && base.version?.hash === version?.hash;
    let changed = !sameVersion;
    for (const [k, v] of this.buffer) if (baseEntries.get(k) !== (v ?? undefined)) changed = true;
    if (!changed) {
      // E.g. an undone unfinished change: every key is back to its committed value.
      this.buffer.clear();
      return after;
    }
    const entries = new Map(baseEntries);
    for (const [k, v] of this.buffer) {
      if (v === null) entries.delete(k);
      else entries.set(k, v);
    }
    this.buffer.clear();
    return { revision, version, entries, resync: false, versionExact };
  }
}

/**
 * A snapshot holds exactly its version's config when nothing under the prefix is newer than the
 * version key and the object counts match (a deletion leaves no newer key). The control plane
 * plans every write against the whole prefix, so right after it writes this always holds.
 */
function isVersionExact(keys: Keys, read: CommittedRead): boolean {
  if (!read.version || read.unfinished) return false;
  const counts: Record<Kind, number> = { routes: 0, upstreams: 0, policies: 0, certificates: 0 };
  for (const [key, e] of read.current) {
    const where = keys.parseObject(key);
    if (!where || e.modRevision > read.revision) return false;
    counts[where.kind]++;
  }
  return KINDS.every((k) => counts[k] === read.version!.counts[k]);
}
