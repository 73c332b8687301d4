// The proxy process: read the committed config, compile, listen, then watch and hot-swap; on
// close, drain. Turning a state into a runtime is ConfigApplier's job; this class owns the parts
// with a lifecycle (etcd client, watcher, registry, listeners, admin port) and their order.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { createEtcdClient } from '../store/client.js';
import type { EtcdAccess } from '../store/etcd-access.js';
import { ConfigWatcher, type CommittedState } from '../store/config-watcher.js';
import { Keys } from '../store/keys.js';
import { errorMessage } from '../util/errors.js';
import { ProxyRegistry } from '../store/proxy-registry.js';
import type { HostPort } from '../net.js';
import { AccessLog, type AccessLogMode } from './access-log.js';
import { startAdminServer, type AdminSources } from './admin.js';
import { ApplyLog, type RecentApply } from './apply-log.js';
import { ConfigApplier, type ConfigError, type ConfigSource } from './config-applier.js';
import { ConfigCache } from './config-cache.js';
import { CACHE_GRACE_MS, DEFAULT_DRAIN_TIMEOUT_MS, HEALTH_REPORT_DELAY_MS } from './defaults.js';
import type { TrustedProxies } from './forwarded.js';
import { createProxyHandler } from './handler.js';
import { committedVersions } from './history-fallback.js';
import { startListeners, type Listeners } from './listeners.js';
import { ProxyMetrics } from './metrics.js';
import type { ConfigFeed } from './relayed-watch.js';
import { RuntimeHolder } from './runtime.js';
import type { SpanExport } from './span-export.js';
import { TargetRegistry } from './target-registry.js';
import { unhealthyTargets, upstreamMetricsText, upstreamStatus, type UnhealthyTargets, type UpstreamStatus } from './upstream-status.js';
import { createUpgradeHandler } from './upgrade.js';
import type { PrimaryLink } from './worker-ipc.js';

export interface ProxyOptions {
  id: string;
  etcd: string[];
  /** TLS and user for a secured etcd. */
  etcdAccess?: EtcdAccess;
  prefix: string;
  listen: HostPort;
  tlsListen?: HostPort;
  /** Without it the proxy is a worker of a pool: `primary` is then required. */
  adminListen?: HostPort;
  /** A worker of a pool (--workers N): its status goes to the primary, which answers the admin port. */
  primary?: PrimaryLink;
  /** Keep the last good config here and start from it when etcd does not answer at start. */
  cacheDir?: string;
  /** On close: how long requests in flight may finish before they are cut (default 30 s). */
  drainTimeoutMs?: number;
  /** Peers whose X-Forwarded-* headers are kept; default none. */
  trustedProxies?: TrustedProxies;
  /** Which finished requests are written (default off), and where (default stdout). */
  accessLog?: { mode: AccessLogMode; file?: string };
  /** Where the spans of sampled requests go (span-export.ts; loaded by the caller only then). */
  spans?: SpanExport;
  /** The share of requests without a trace that start a sampled one; default 0. */
  traceSample?: number;
  logger: Logger;
}


export type { ConfigError, ConfigSource };

/** The proxy's entry in etcd (the fleet view): compact. */
export interface ProxyStatus extends UnhealthyTargets {
  id: string;
  pid: number;
  version: number | null;
  hash: string | null;
  revision: number;
  etcd: 'connected' | 'disconnected';
  routes: number;
  ready: boolean;
  /** Stopping: no new connections, requests in flight finishing. */
  draining: boolean;
  lastError: ConfigError | null;
  /** Full re-reads after the watch could not resume (e.g. its revision was compacted). */
  resyncs: number;
  configSource: ConfigSource | null;
  startedAt: string;
  appliedAt: string | null;
  /** The last successful apply: decode, validate, compile and swap, in ms. */
  lastApplyMs: number | null;
  /** Commit → applied of the version served, in ms (null: read at start, not propagated). */
  propagationMs: number | null;
  /** The last versions applied from etcd, newest first (at most RECENT_APPLIES). */
  recentApplies: RecentApply[];
  listen: { http?: string; https?: string; admin: string };
}

/** GET /status: the entry in etcd, every target's state, and the requests answered so far. */
export interface ProxyAdminStatus extends ProxyStatus {
  upstreams: UpstreamStatus[];
  requests: number;
}

export class ProxyServer {
  readonly urls: ProxyStatus['listen'] = { admin: '' };
  private readonly keys: Keys;
  private readonly client: Etcd3;
  private readonly holder = new RuntimeHolder();
  private readonly metrics = new ProxyMetrics();
  private readonly targets: TargetRegistry;
  private readonly registry: Pick<ProxyRegistry, 'report' | 'stop'>;
  private readonly watcher: ConfigFeed;
  private readonly applier: ConfigApplier;
  private readonly applies: ApplyLog;
  /** The watcher's first state is the read at start; later ones were committed while we watched. */
  private watching = false;
  private readonly logger: Logger;
  private readonly accessLog: AccessLog | null;
  private readonly startedAt = new Date().toISOString();
  private listeners: Listeners | null = null;
  private admin: { close(): Promise<void> } | null = null;
  private resyncs = 0;
  private healthReport: NodeJS.Timeout | null = null;
  private draining = false;
  private closing: Promise<void> | null = null;
  /** Looking for a committed version to serve because the live state was refused at start. */
  private fallback: Promise<void> | null = null;
  /** The apply of the watcher's first state, done (with what it reports) or not. */
  private firstApplied: Promise<void> | null = null;

  /** Open the cache (refusing an insecure one before anything listens), then start. */
  static async start(opts: ProxyOptions): Promise<ProxyServer> {
    const cache = opts.cacheDir ? await ConfigCache.open(opts.cacheDir, new Keys(opts.prefix).root, opts.logger) : null;
    const proxy = new ProxyServer(opts, cache);
    try {
      await proxy.run();
    } catch (err) {
      await proxy.close();
      throw err;
    }
    return proxy;
  }

  private constructor(
    private readonly opts: ProxyOptions,
    private readonly diskCache: ConfigCache | null,
  ) {
    this.logger = opts.logger;
    const log = opts.accessLog;
    this.accessLog = log === undefined || log.mode.kind === 'off' ? null : new AccessLog(log.mode, log.file);
    this.keys = new Keys(opts.prefix);
    this.client = createEtcdClient(opts.etcd, opts.etcdAccess);
    this.registry = opts.primary ?? new ProxyRegistry(this.client, this.keys, opts.id, this.logger);
    // A worker follows its primary's watch: one per proxy, not per worker (relayed-watch.ts).
    this.watcher = opts.primary?.config ?? new ConfigWatcher(this.client, this.keys, this.logger);
    this.targets = new TargetRegistry({ logger: this.logger, relay: opts.primary });
    this.targets.watch(() => this.reportHealthSoon());
    this.applier = new ConfigApplier(this.keys, this.holder, this.metrics, this.logger, { targets: this.targets });
    this.metrics.addSource(() => upstreamMetricsText(this.holder.current));
    this.applies = new ApplyLog((seconds) => this.metrics.configPropagated(seconds), this.logger);
  }

  status(): ProxyAdminStatus {
    return { ...this.fleetStatus(), upstreams: upstreamStatus(this.holder.current), requests: this.metrics.requestCount() };
  }

  private fleetStatus(): ProxyStatus {
    const meta = this.holder.current?.meta;
    return {
      id: this.opts.id,
      pid: process.pid,
      version: meta ? meta.version : null,
      hash: meta ? meta.hash : null,
      revision: meta ? meta.revision : 0,
      etcd: this.watcher.connected ? 'connected' : 'disconnected',
      routes: this.holder.current?.routeCount ?? 0,
      ready: this.ready(),
      draining: this.draining,
      lastError: this.applier.lastError,
      resyncs: this.resyncs,
      configSource: this.applier.source,
      startedAt: this.startedAt,
      appliedAt: this.applier.appliedAt,
      lastApplyMs: this.applier.lastApplyMs,
      propagationMs: this.applies.propagationMs,
      recentApplies: this.applies.recent,
      listen: this.urls,
      ...unhealthyTargets(this.holder.current),
    };
  }

  private ready(): boolean {
    return !this.draining && this.listeners !== null && this.holder.current !== null;
  }

  private report(): void {
    this.registry.report(this.fleetStatus());
  }

  /** A target changed health: the fleet view hears of it, coalesced with other changes. */
  private reportHealthSoon(): void {
    if (this.healthReport !== null || this.draining) return;
    this.healthReport = setTimeout(() => {
      this.healthReport = null;
      this.report();
    }, HEALTH_REPORT_DELAY_MS);
    this.healthReport.unref();
  }

  private async run(): Promise<void> {
    const sources: AdminSources = {
      status: () => this.status(),
      ready: () => this.ready(),
      metrics: () => this.metrics.text(),
      metricsContentType: this.metrics.contentType,
      traffic: (top) => this.metrics.traffic.summary(top),
    };
    if (this.opts.adminListen) {
      const admin = await startAdminServer(this.opts.adminListen, sources);
      this.admin = admin;
      this.urls.admin = admin.url;
    }
    this.opts.primary?.serve(sources);

    this.watcher.on('state', (state) => this.onState(state));
    this.watcher.on('connected', () => this.report());
    this.watcher.on('disconnected', () => this.logger.warn('etcd disconnected; serving from memory'));

    await this.firstConfig();
    const { trustedProxies, spans, traceSample } = this.opts;
    const handling = { logger: this.logger, metrics: this.metrics, trustedProxies, accessLog: this.accessLog, spans, traceSample };
    this.listeners = await startListeners(
      createProxyHandler(this.holder, handling),
      this.holder,
      { http: this.opts.listen, https: this.opts.tlsListen },
      createUpgradeHandler(this.holder, handling),
    );
    Object.assign(this.urls, this.listeners.urls);
    this.logger.info({ id: this.opts.id, ...this.urls }, 'proxy listening');
    this.report();
  }

  /** A state from the watcher. Applied in slices (ConfigApplier): the old runtime serves meanwhile. */
  private onState(state: CommittedState): void {
    if (state.resync) this.resyncs++;
    const watching = this.watching;
    this.watching = true;
    const applied = this.applier.apply(state).then((result) => {
      // A newer state took its place: its own result reports.
      if (!result.ok && result.superseded) return;
      if (result.ok) {
        this.diskCache?.save(state);
        this.applies.applied(state.version, this.applier.appliedAt!, watching);
      } else if (this.holder.current === null) this.fallback ??= this.serveLastValid(state).finally(() => (this.fallback = null));
      this.report();
    });
    // The first state is part of start: start waits for its apply (and fallback).
    this.firstApplied ??= applied;
  }

  /**
   * The live state was refused and nothing serves yet: serve the newest committed version that
   * applies (history, else the disk cache), and keep watching; lastError keeps naming what is
   * wrong in etcd. A valid live state arriving meanwhile wins.
   */
  private async serveLastValid(live: CommittedState): Promise<void> {
    const served = (state: CommittedState) => {
      this.logger.warn(
        { version: state.version?.version ?? null, source: this.applier.source, refusedRevision: live.revision },
        'the live config does not validate; serving the newest good config until a valid one is committed',
      );
      this.report();
    };
    try {
      for await (const candidate of committedVersions(this.client, this.keys, live)) {
        if (this.holder.current !== null || this.draining) return;
        const result = await this.applier.apply(candidate, 'history');
        if (result.ok) {
          this.diskCache?.save(candidate);
          return served(candidate);
        }
        // A live state came meanwhile: it decides.
        if (result.superseded) return;
      }
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'reading the config history failed');
    }
    const cached = this.holder.current === null ? await this.diskCache?.load() : null;
    if (cached && this.holder.current === null && !this.draining && (await this.applier.apply(cached, 'cache')).ok) served(cached);
  }

  /** The first state from etcd; with a cache, the cached config if etcd has not answered in time. */
  private async firstConfig(): Promise<void> {
    // The fallback, if the first state was refused, is part of the first config.
    const fromEtcd = this.watcher.start().then(async () => {
      await this.firstApplied;
      await this.fallback;
    });
    if (!this.diskCache) return fromEtcd;
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      fromEtcd.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), CACHE_GRACE_MS))),
    ]);
    clearTimeout(timer);
    if (!late || this.holder.current !== null) return;
    const cached = await this.diskCache.load();
    if (cached && this.holder.current === null && (await this.applier.apply(cached, 'cache')).ok) {
      this.logger.warn({ version: cached.version?.version ?? null, revision: cached.revision }, 'etcd has not answered; serving the cached config until it does');
      return;
    }
    return fromEtcd;
  }

  /**
   * Drain, then stop: /readyz turns 503 and the listeners stop accepting at once, idle keep-alive
   * connections close, the watcher stops applying, requests in flight finish (up to the drain
   * timeout, then they are cut), and the registry entry goes last.
   */
  close(): Promise<void> {
    this.closing ??= this.drainAndStop();
    return this.closing;
  }

  private async drainAndStop(): Promise<void> {
    this.draining = true;
    if (this.healthReport !== null) clearTimeout(this.healthReport);
    this.healthReport = null;
    const timeoutMs = this.opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    // Synchronously with the readiness flip: from here on a new connection is refused.
    const drained = this.listeners?.close(timeoutMs);
    this.report();
    await this.watcher.stop();
    await this.applier.stop();
    if (drained) {
      this.logger.info({ timeoutMs }, 'draining: no new connections; waiting for requests in flight');
      const { cut } = await drained;
      if (cut) this.logger.warn({ timeoutMs }, 'drain timeout reached; requests still in flight were cut');
    }
    await this.diskCache?.flushed();
    await this.holder.close();
    await this.registry.stop();
    await this.admin?.close();
    this.metrics.close();
    this.accessLog?.close();
    await this.opts.spans?.close();
    this.client.close();
  }
}

export function startProxy(opts: ProxyOptions): Promise<ProxyServer> {
  return ProxyServer.start(opts);
}
