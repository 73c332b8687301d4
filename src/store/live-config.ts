// The control plane's copy of the committed config, kept current by a watch of its own (a
// ConfigWatcher, and a LiveView per state it emits), so reads and writes neither range-read etcd's
// prefix nor decode objects that did not change.
//
// Read-your-writes, across threads and replicas: current() first reads the version key (one small
// read), then waits until the watch has delivered the revision that put it, so every version
// committed before the call, by any writer, is in the snapshot. The correctness of a write never
// rests on the copy being current, though: a write planned on a snapshot commits only if nothing
// under the config prefix changed after the snapshot's revision (write-commit.ts), so a stale copy
// can cost a conflict, never a lost update. Where the copy cannot vouch for what etcd holds (an
// unfinished multi-transaction write, a watch that does not catch up in time, a version key
// rewritten in place), current() says so and the caller reads etcd as it always did.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { CurrentEntry } from './committed.js';
import { ConfigWatcher } from './config-watcher.js';
import type { Keys } from './keys.js';
import { LiveView } from './live-view.js';

/** A committed state to answer or plan a write from. */
export interface LiveSnapshot {
  view: LiveView;
  /** Nothing under the config prefix had changed after this revision when the snapshot was taken: what a write planned on it is guarded with. */
  headRevision: number;
  /** The keys under the prefix as they stand, when they hold more than the committed state (an unfinished change); null when they do not. */
  uncommitted: ReadonlyMap<string, CurrentEntry> | null;
}

/** How long current() waits for the watch to deliver the newest version before the caller reads etcd instead. */
const CATCH_UP_MS = 1_000;

export class LiveConfig {
  private readonly watcher: ConfigWatcher;
  private view: LiveView | null = null;
  private starting: Promise<void> | null = null;
  private readonly waiting = new Set<() => void>();

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    logger: Logger,
    private readonly catchUpMs = CATCH_UP_MS,
  ) {
    this.watcher = new ConfigWatcher(client, keys, logger);
    this.watcher.on('state', (state) => (this.view = LiveView.of(keys, state, this.view)));
    this.watcher.on('progress', () => {
      for (const wake of this.waiting) wake();
    });
  }

  /** Read the committed state and start watching (current() does this too). */
  start(): Promise<void> {
    return (this.starting ??= this.watcher.start());
  }

  async stop(): Promise<void> {
    await this.watcher.stop();
  }

  /**
   * The committed state, at least as new as every version committed before this call; null when
   * the copy cannot vouch for it in time (read etcd instead).
   */
  async current(): Promise<LiveSnapshot | null> {
    void this.start();
    const kv = (await this.client.get(this.keys.version).exec()).kvs[0];
    const revision = kv ? Number(kv.mod_revision) : 0;
    if (!(await this.reached(revision))) return null;
    const view = this.view!;
    if (!this.watcher.settled || (view.state.versionKey?.revision ?? 0) !== revision) return null;
    return { view, headRevision: this.watcher.lastRevision, uncommitted: null };
  }

  /** Resolves true once the watch has delivered `revision`, false when it has not within catchUpMs. */
  private reached(revision: number): Promise<boolean> {
    const done = () => this.view !== null && this.watcher.lastRevision >= revision;
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(check);
        resolve(ok);
      };
      const check = () => {
        if (done()) finish(true);
      };
      const timer = setTimeout(() => finish(false), this.catchUpMs);
      this.waiting.add(check);
    });
  }
}
