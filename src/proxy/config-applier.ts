// One committed state → the runtime that serves it: decode, validate, compile, swap. A state that
// fails any step is refused whole and the last good runtime serves on. No etcd here: the proxy
// feeds it states from the watcher, from history or from its disk cache.
import type { Logger } from 'pino';
import { configHash } from '../config/canonical.js';
import { formatIssue } from '../config/validate.js';
import type { CommittedState } from '../store/config-watcher.js';
import { DecodeCache } from '../store/decode.js';
import type { Keys } from '../store/keys.js';
import type { ProxyMetrics } from './metrics.js';
import { compileRuntime, type CompileOptions, type RuntimeHolder } from './runtime.js';

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
  private readonly decodeCache = new DecodeCache();

  constructor(
    private readonly keys: Keys,
    readonly holder: RuntimeHolder,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
    private readonly compileOptions: CompileOptions = {},
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
    const decoded = this.decodeCache.decode(this.keys, state.entries);
    if (!decoded.ok) return refuse(decoded.issues.map(formatIssue));
    let next;
    try {
      // Keys written straight into etcd change the config without a new version: then the hash
      // is computed here and differs from the version's, which is how /proxies tells.
      const hash = state.versionExact && state.version ? state.version.hash : configHash(decoded.config);
      next = compileRuntime(decoded.config, { version: version ?? 0, hash, revision: state.revision }, this.holder.current, this.compileOptions);
    } catch (err) {
      return refuse([`compile: ${(err as Error).message}`]);
    }
    this.holder.swap(next);
    this.lastApplyMs = Math.round((performance.now() - started) * 10) / 10;
    if (source === 'etcd') this.lastError = null;
    this.source = source;
    this.appliedAt = new Date().toISOString();
    this.metrics.configApplied(true, next.meta.version);
    this.logger.info({ version, revision: state.revision, routes: next.routeCount, source, resync: state.resync }, 'config applied');
    return { ok: true };
  }
}
