// One etcd watch per proxy, however many workers it runs (--workers N): the primary holds the
// ConfigWatcher and passes each state on over IPC; a worker folds what it is sent into states
// of its own, which its ProxyServer takes as it takes a watcher's. Measured against a watch per
// worker (`bench:fanout --via direct,relay`): etcd's CPU per change is the same within the noise
// at 2–8 workers, and the relay is faster at the tail once processes share cores (one JSON
// message in place of a gRPC stream's decode in every worker). Envoy, too, holds one xDS stream
// per process, not per worker thread; a proxy's connections to etcd no longer grow with its cores.
//
// A state goes as its changes since the one sent before it (a one-route change is one entry),
// or whole: to a worker that has just asked to follow, and after a resync. The IPC channel keeps
// the order, so a worker always holds the base of the changes it is sent.
import { EventEmitter } from 'node:events';
import type { ConfigWatcherEvents } from '../store/config-watcher.js';
import type { CommittedState } from '../store/revision-folder.js';
import { PersistentMap } from '../util/persistent-map.js';

/** What ProxyServer needs of where its states come from: a ConfigWatcher, or a RelayedWatch. */
export interface ConfigFeed {
  readonly connected: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  on<K extends keyof ConfigWatcherEvents>(event: K, listener: (...args: ConfigWatcherEvents[K]) => void): unknown;
}

/** A committed state as it crosses the IPC channel (JSON: no Maps). */
export interface RelayedState extends Omit<CommittedState, 'entries' | 'delta'> {
  /** The revision of the state `changes` apply to; null: `changes` is every entry. */
  base: number | null;
  /** [key, value], or [key, null] for a deleted key. */
  changes: [string, string | null][];
}

/** The primary's side: a state as its changes since the one before (`whole`: every entry). */
export function relayedState(state: CommittedState, whole: boolean): RelayedState {
  const { entries, delta, ...rest } = state;
  const changes = !whole && delta ? delta.changed : entries;
  return { ...rest, base: !whole && delta ? delta.base : null, changes: [...changes] };
}

/** The worker's side: the states its primary relays, as a ConfigWatcher emits them. */
export class RelayedWatch extends EventEmitter<ConfigWatcherEvents> implements ConfigFeed {
  /** The primary's watch is established. */
  connected = false;
  private entries: PersistentMap<string> | null = null;
  private revision = 0;
  private stopped = false;
  private firstState: Promise<void> | null = null;
  private resolveFirst: () => void = () => {};

  /** `follow` asks the primary for the whole state, then every change. */
  constructor(private readonly follow: () => void) {
    super();
  }

  /** Resolves once the first state was emitted (or stop() was called). */
  start(): Promise<void> {
    if (!this.firstState) {
      this.firstState = new Promise((resolve) => (this.resolveFirst = resolve));
      this.follow();
    }
    return this.firstState;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.resolveFirst();
  }

  /** The primary's watch connected or lost. */
  etcd(connected: boolean): void {
    if (this.connected === connected || this.stopped) return;
    this.connected = connected;
    this.emit(connected ? 'connected' : 'disconnected');
  }

  receive(relayed: RelayedState): void {
    if (this.stopped) return;
    const { base, changes, ...rest } = relayed;
    let state: CommittedState;
    if (base === null) {
      this.entries = PersistentMap.from(changes as [string, string][]);
      state = { ...rest, entries: this.entries, delta: null };
    } else if (this.entries !== null && base === this.revision) {
      this.entries = this.entries.withChanges(changes);
      state = { ...rest, entries: this.entries, delta: { base, changed: new Map(changes) } };
    } else {
      // Not the state these changes follow: cannot happen on an ordered channel; ask again for all.
      this.follow();
      return;
    }
    this.revision = state.revision;
    this.emit('state', state);
    this.resolveFirst();
  }
}
