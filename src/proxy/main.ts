// The proxy process: read the committed config, compile, listen, then watch and hot-swap.
// A revision that does not validate or compile is refused whole; the last good runtime serves on.
import type { Logger } from 'pino';
import { configHash } from '../config/canonical.js';
import { formatIssue } from '../config/validate.js';
import { createEtcdClient } from '../store/client.js';
import { ConfigWatcher, type CommittedState } from '../store/config-watcher.js';
import { DecodeCache } from '../store/decode.js';
import { Keys } from '../store/keys.js';
import { ProxyRegistry } from '../store/proxy-registry.js';
import type { HostPort } from '../net.js';
import { startAdminServer } from './admin.js';
import { ConfigCache } from './config-cache.js';
import type { TrustedProxies } from './forwarded.js';
import { createProxyHandler } from './handler.js';
import { startListeners, type Listeners } from './listeners.js';
import { ProxyMetrics } from './metrics.js';
import { RuntimeHolder, compileRuntime } from './runtime.js';

export interface ProxyOptions {
  id: string;
  etcd: string[];
  prefix: string;
  listen: HostPort;
  tlsListen?: HostPort;
  adminListen: HostPort;
  /** Keep the last good config here and start from it when etcd does not answer at start. */
  cacheDir?: string;
  /** Peers whose X-Forwarded-* headers are kept; default none. */
  trustedProxies?: TrustedProxies;
  logger: Logger;
}

/** How long a starting proxy with a cache waits for etcd before it serves the cached config. */
export const CACHE_GRACE_MS = 2_000;

export interface ConfigError {
  revision: number;
  version: number | null;
  at: string;
  errors: string[];
}

export interface ProxyStatus {
  id: string;
  version: number | null;
  hash: string | null;
  revision: number;
  etcd: 'connected' | 'disconnected';
  routes: number;
  ready: boolean;
  lastError: ConfigError | null;
  /** Full re-reads after the watch could not resume (e.g. its revision was compacted). */
  resyncs: number;
  /** Where the served config came from: etcd, or the on-disk cache while etcd has not answered. */
  configSource: 'etcd' | 'cache' | null;
  startedAt: string;
  appliedAt: string | null;
  listen: { http?: string; https?: string; admin: string };
}

export interface RunningProxy {
  status(): ProxyStatus;
  urls: ProxyStatus['listen'];
  close(): Promise<void>;
}

export async function startProxy(opts: ProxyOptions): Promise<RunningProxy> {
  const { logger } = opts;
  const keys = new Keys(opts.prefix);
  const client = createEtcdClient(opts.etcd);
  const holder = new RuntimeHolder();
  const metrics = new ProxyMetrics();
  const registry = new ProxyRegistry(client, keys, opts.id);
  const watcher = new ConfigWatcher(client, keys, logger);
  const decodeCache = new DecodeCache();
  const diskCache = opts.cacheDir ? new ConfigCache(opts.cacheDir, keys.root, logger) : null;
  let configSource: ProxyStatus['configSource'] = null;
  let listeners: Listeners | null = null;
  let lastError: ConfigError | null = null;
  let appliedAt: string | null = null;
  let resyncs = 0;
  const startedAt = new Date().toISOString();
  const urls: ProxyStatus['listen'] = { admin: '' };

  const status = (): ProxyStatus => {
    const meta = holder.current?.meta;
    return {
      id: opts.id,
      version: meta ? meta.version : null,
      hash: meta ? meta.hash : null,
      revision: meta ? meta.revision : 0,
      etcd: watcher.connected ? 'connected' : 'disconnected',
      routes: holder.current?.routeCount ?? 0,
      ready: ready(),
      lastError,
      resyncs,
      configSource,
      startedAt,
      appliedAt,
      listen: urls,
    };
  };
  const ready = () => listeners !== null && holder.current !== null;

  const admin = await startAdminServer(opts.adminListen, { status, ready, metrics });
  urls.admin = admin.url;

  /** Decode, validate, compile and swap; false (and lastError set) when the state is refused. */
  function apply(state: CommittedState): boolean {
    const version = state.version?.version ?? null;
    const refuse = (errors: string[]) => {
      lastError = { revision: state.revision, version, at: new Date().toISOString(), errors };
      metrics.configApplied(false, holder.current?.meta.version ?? 0);
      logger.error({ revision: state.revision, version, errors }, 'config refused; still serving the last good config');
    };
    const decoded = decodeCache.decode(keys, state.entries);
    if (!decoded.ok) {
      refuse(decoded.issues.map(formatIssue));
      return false;
    }
    let next;
    try {
      // Keys written straight into etcd change the config without a new version: then the hash
      // is computed here and differs from the version's, which is how /proxies tells.
      const hash = state.versionExact && state.version ? state.version.hash : configHash(decoded.config);
      const meta = { version: version ?? 0, hash, revision: state.revision };
      next = compileRuntime(decoded.config, meta, holder.current);
    } catch (err) {
      refuse([`compile: ${(err as Error).message}`]);
      return false;
    }
    holder.swap(next);
    lastError = null;
    appliedAt = new Date().toISOString();
    metrics.configApplied(true, next.meta.version);
    logger.info({ version, revision: state.revision, routes: next.routeCount, resync: state.resync }, 'config applied');
    return true;
  }

  watcher.on('state', (state: CommittedState) => {
    if (state.resync) resyncs++;
    if (apply(state)) {
      configSource = 'etcd';
      diskCache?.save(state);
    }
    registry.report(status());
  });
  watcher.on('connected', () => registry.report(status()));
  watcher.on('disconnected', () => logger.warn('etcd disconnected; serving from memory'));

  /** The first state from etcd; with a cache, the cached config if etcd has not answered in time. */
  async function firstConfig(): Promise<void> {
    const fromEtcd = watcher.start();
    if (!diskCache) return fromEtcd;
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      fromEtcd.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), CACHE_GRACE_MS))),
    ]);
    clearTimeout(timer);
    if (!late || holder.current !== null) return;
    const cached = await diskCache.load();
    if (cached && holder.current === null && apply(cached)) {
      configSource = 'cache';
      logger.warn({ version: cached.version?.version ?? null, revision: cached.revision }, 'etcd has not answered; serving the cached config until it does');
      return;
    }
    return fromEtcd;
  }

  await firstConfig();
  listeners = await startListeners(createProxyHandler(holder, { logger, metrics, trustedProxies: opts.trustedProxies }), holder, {
    http: opts.listen,
    https: opts.tlsListen,
  });
  Object.assign(urls, listeners.urls);
  logger.info({ id: opts.id, ...urls }, 'proxy listening');
  registry.report(status());

  return {
    status,
    urls,
    async close() {
      await watcher.stop();
      await diskCache?.flushed();
      await listeners?.close();
      await holder.close();
      await registry.stop();
      await admin.close();
      client.close();
    },
  };
}
