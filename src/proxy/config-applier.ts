// One committed state → the runtime that serves it: decode, validate, compile, swap. A state that
// fails any step is refused whole and the last good runtime serves on. No etcd here: the proxy
// feeds it states from the watcher, from history or from its disk cache.
//
// A state from the watcher carries its delta from the state before. When that state is the one
// serving, the change costs what it changes: only the changed entries are decoded, validity is
// checked only where they can affect it (LiveView), and the runtime is made from the serving one
// by compiling only the changed objects and the routes using them (updateRuntime). Any other
// state (the first, one after a refused state, a resync, history, the disk cache) is decoded and
// compiled whole, reusing the serving runtime's stateful objects of unchanged definition.
//
// Either way the work runs in slices of a few ms (util/slices.ts) while the serving runtime
// answers requests in between: a one-route change fits in the first slice and is swapped within
// the apply() call; a whole compile of 10,000 routes, or a change that reaches every route, takes
// many slices. One state is compiled at a time and at most one waits: a newer state takes the
// waiting one's place (that one resolves superseded, and its delta is folded into the newer
// one's, so the newer one still applies incrementally). A compile under way is never abandoned
// for a newer state: with changes arriving faster than a whole compile takes, abandoning would
// never serve anything new (the peers' "full rebuild per change" stall, worse); finishing it and
// then applying the newest state bounds the lag to two compiles.
import type { Logger } from 'pino';
import type { ChangedObject } from '../config/validate-change.js';
import { formatIssue } from '../config/validate.js';
import type { CommittedState } from '../store/config-watcher.js';
import type { Keys } from '../store/keys.js';
import { LiveView } from '../store/live-view.js';
import type { StateDelta } from '../store/revision-folder.js';
import { Abandoned, runSliced, SLICE_MS, type Sliced } from '../util/slices.js';
import type { ProxyMetrics } from './metrics.js';
import { compileRuntimeSliced, updateRuntimeSliced, type CompileOptions, type Runtime, type RuntimeHolder } from './runtime.js';

/**
 * Where the served config came from: etcd's live state; the history entry of a committed version
 * (the live state did not validate when the proxy started); the disk cache (etcd did not answer
 * at start, or neither the live state nor history was usable).
 */
export type ConfigSource = 'etcd' | 'history' | 'cache';

export interface ConfigError {
  revision: number;
  version: number | null;
  at: string;
  errors: string[];
}

/**
 * `superseded`: never compiled or swapped, because a newer state took its place while it waited
 * (or the applier was stopped); the newer state's result says what is served.
 */
export type ApplyResult = { ok: true } | { ok: false; errors: string[]; superseded?: true };

/** A state made into a runtime not yet serving, or why it is refused. */
type Prepared = { view: LiveView; runtime: Runtime } | { errors: string[] };

interface Job {
  state: CommittedState;
  source: ConfigSource;
  resolve: (result: ApplyResult) => void;
}

const superseded = (why: string): ApplyResult => ({ ok: false, errors: [why], superseded: true });

/**
 * `newer` as a change from where `older` started: `older` (emitted just before `newer`) is
 * skipped, so `newer`'s delta takes in `older`'s. Without both deltas, `newer` compiles whole.
 */
function skipping(older: CommittedState, newer: CommittedState): CommittedState {
  const resync = older.resync || newer.resync;
  const a = older.delta;
  const b = newer.delta;
  if (!a || !b || b.base !== older.revision) return { ...newer, resync, delta: null };
  const delta: StateDelta = { base: a.base, changed: new Map([...a.changed, ...b.changed]) };
  return { ...newer, resync, delta };
}

export class ConfigApplier {
  /** Why the newest live state from etcd was refused; null once a live state applies. */
  lastError: ConfigError | null = null;
  appliedAt: string | null = null;
  /** How long the last apply that succeeded took: decode, validate, compile and swap, in ms. */
  lastApplyMs: number | null = null;
  source: ConfigSource | null = null;
  /** The view of the last state from etcd (applied or not): the next one is decoded from it and its delta. */
  private lastView: LiveView | null = null;
  /** The view of the state from etcd the serving runtime was compiled from, and that runtime. */
  private served: { view: LiveView; runtime: Runtime } | null = null;
  private waiting: Job | null = null;
  /** Compiling, or about to: resolves when nothing is left to do. */
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly keys: Keys,
    readonly holder: RuntimeHolder,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
    private readonly compileOptions: CompileOptions = {},
    /** Compile every state whole (the benchmarks compare the two ways). */
    private readonly alwaysWhole = false,
    /** How long a slice of the work runs before the loop gets a turn (Infinity: one pass; the benchmarks compare). */
    private readonly sliceMs = SLICE_MS,
  ) {}

  /**
   * Serve `state` once the state being compiled (if any) is done, or refuse it whole. A newer
   * state given before this one started supersedes it; a state from history or the cache never
   * takes the place of a live one waiting. Only a refused live state sets lastError: a fallback
   * that does not apply either must not hide what is wrong in etcd.
   */
  apply(state: CommittedState, source: ConfigSource = 'etcd'): Promise<ApplyResult> {
    if (this.stopped) return Promise.resolve(superseded('the proxy is stopping'));
    const before = this.waiting;
    if (before !== null && before.source === 'etcd' && source !== 'etcd') {
      return Promise.resolve(superseded(`a live state (revision ${before.state.revision}) is waiting to be applied`));
    }
    return new Promise((resolve) => {
      let next = state;
      if (before !== null) {
        before.resolve(superseded(`superseded by revision ${state.revision} before it was compiled`));
        if (before.source === 'etcd' && source === 'etcd') next = skipping(before.state, state);
      }
      this.waiting = { state: next, source, resolve };
      this.running ??= this.drain();
    });
  }

  /** Resolves once no state is being compiled or waiting. */
  async idle(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  /** Apply no more: the waiting state is dropped, a compile under way stops at its next pause. */
  stop(): Promise<void> {
    this.stopped = true;
    this.waiting?.resolve(superseded('the proxy is stopping'));
    this.waiting = null;
    return this.idle();
  }

  private async drain(): Promise<void> {
    for (let job = this.waiting; job !== null; job = this.waiting) {
      this.waiting = null;
      job.resolve(await this.applyNow(job.state, job.source));
    }
    this.running = null;
  }

  private async applyNow(state: CommittedState, source: ConfigSource): Promise<ApplyResult> {
    const started = performance.now();
    const version = state.version?.version ?? null;
    let made: Prepared;
    try {
      made = await runSliced(this.prepare(state, source), () => this.stopped, this.sliceMs);
    } catch (err) {
      if (err instanceof Abandoned) return superseded('the proxy is stopping');
      made = { errors: [`compile: ${(err as Error).message}`] };
    }
    if ('errors' in made) {
      const { errors } = made;
      if (source === 'etcd') this.lastError = { revision: state.revision, version, at: new Date().toISOString(), errors };
      this.metrics.configApplied(false, this.holder.current?.meta.version ?? 0);
      this.logger.error({ revision: state.revision, version, source, errors }, 'config refused; still serving the last good config');
      return { ok: false, errors };
    }
    const next = made.runtime;
    this.holder.swap(next);
    // A delta is relative to the watcher's state before: only a runtime compiled from such a state can take it.
    this.served = source === 'etcd' ? { view: made.view, runtime: next } : null;
    this.lastApplyMs = Math.round((performance.now() - started) * 10) / 10;
    if (source === 'etcd') this.lastError = null;
    this.source = source;
    this.appliedAt = new Date().toISOString();
    this.metrics.configApplied(true, next.meta.version);
    this.logger.info({ version, revision: state.revision, routes: next.routeCount, source, resync: state.resync }, 'config applied');
    return { ok: true };
  }

  /** The runtime of `state`, or why it is refused: the work of apply that pauses (nothing here swaps). */
  private *prepare(state: CommittedState, source: ConfigSource): Sliced<Prepared> {
    const view = yield* LiveView.build(this.keys, state, source === 'etcd' && !this.alwaysWhole ? this.lastView : null);
    if (source === 'etcd') this.lastView = view;
    if (!view.valid) return { errors: (yield* view.issuesSliced()).map(formatIssue) };
    // Keys written straight into etcd change the config without a new version: then the hash
    // is computed here and differs from the version's, which is how /proxies tells.
    const hash = state.versionExact && state.version ? state.version.hash : yield* view.objects.hashSliced();
    const meta = { version: state.version?.version ?? 0, hash, revision: state.revision };
    const current = this.holder.current;
    const changes = yield* this.changesFromServed(state, current);
    const runtime =
      changes !== null && current !== null
        ? yield* updateRuntimeSliced(view.objects, changes, meta, current, this.compileOptions)
        : yield* compileRuntimeSliced(view.objects.config(), meta, current, this.compileOptions);
    return { view, runtime };
  }

  /** The objects `state` changed since the serving runtime's state; null when that is not known. */
  private *changesFromServed(state: CommittedState, current: Runtime | null): Sliced<ChangedObject[] | null> {
    const delta = state.delta;
    const served = this.served;
    if (this.alwaysWhole || !delta || served === null || served.runtime !== current || served.view.state.revision !== delta.base) return null;
    const changes: ChangedObject[] = [];
    for (const [key, value] of delta.changed) {
      const where = this.keys.parseObject(key);
      if (where) changes.push({ ...where, present: value !== null });
      yield;
    }
    return changes;
  }
}
