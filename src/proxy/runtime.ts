// The compiled, immutable form of one config version, and the holder that swaps it.
//
// compileRuntime is pure apart from reusing stateful objects of the previous runtime whose
// definitions are byte-identical (stableStringify): upstream pools (balancer position), policy
// instances (rate-limit buckets), TLS contexts and the consumers (passwords checked); and from the TargetRegistry, where a changed
// upstream finds the targets it kept with their connections and health (target-registry.ts).
//
// Lifetimes: a request reads `holder.current` once and acquires that runtime; `swap` is one
// reference assignment. The previous runtime is retired: once its last request ends it lets go
// of its upstream pools. A pool is counted across runtimes (one hold per active or retiring
// runtime) and closes only when no runtime holds it, so an unchanged upstream never closes
// across a swap, and a removed one closes after its last in-flight request.
import type { IncomingHttpHeaders } from 'node:http';
import { createSecureContext, type SecureContext } from 'node:tls';
import { stableStringify } from '../config/canonical.js';
import { globalPolicyIds, type Config } from '../config/schema.js';
import { CompiledConsumers, createPolicy, type ConsumerIndex, type PolicyInstance } from './policies/index.js';
import { compileRoute, type CompiledRoute } from './route-compile.js';
import { compileRouter, type Router } from './router.js';
import { TargetRegistry } from './target-registry.js';
import { UpstreamPool, upstreamKey, type UpstreamPoolOptions } from './upstream-pool.js';

export type { CompiledRoute } from './route-compile.js';

export interface RuntimeMeta {
  readonly version: number;
  readonly hash: string;
  /** etcd revision the config was read at. */
  readonly revision: number;
}

interface Keyed<T> {
  readonly key: string;
  readonly value: T;
}

export interface CompileOptions {
  /** Passed to every new UpstreamPool (tests shorten ejection or inject a clock). */
  upstream?: Pick<UpstreamPoolOptions, 'ejectMs' | 'now'>;
  /** Where targets are shared; default: the previous runtime's, else a new one. */
  targets?: TargetRegistry;
}

type State = 'compiled' | 'active' | 'retired' | 'released';

export class Runtime {
  readonly meta: RuntimeMeta;
  readonly routeCount: number;
  readonly upstreams: ReadonlyMap<string, UpstreamPool>;
  /** The targets its upstreams share with other runtimes of this proxy. */
  readonly targets: TargetRegistry;
  /** Who a request can be, for the auth policies. */
  readonly consumers: ConsumerIndex;
  private readonly consumersKeyed: Keyed<CompiledConsumers>;
  /** Resolves once this runtime was retired, its last request ended and its pools let go. */
  readonly released: Promise<void>;
  private readonly router: Router<CompiledRoute>;
  private readonly policyById: ReadonlyMap<string, Keyed<PolicyInstance>>;
  private readonly certById: ReadonlyMap<string, Keyed<SecureContext>>;
  private readonly sniExact: ReadonlyMap<string, SecureContext>;
  /** "*.example.com" keyed as ".example.com". */
  private readonly sniWildcard: ReadonlyMap<string, SecureContext>;
  private readonly defaultContext: SecureContext | null;
  private inflight = 0;
  private state: State = 'compiled';
  private resolveReleased!: () => void;

  /** @internal use compileRuntime */
  constructor(parts: {
    meta: RuntimeMeta;
    routes: CompiledRoute[];
    upstreams: Map<string, UpstreamPool>;
    targets: TargetRegistry;
    policies: Map<string, Keyed<PolicyInstance>>;
    certs: Map<string, Keyed<SecureContext>>;
    sniExact: Map<string, SecureContext>;
    sniWildcard: Map<string, SecureContext>;
    defaultContext: SecureContext | null;
    consumers: Keyed<CompiledConsumers>;
  }) {
    this.meta = Object.freeze({ ...parts.meta });
    this.routeCount = parts.routes.length;
    this.router = compileRouter(parts.routes);
    this.upstreams = parts.upstreams;
    this.targets = parts.targets;
    this.policyById = parts.policies;
    this.certById = parts.certs;
    this.sniExact = parts.sniExact;
    this.sniWildcard = parts.sniWildcard;
    this.defaultContext = parts.defaultContext;
    this.consumersKeyed = parts.consumers;
    this.consumers = parts.consumers.value;
    this.released = new Promise((resolve) => (this.resolveReleased = resolve));
  }

  match(host: string | undefined, method: string, path: string, headers: IncomingHttpHeaders): CompiledRoute | null {
    return this.router.match(host, method, path, headers);
  }

  /**
   * TLS context for an SNI name: exact name, then a "*.domain" certificate covering one label,
   * then the first certificate by id as a default (the client then judges the name mismatch).
   * null when the config has no certificates.
   */
  secureContext(servername: string | undefined): SecureContext | null {
    if (servername) {
      const name = servername.toLowerCase();
      const exact = this.sniExact.get(name);
      if (exact !== undefined) return exact;
      const dot = name.indexOf('.');
      if (dot > 0) {
        const wild = this.sniWildcard.get(name.slice(dot));
        if (wild !== undefined) return wild;
      }
    }
    return this.defaultContext;
  }

  policy(id: string): PolicyInstance | undefined {
    return this.policyById.get(id)?.value;
  }

  get inFlight(): number {
    return this.inflight;
  }

  get retired(): boolean {
    return this.state === 'retired' || this.state === 'released';
  }

  /** A request starts using this runtime. Pair with exactly one release(). */
  acquire(): void {
    this.inflight++;
  }

  release(): void {
    this.inflight--;
    if (this.inflight === 0 && this.state === 'retired') this.letGo();
  }

  /** @internal RuntimeHolder: take a hold on every pool before this runtime serves. */
  activate(): void {
    if (this.state !== 'compiled') throw new Error('runtime was already activated');
    for (const pool of this.upstreams.values()) {
      if (pool.stale) {
        throw new Error(`upstream "${pool.id}" was reused from a runtime that has since closed it; compile against holder.current`);
      }
    }
    for (const pool of this.upstreams.values()) pool.retain();
    this.state = 'active';
  }

  /** @internal RuntimeHolder: no new requests will acquire this runtime. */
  retire(): Promise<void> {
    if (this.state === 'active') {
      this.state = 'retired';
      if (this.inflight === 0) this.letGo();
    } else if (this.state === 'compiled') {
      // Never served: it holds nothing.
      this.state = 'released';
      this.resolveReleased();
    }
    return this.released;
  }

  private letGo(): void {
    this.state = 'released';
    const closes: Promise<void>[] = [];
    for (const pool of this.upstreams.values()) closes.push(pool.release());
    Promise.all(closes).then(
      () => this.resolveReleased(),
      () => this.resolveReleased(),
    );
  }

  /** @internal compileRuntime: reuse when the definition is identical. */
  reusablePolicy(id: string, key: string): PolicyInstance | undefined {
    const p = this.policyById.get(id);
    return p !== undefined && p.key === key ? p.value : undefined;
  }

  /** @internal compileRuntime: the same consumers keep what they remember (checked passwords). */
  reusableConsumers(key: string): CompiledConsumers | undefined {
    return this.consumersKeyed.key === key ? this.consumersKeyed.value : undefined;
  }

  /** @internal */
  reusableUpstream(id: string, key: string): UpstreamPool | undefined {
    const u = this.upstreams.get(id);
    return u !== undefined && u.key === key && !u.closed ? u : undefined;
  }

  /** @internal */
  reusableCertificate(id: string, key: string): SecureContext | undefined {
    const c = this.certById.get(id);
    return c !== undefined && c.key === key ? c.value : undefined;
  }
}

/**
 * Build the runtime for a validated config. Throws on a dangling reference or an unknown policy
 * type (validation should have refused both). `previous` is only read, never changed.
 */
export function compileRuntime(
  config: Config,
  meta: RuntimeMeta,
  previous?: Runtime | null,
  opts: CompileOptions = {},
): Runtime {
  const targets = opts.targets ?? previous?.targets ?? new TargetRegistry();
  const certificateById = new Map(config.certificates.map((c) => [c.id, c]));
  const upstreams = new Map<string, UpstreamPool>();
  for (const def of config.upstreams) {
    const cert = def.tls?.clientCertificate === undefined ? undefined : certificateById.get(def.tls.clientCertificate);
    const reused = previous?.reusableUpstream(def.id, upstreamKey(def, cert));
    upstreams.set(def.id, reused ?? new UpstreamPool(def, { ...opts.upstream, registry: targets, certificate: (id) => certificateById.get(id) }));
  }

  const policies = new Map<string, Keyed<PolicyInstance>>();
  for (const def of config.policies) {
    const key = stableStringify(def);
    policies.set(def.id, { key, value: previous?.reusablePolicy(def.id, key) ?? createPolicy(def) });
  }

  const refs = { upstream: (id: string) => upstreams.get(id), policy: (id: string) => policies.get(id)?.value, globalPolicies: globalPolicyIds(config) };
  const routes = config.routes.map((r) => compileRoute(r, refs));

  const certs = new Map<string, Keyed<SecureContext>>();
  const sniExact = new Map<string, SecureContext>();
  const sniWildcard = new Map<string, SecureContext>();
  let defaultContext: SecureContext | null = null;
  for (const def of config.certificates) {
    const key = stableStringify(def);
    let ctx = previous?.reusableCertificate(def.id, key);
    if (ctx === undefined) {
      try {
        ctx = createSecureContext({ cert: def.cert, key: def.key });
      } catch (err) {
        throw new Error(`certificate "${def.id}": ${(err as Error).message}`);
      }
    }
    certs.set(def.id, { key, value: ctx });
    // A certificate without names (a client certificate for upstreams) is never served.
    if (def.snis.length > 0) defaultContext ??= ctx;
    for (const raw of def.snis) {
      const sni = raw.toLowerCase();
      if (sni.startsWith('*.')) sniWildcard.set(sni.slice(1), ctx);
      else sniExact.set(sni, ctx);
    }
  }

  const consumersKey = stableStringify(config.consumers);
  const consumers = { key: consumersKey, value: previous?.reusableConsumers(consumersKey) ?? new CompiledConsumers(config.consumers) };

  return new Runtime({ meta, routes, upstreams, targets, policies, certs, sniExact, sniWildcard, defaultContext, consumers });
}

/** The one mutable reference of the data plane. */
export class RuntimeHolder {
  private cur: Runtime | null = null;
  private readonly retiring = new Set<Runtime>();
  private closed = false;

  /** Read once per request, at its start. */
  get current(): Runtime | null {
    return this.cur;
  }

  /** Serve `next` from now on; returns the runtime it replaced (now retiring). */
  swap(next: Runtime): Runtime | null {
    if (this.closed) throw new Error('runtime holder is closed');
    const prev = this.cur;
    if (next === prev) return null;
    // Hold the new pools before letting go of the old ones, so shared pools never reach zero.
    next.activate();
    this.cur = next;
    if (prev !== null) this.retire(prev);
    return prev;
  }

  /** Runtimes replaced but still finishing requests. */
  get retiringCount(): number {
    return this.retiring.size;
  }

  /** Stop serving; resolves when every runtime's requests ended and every pool closed. */
  async close(): Promise<void> {
    this.closed = true;
    const prev = this.cur;
    this.cur = null;
    if (prev !== null) this.retire(prev);
    await Promise.all([...this.retiring].map((r) => r.released));
  }

  private retire(rt: Runtime): void {
    this.retiring.add(rt);
    void rt.retire().then(() => this.retiring.delete(rt));
  }
}
