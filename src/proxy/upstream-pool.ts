// One upstream: its targets, a keep-alive undici Pool per target, the balancer and passive
// health.
//
// Passive health: a target that fails a request (Exchange decides what counts) is taken out of
// rotation for ejectMs, as nginx's max_fails=1 fail_timeout=10s, within two bounds: the last
// target in rotation is never taken out (nginx ignores max_fails for a single server), and at
// most maxEjectionPercent of the targets are out at once, rounded down but at least one (Envoy's
// max_ejection_percent; 0 turns passive ejection off). Runtimes share an UpstreamPool while its definition is unchanged, so a config change
// keeps warm connections and ejection state; it closes when the last runtime holding it lets go.
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';
import { stableStringify } from '../config/canonical.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_EJECTION_PERCENT,
  DEFAULT_READ_TIMEOUT_MS,
  DEFAULT_WEIGHT,
  type Upstream,
} from '../config/schema.js';
import { Balancer } from './balancer.js';

/** nginx's max_fails=1 fail_timeout=10s: one failure takes a target out for 10 s. */
export const EJECT_MS = 10_000;

export interface UpstreamTarget {
  readonly index: number;
  /** As configured. */
  readonly url: string;
  /** Normalized origin, e.g. "http://10.0.0.5:8080". */
  readonly origin: string;
  readonly weight: number;
}

export interface UpstreamPoolOptions {
  /** How long a failed target stays out of rotation, ms. */
  ejectMs?: number;
  /** Monotonic clock in ms (tests inject one). */
  now?: () => number;
}

const monotonic = (): number => performance.now();

export class UpstreamPool {
  readonly id: string;
  /** stableStringify of the definition: equal keys mean a runtime may reuse this pool. */
  readonly key: string;
  readonly targets: readonly UpstreamTarget[];
  readonly connectTimeoutMs: number;
  readonly readTimeoutMs: number;
  /** HTTP/2 to the targets (`http2: true`). */
  readonly http2: boolean;
  private readonly balancer: Balancer;
  // Created on first use: compiling a config with many upstreams costs no sockets or timers.
  private readonly dispatchers: (Pool | null)[];
  /** HTTP/1.1 pools of an http2 upstream, for upgrades only (see dispatcher()). */
  private readonly upgradeDispatchers: (Pool | null)[];
  readonly ejectMs: number;
  /** Targets that may be out of rotation at once. */
  readonly maxEjected: number;
  private readonly now: () => number;
  private refs = 0;
  private closing: Promise<void> | null = null;

  constructor(def: Upstream, opts: UpstreamPoolOptions = {}) {
    this.id = def.id;
    this.key = stableStringify(def);
    this.targets = def.targets.map((t, index) => ({
      index,
      url: t.url,
      origin: new URL(t.url).origin,
      weight: t.weight ?? DEFAULT_WEIGHT,
    }));
    this.connectTimeoutMs = def.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.readTimeoutMs = def.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    this.http2 = def.http2 === true;
    this.balancer = new Balancer(this.targets.map((t) => t.weight));
    this.dispatchers = this.targets.map(() => null);
    this.upgradeDispatchers = this.targets.map(() => null);
    this.ejectMs = opts.ejectMs ?? EJECT_MS;
    const percent = def.maxEjectionPercent ?? DEFAULT_MAX_EJECTION_PERCENT;
    this.maxEjected = percent === 0 ? 0 : Math.max(1, Math.floor((this.targets.length * percent) / 100));
    this.now = opts.now ?? monotonic;
  }

  /**
   * Index of the target for the next request, or -1 when there is none to pick: no targets, or
   * all in `skip`. When every target is out of rotation, all are candidates again (panic).
   */
  pick(skip: readonly number[] | null = null): number {
    if (this.targets.length === 0) return -1;
    return this.balancer.pick(this.now(), skip);
  }

  /** Targets currently in rotation. */
  available(): number {
    return this.balancer.available(this.now());
  }

  isEjected(index: number): boolean {
    return this.balancer.isEjected(index, this.now());
  }

  /**
   * A target failed a request: take it out of rotation unless that would break a bound above.
   * A target already out (picked in panic) stays out longer. True when it was taken out now.
   */
  reportFailure(index: number): boolean {
    const now = this.now();
    const b = this.balancer;
    if (b.isEjected(index, now)) {
      b.eject(index, now + this.ejectMs);
      return false;
    }
    const inRotation = b.available(now);
    if (inRotation <= 1 || this.targets.length - inRotation >= this.maxEjected) return false;
    b.eject(index, now + this.ejectMs);
    return true;
  }

  /**
   * The keep-alive pool of one target. `upgrade`: for an Upgrade (WebSocket) request, which needs
   * HTTP/1.1 (undici tunnels only WebSocket over HTTP/2, as RFC 8441 CONNECT, which few servers
   * take): an http2 upstream gets a second, HTTP/1.1 pool per target for those.
   */
  dispatcher(index: number, upgrade = false): Dispatcher {
    const list = upgrade && this.http2 ? this.upgradeDispatchers : this.dispatchers;
    let pool = list[index];
    if (pool == null) {
      if (this.closing !== null) throw new Error(`upstream "${this.id}" is closed`);
      pool = new Pool(this.targets[index]!.origin, poolOptions(this, list === this.dispatchers && this.http2, this.targets[index]!.origin));
      list[index] = pool;
    }
    return pool;
  }

  /** Runtimes holding this pool. */
  get refCount(): number {
    return this.refs;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  retain(): void {
    if (this.closing !== null) throw new Error(`upstream "${this.id}" is closed`);
    this.refs++;
  }

  /** Drop one runtime's hold; the last one closes the pool. */
  release(): Promise<void> {
    if (this.refs > 0) this.refs--;
    if (this.refs === 0) return this.close();
    return Promise.resolve();
  }

  /** Graceful: requests already dispatched finish, then every socket closes. */
  close(): Promise<void> {
    if (this.closing === null) {
      const closes: Promise<void>[] = [];
      for (const p of this.dispatchers) if (p !== null) closes.push(p.close());
      for (const p of this.upgradeDispatchers) if (p !== null) closes.push(p.close());
      this.closing = Promise.all(closes).then(() => undefined);
    }
    return this.closing;
  }

  /** Abrupt: fail in-flight requests and destroy sockets now (shutdown after a grace period). */
  async destroy(): Promise<void> {
    const closing = this.close();
    const pools = [...this.dispatchers, ...this.upgradeDispatchers];
    await Promise.all(pools.map((p) => (p !== null && !p.destroyed ? p.destroy() : undefined)));
    await closing.catch(() => undefined);
  }
}

/**
 * The undici Pool options of a target. `http2` over TLS: ALPN offers h2 (and http/1.1, which a
 * target may still pick). `http2` on a plain http:// target: HTTP/2 with prior knowledge (h2c),
 * as gRPC services inside a cluster mostly speak; every connection is then HTTP/2, so requests
 * without a body share one (undici gives a request with a body, and every gRPC call is one, a
 * connection of its own while it runs).
 */
function poolOptions(pool: UpstreamPool, http2: boolean, origin: string): Pool.Options {
  const opts: Pool.Options = {
    connect: { timeout: pool.connectTimeoutMs },
    // readTimeoutMs bounds the wait for response headers and each later gap between body
    // chunks, like nginx's proxy_read_timeout.
    headersTimeout: pool.readTimeoutMs,
    bodyTimeout: pool.readTimeoutMs,
  };
  if (!http2) return opts;
  if (origin.startsWith('https:')) return { ...opts, allowH2: true };
  // undici's own h2c switch (what its H2CClient sets); the Pool builds the connector from this.
  const h2c = { useH2c: true } as Record<string, unknown>;
  return { ...opts, allowH2: true, pipelining: H2C_STREAMS, connect: { timeout: pool.connectTimeoutMs, ...h2c } };
}

/** Requests in flight on one h2c connection (undici's H2CClient default). */
const H2C_STREAMS = 100;
