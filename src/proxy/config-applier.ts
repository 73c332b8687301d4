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
import type { Logger } from 'pino';
import type { ChangedObject } from '../config/validate-change.js';
import { formatIssue } from '../config/validate.js';
import type { CommittedState } from '../store/config-watcher.js';
import type { Keys } from '../store/keys.js';
import { LiveView } from '../store/live-view.js';
import type { ProxyMetrics } from './metrics.js';
import { compileRuntime, updateRuntime, type CompileOptions, type Runtime, type RuntimeHolder } from './runtime.js';

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

export type ApplyResult = { ok: true } | { ok: false; errors: string[] };

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

  constructor(
    private readonly keys: Keys,
    readonly holder: RuntimeHolder,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
    private readonly compileOptions: CompileOptions = {},
    /** Compile every state whole (the benchmarks compare the two ways). */
    private readonly alwaysWhole = false,
  ) {}

  /**
   * Serve `state` from now on, or refuse it whole. Only a refused live state sets lastError: a
   * fallback that does not apply either must not hide what is wrong in etcd.
   */
  apply(state: CommittedState, source: ConfigSource = 'etcd'): ApplyResult {
    const started = performance.now();
    const version = state.version?.version ?? null;
    const refuse = (errors: string[]): ApplyResult => {
      if (source === 'etcd') this.lastError = { revision: state.revision, version, at: new Date().toISOString(), errors };
      this.metrics.configApplied(false, this.holder.current?.meta.version ?? 0);
      this.logger.error({ revision: state.revision, version, source, errors }, 'config refused; still serving the last good config');
      return { ok: false, errors };
    };
    const view = LiveView.of(this.keys, state, source === 'etcd' && !this.alwaysWhole ? this.lastView : null);
    if (source === 'etcd') this.lastView = view;
    if (!view.valid) return refuse(view.issues().map(formatIssue));
    let next;
    try {
      // Keys written straight into etcd change the config without a new version: then the hash
      // is computed here and differs from the version's, which is how /proxies tells.
      const hash = state.versionExact && state.version ? state.version.hash : view.objects.hash();
      const meta = { version: version ?? 0, hash, revision: state.revision };
      const current = this.holder.current;
      const changes = this.changesFromServed(state, current);
      next =
        changes !== null && current !== null
          ? updateRuntime(view.objects, changes, meta, current, this.compileOptions)
          : compileRuntime(view.objects.config(), meta, current, this.compileOptions);
    } catch (err) {
      return refuse([`compile: ${(err as Error).message}`]);
    }
    this.holder.swap(next);
    // A delta is relative to the watcher's state before: only a runtime compiled from such a state can take it.
    this.served = source === 'etcd' ? { view, runtime: next } : null;
    this.lastApplyMs = Math.round((performance.now() - started) * 10) / 10;
    if (source === 'etcd') this.lastError = null;
    this.source = source;
    this.appliedAt = new Date().toISOString();
    this.metrics.configApplied(true, next.meta.version);
    this.logger.info({ version, revision: state.revision, routes: next.routeCount, source, resync: state.resync }, 'config applied');
    return { ok: true };
  }

  /** The objects `state` changed since the serving runtime's state; null when that is not known. */
  private changesFromServed(state: CommittedState, current: Runtime | null): ChangedObject[] | null {
    const delta = state.delta;
    const served = this.served;
    if (this.alwaysWhole || !delta || served === null || served.runtime !== current || served.view.state.revision !== delta.base) return null;
    const changes: ChangedObject[] = [];
    for (const [key, value] of delta.changed) {
      const where = this.keys.parseObject(key);
      if (where) changes.push({ ...where, present: value !== null });
    }
    return changes;
  }
}
