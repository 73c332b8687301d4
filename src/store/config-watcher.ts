// Follows the committed config. Reads the committed state, then watches the config prefix and
// emits whole committed states, never single events (the RevisionFolder decides what a
// revision commits; this class does the etcd I/O). Survives etcd restarts (resumes after the
// last revision received) and compaction (re-reads everything: resync).
import { EventEmitter } from 'node:events';
import { ClientClosedError, type Etcd3, type IWatchResponse } from 'etcd3';
import type { Logger } from 'pino';
import { Backoff } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import { readCommittedRaw } from './committed.js';
import { kvKey, kvValue } from './kv.js';
import type { Keys } from './keys.js';
import { RevisionFolder, type CommittedState, type WatchEvent } from './revision-folder.js';
import { PrefixWatch } from './watch-stream.js';

export type { CommittedState } from './revision-folder.js';

export interface ConfigWatcherEvents {
  state: [CommittedState];
  /** Every watch response and snapshot read, after its state (if any): the revision received up to. */
  progress: [number];
  connected: [];
  disconnected: [];
}

export class ConfigWatcher extends EventEmitter<ConfigWatcherEvents> {
  /** The watch is established: changes arrive as they are committed. */
  connected = false;
  private readonly folder: RevisionFolder;
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
    this.folder = new RevisionFolder(keys);
  }

  /** The last emitted state; null while the first one is pending. */
  get state(): CommittedState | null {
    return this.folder.state;
  }

  /** True until the first state was read (e.g. etcd is unreachable at start). */
  get pending(): boolean {
    return this.folder.state === null;
  }

  /** The last revision whose events were received (the watch resumes after it). */
  get lastRevision(): number {
    return this.folder.lastRevision;
  }

  /** What was received up to lastRevision is all in `state`: no unfinished multi-transaction write. */
  get settled(): boolean {
    return this.folder.settled;
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
      this.publish(this.folder.restart(read, resync));
      this.emit('progress', this.lastRevision);
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

  private onResponse(res: IWatchResponse): void {
    if (this.stopped) return;
    const events: WatchEvent[] = (res.events ?? []).map((ev) => ({
      revision: Number(ev.kv.mod_revision),
      key: kvKey(ev.kv),
      value: String(ev.type).toUpperCase() === 'DELETE' ? null : kvValue(ev.kv),
    }));
    const { state, versionDeletedAt } = this.folder.fold(events, Number(res.header?.revision ?? 0));
    for (const revision of versionDeletedAt) this.logger.warn({ revision }, 'the version key was deleted; keeping the current config');
    if (state) this.publish(state);
    this.emit('progress', this.lastRevision);
  }
}
