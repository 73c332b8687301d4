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
import { globalPolicyIds, perKind, type Certificate, type Config, type Consumer, type Policy, type Settings, type Upstream } from '../config/schema.js';
import { type ChangedObject, type ValidConfig } from '../config/validate-change.js';
import { PersistentMap } from '../util/persistent-map.js';
import { runWhole, type Sliced } from '../util/slices.js';
import { CompiledConsumers, createPolicy, type ConsumerIndex, type PolicyInstance } from './policies/index.js';
import { compileRoute, routeRefersTo, type CompiledRoute } from './route-compile.js';
import { compileRouterSliced, type Router } from './router.js';
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
  /** Compiled routes by id, shared with the runtimes before and after (updateRuntime). */
  private readonly routes: PersistentMap<CompiledRoute>;
  private readonly policyById: ReadonlyMap<string, Keyed<PolicyInstance>>;
  private readonly certById: ReadonlyMap<string, Keyed<SecureContext>>;
  private readonly sniExact: ReadonlyMap<string, SecureContext>;
  /** "*.example.com" keyed as ".example.com". */
  private readonly sniWildcard: ReadonlyMap<string, SecureContext>;
  private readonly defaultContext: SecureContext | null;
  private inflight = 0;
  private state: State = 'compiled';
  private resolveReleased!: () => void;

  /** @internal use compileRuntime or updateRuntime */
  constructor(parts: {
    meta: RuntimeMeta;
    routes: PersistentMap<CompiledRoute>;
    router: Router<CompiledRoute>;
    upstreams: ReadonlyMap<string, UpstreamPool>;
    targets: TargetRegistry;
    policies: ReadonlyMap<string, Keyed<PolicyInstance>>;
    consumers: Keyed<CompiledConsumers>;
  } & CertificateParts) {
    this.meta = Object.freeze({ ...parts.meta });
    this.routes = parts.routes;
    this.routeCount = parts.routes.size;
    this.router = parts.router;
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

  /** @internal updateRuntime: what it starts from. */
  parts() {
    const { routes, router, policyById: policies, consumersKeyed: consumers, certById: certs, sniExact, sniWildcard, defaultContext } = this;
    return { routes, router, policies, consumers, certificates: { certs, sniExact, sniWildcard, defaultContext } };
  }

  /** @internal compileRuntime: the same consumers keep what they remember (checked passwords). */
  reusableConsumers(key: string): CompiledConsumers | undefined {
    return this.consumersKeyed.key === key ? this.consumersKeyed.value : undefined;
  }

  /** @internal compileRuntime: reuse when the definition is identical. */
  reusablePolicy(id: string, key: string): PolicyInstance | undefined {
    const p = this.policyById.get(id);
    return p !== undefined && p.key === key ? p.value : undefined;
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
  return runWhole(compileRuntimeSliced(config, meta, previous, opts));
}

/** Compiled routes by id put in this many at a time between pauses. */
const ROUTE_MAP_BATCH = 512;

/**
 * compileRuntime as work that pauses after each object (util/slices.ts). `previous` must stay
 * the serving runtime until it ends: nothing else may swap meanwhile.
 */
export function* compileRuntimeSliced(
  config: Config,
  meta: RuntimeMeta,
  previous?: Runtime | null,
  opts: CompileOptions = {},
): Sliced<Runtime> {
  const targets = opts.targets ?? previous?.targets ?? new TargetRegistry();
  const certificateById = new Map(config.certificates.map((c) => [c.id, c]));
  const certificate = (id: string) => certificateById.get(id);
  const upstreams = new Map<string, UpstreamPool>();
  for (const def of config.upstreams) {
    upstreams.set(def.id, upstreamPool(def, certificate, previous, targets, opts));
    yield;
  }
  const policies = new Map<string, Keyed<PolicyInstance>>();
  for (const def of config.policies) {
    policies.set(def.id, policyInstance(def, previous));
    yield;
  }
  const refs = { upstream: (id: string) => upstreams.get(id), policy: (id: string) => policies.get(id)?.value, globalPolicies: globalPolicyIds(config) };
  const routes: CompiledRoute[] = [];
  for (const def of config.routes) {
    routes.push(compileRoute(def, refs));
    yield;
  }
  let byId = PersistentMap.empty<CompiledRoute>();
  for (let i = 0; i < routes.length; i += ROUTE_MAP_BATCH) {
    byId = byId.withChanges(routes.slice(i, i + ROUTE_MAP_BATCH).map((r) => [r.id, r] as const));
    yield;
  }
  const router = yield* compileRouterSliced(routes);
  const consumers = compiledConsumers(config.consumers, previous);
  yield;
  return new Runtime({
    meta,
    routes: byId,
    router,
    upstreams,
    targets,
    policies,
    consumers,
    ...certificates(config.certificates, previous),
  });
}

/**
 * The runtime of `config`, which differs from the config `previous` was compiled from by the
 * objects in `changes` (added, changed or removed), made from `previous` by compiling only those
 * and the routes that refer to an upstream or policy compiled anew: every other compiled route,
 * pool, policy instance and trie node is shared by identity, so a one-route change costs one
 * route. `previous` is only read: requests in flight on it route as before.
 */
export function updateRuntime(
  config: ValidConfig,
  changes: Iterable<ChangedObject>,
  meta: RuntimeMeta,
  previous: Runtime,
  opts: CompileOptions = {},
): Runtime {
  return runWhole(updateRuntimeSliced(config, changes, meta, previous, opts));
}

/**
 * updateRuntime as work that pauses after each object it compiles (util/slices.ts): a change
 * that reaches many routes (an upstream all of them use) does not hold the loop. `previous` must
 * stay the serving runtime until it ends.
 */
export function* updateRuntimeSliced(
  config: ValidConfig,
  changes: Iterable<ChangedObject>,
  meta: RuntimeMeta,
  previous: Runtime,
  opts: CompileOptions = {},
): Sliced<Runtime> {
  const targets = opts.targets ?? previous.targets;
  const was = previous.parts();
  const changed = perKind(() => new Set<string>());
  for (const c of changes) {
    changed[c.kind].add(c.id);
    yield;
  }
  const find = config.find.bind(config);
  const certificate = (id: string) => find('certificates', id) as Certificate | undefined;

  let certs = was.certificates;
  if (changed.certificates.size > 0) {
    certs = certificates(config.objects('certificates') as Certificate[], previous);
    // An upstream presenting a changed certificate is changed too (its pool holds the certificate).
    for (const def of config.objects('upstreams') as Upstream[]) {
      const cert = def.tls?.clientCertificate;
      if (cert !== undefined && changed.certificates.has(cert)) changed.upstreams.add(def.id);
    }
  }

  // Pools and instances compiled anew: the routes holding the old ones must be compiled again.
  const newUpstreams = new Set<string>();
  const upstreams = new Map(previous.upstreams);
  for (const id of changed.upstreams) {
    const def = find('upstreams', id) as Upstream | undefined;
    const pool = def === undefined ? undefined : upstreamPool(def, certificate, previous, targets, opts);
    if (pool === undefined) upstreams.delete(id);
    else upstreams.set(id, pool);
    if (pool !== previous.upstreams.get(id)) newUpstreams.add(id);
    yield;
  }
  const newPolicies = new Set<string>();
  const policies = new Map(was.policies);
  for (const id of changed.policies) {
    const def = find('policies', id) as Policy | undefined;
    const instance = def === undefined ? undefined : policyInstance(def, previous);
    if (instance === undefined) policies.delete(id);
    else policies.set(id, instance);
    if (instance?.value !== was.policies.get(id)?.value) newPolicies.add(id);
    yield;
  }
  const globalPolicies = globalPolicyIds({ settings: config.objects('settings') as Settings[] });
  if (changed.settings.size > 0 || globalPolicies.some((id) => newPolicies.has(id))) {
    // The global list, or a new instance of a policy on it, is in every route's chain.
    for (const def of config.objects('routes') as Config['routes']) changed.routes.add(def.id);
  } else if (newUpstreams.size > 0 || newPolicies.size > 0) {
    for (const def of config.objects('routes') as Config['routes']) {
      if (routeRefersTo(def, newUpstreams, newPolicies)) changed.routes.add(def.id);
    }
  }

  const refs = { upstream: (id: string) => upstreams.get(id), policy: (id: string) => policies.get(id)?.value, globalPolicies };
  const removed: CompiledRoute[] = [];
  const added: CompiledRoute[] = [];
  const routeChanges: [string, CompiledRoute | null][] = [];
  for (const id of changed.routes) {
    const old = was.routes.get(id);
    if (old !== undefined) removed.push(old);
    const def = find('routes', id) as Config['routes'][number] | undefined;
    const route = def === undefined ? null : compileRoute(def, refs);
    if (route !== null) added.push(route);
    routeChanges.push([id, route]);
    yield;
  }
  let routes = was.routes;
  for (let i = 0; i < routeChanges.length; i += ROUTE_MAP_BATCH) {
    routes = routes.withChanges(routeChanges.slice(i, i + ROUTE_MAP_BATCH));
    yield;
  }
  const router = yield* was.router.withChangesSliced(removed, added);
  return new Runtime({
    meta,
    routes,
    router,
    upstreams,
    targets,
    policies,
    consumers: changed.consumers.size === 0 ? was.consumers : compiledConsumers(config.objects('consumers') as Consumer[], previous),
    ...certs,
  });
}

/** The pool for an upstream: the previous runtime's when its definition (and certificate) is the same. */
function upstreamPool(
  def: Upstream,
  certificate: (id: string) => Certificate | undefined,
  previous: Runtime | null | undefined,
  targets: TargetRegistry,
  opts: CompileOptions,
): UpstreamPool {
  const cert = def.tls?.clientCertificate === undefined ? undefined : certificate(def.tls.clientCertificate);
  const reused = previous?.reusableUpstream(def.id, upstreamKey(def, cert));
  return reused ?? new UpstreamPool(def, { ...opts.upstream, registry: targets, certificate });
}

/** The instance of a policy: the previous runtime's when its definition is the same (its state lives on). */
function policyInstance(def: Policy, previous: Runtime | null | undefined): Keyed<PolicyInstance> {
  const key = stableStringify(def);
  return { key, value: previous?.reusablePolicy(def.id, key) ?? createPolicy(def) };
}

/** The consumers' index: the previous runtime's while they are all the same (it remembers checked passwords). */
function compiledConsumers(defs: readonly Consumer[], previous: Runtime | null | undefined): Keyed<CompiledConsumers> {
  const key = stableStringify(defs);
  return { key, value: previous?.reusableConsumers(key) ?? new CompiledConsumers(defs) };
}

interface CertificateParts {
  certs: ReadonlyMap<string, Keyed<SecureContext>>;
  sniExact: ReadonlyMap<string, SecureContext>;
  sniWildcard: ReadonlyMap<string, SecureContext>;
  defaultContext: SecureContext | null;
}

/** TLS contexts and the SNI tables, whole: certificates are few. */
function certificates(defs: readonly Certificate[], previous: Runtime | null | undefined): CertificateParts {
  const certs = new Map<string, Keyed<SecureContext>>();
  const sniExact = new Map<string, SecureContext>();
  const sniWildcard = new Map<string, SecureContext>();
  let defaultContext: SecureContext | null = null;
  for (const def of defs) {
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
  return { certs, sniExact, sniWildcard, defaultContext };
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
