// One upstream: its targets, a keep-alive undici Pool per target, the balancer and passive
// health. Runtimes share an UpstreamPool while its definition is unchanged, so a config change
// keeps warm connections and ejection state; it closes when the last runtime holding it lets go.
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';
import { stableStringify } from '../config/canonical.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_READ_TIMEOUT_MS,
  DEFAULT_WEIGHT,
  type Upstream,
} from '../config/schema.js';
import { Balancer } from './balancer.js';

/** nginx's max_fails=1 fail_timeout=10s: one failed connect takes a target out for 10 s. */
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
  /** Eject time after a failed connect, ms. */
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
  private readonly balancer: Balancer;
  // Created on first use: compiling a config with many upstreams costs no sockets or timers.
  private readonly dispatchers: (Pool | null)[];
  private readonly ejectMs: number;
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
    this.balancer = new Balancer(this.targets.map((t) => t.weight));
    this.dispatchers = this.targets.map(() => null);
    this.ejectMs = opts.ejectMs ?? EJECT_MS;
    this.now = opts.now ?? monotonic;
  }

  /** Index of the target for the next request, or -1: none configured or all ejected. */
  pick(): number {
    if (this.targets.length === 0) return -1;
    return this.balancer.pick(this.now());
  }

  /** Targets currently in rotation. */
  available(): number {
    return this.balancer.available(this.now());
  }

  isEjected(index: number): boolean {
    return this.balancer.isEjected(index, this.now());
  }

  /** A connect to this target was refused, reset or timed out: take it out of rotation. */
  reportConnectFailure(index: number): void {
    this.balancer.eject(index, this.now() + this.ejectMs);
  }

  /** The keep-alive pool of one target. */
  dispatcher(index: number): Dispatcher {
    let pool = this.dispatchers[index];
    if (pool == null) {
      if (this.closing !== null) throw new Error(`upstream "${this.id}" is closed`);
      pool = new Pool(this.targets[index]!.origin, {
        connect: { timeout: this.connectTimeoutMs },
        // readTimeoutMs bounds the wait for response headers and each later gap between body
        // chunks, like nginx's proxy_read_timeout.
        headersTimeout: this.readTimeoutMs,
        bodyTimeout: this.readTimeoutMs,
      });
      this.dispatchers[index] = pool;
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
      this.closing = Promise.all(closes).then(() => undefined);
    }
    return this.closing;
  }

  /** Abrupt: fail in-flight requests and destroy sockets now (shutdown after a grace period). */
  async destroy(): Promise<void> {
    const closing = this.close();
    await Promise.all(this.dispatchers.map((p) => (p !== null && !p.destroyed ? p.destroy() : undefined)));
    await closing.catch(() => undefined);
  }
}
