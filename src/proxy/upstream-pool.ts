// One upstream as compiled: its targets (shared with other upstreams and runtimes through the
// TargetRegistry), its balancer and passive health's bounds.
//
// A target is in rotation when its active checks (if any) say healthy and passive health has not
// ejected it. Passive health: a target that fails a request (Exchange decides what counts) is
// taken out of rotation for ejectMs, as nginx's max_fails=1 fail_timeout=10s, within two bounds:
// the last target in rotation is never taken out (nginx ignores max_fails for a single server),
// and at most maxEjectionPercent of the targets are ejected at once, rounded down but at least
// one (Envoy's max_ejection_percent; 0 turns passive ejection off). When no target is in rotation
// every target is a candidate again (Envoy's panic mode: better to try targets that may be back
// than to fail every request). The balancer then picks among the candidates.
//
// Compiling an upstream is a function of its definition, the certificate it names and the
// registry: nothing else, so one changed upstream is rebuilt alone. Runtimes share an
// UpstreamPool while its definition is unchanged (keeping the balancer's position); a changed
// one gets a new pool that finds its unchanged targets, their state and warm connections, in
// the registry.
import { createHash } from 'node:crypto';
import { stableStringify } from '../config/canonical.js';
import {
  DEFAULT_BALANCER,
  DEFAULT_MAX_EJECTION_PERCENT,
  DEFAULT_READ_TIMEOUT_MS,
  DEFAULT_WEIGHT,
  type BalancerName,
  type Certificate,
  type Upstream,
} from '../config/schema.js';
import { createBalancer, type Balancer, type PickContext } from './balancers/index.js';
import { resolveHealthCheck, type HealthChecker } from './health-check.js';
import { connectionSettings, targetTls } from './target-connection.js';
import { TargetRegistry, monotonic, type HealthEpoch, type PassiveHealth, type SharedTarget } from './target-registry.js';

/** nginx's max_fails=1 fail_timeout=10s: one failure takes a target out for 10 s. */
export const EJECT_MS = 10_000;

export interface UpstreamTarget {
  readonly index: number;
  /** As configured. */
  readonly url: string;
  /** Normalized origin, e.g. "http://10.0.0.5:8080". */
  readonly origin: string;
  readonly weight: number;
  /** Its connections and requests in flight: shared by whoever lists it alike. */
  readonly shared: SharedTarget;
  /** Its passive health in this upstream, kept across compiles of the same upstream id. */
  readonly passive: PassiveHealth;
  /** Its active checks; null without healthCheck. */
  readonly checker: HealthChecker | null;
}

export interface UpstreamPoolOptions {
  /** Where targets are shared; default: a registry of this pool's own. */
  registry?: TargetRegistry;
  /** The certificates object named by tls.clientCertificate. */
  certificate?: (id: string) => Certificate | undefined;
  /** How long a failed target stays out of rotation, ms. */
  ejectMs?: number;
  /** Monotonic clock in ms (tests inject one). */
  now?: () => number;
}

/**
 * What decides whether a runtime may reuse a pool: the definition and the certificate it names
 * (a certificate renewed under the same id needs new connections).
 */
export function upstreamKey(def: Upstream, certificate?: Certificate): string {
  const base = stableStringify(def);
  return certificate === undefined ? base : `${base} ${createHash('sha256').update(stableStringify(certificate)).digest('hex')}`;
}

export class UpstreamPool {
  readonly id: string;
  readonly key: string;
  readonly balancerName: BalancerName;
  readonly targets: readonly UpstreamTarget[];
  readonly readTimeoutMs: number;
  readonly ejectMs: number;
  /** Targets that may be passively ejected at once. */
  readonly maxEjected: number;
  private readonly balancer: Balancer;
  /**
   * Which targets the balancer may choose, kept while nothing can have changed them: no health
   * change in the registry (epoch) and no ejection ended (until). Picks that skip targets use a
   * scratch array instead (picks never interleave).
   */
  private readonly eligible: Uint8Array;
  private eligibleEpoch = -1;
  private eligibleUntil = 0;
  private readonly scratch: Uint8Array;
  private readonly epoch: HealthEpoch;
  // The targets' health, in arrays of their own: pick reads them for every target of every request.
  private readonly passives: readonly PassiveHealth[];
  private readonly checkers: readonly (HealthChecker | null)[];
  private readonly now: () => number;
  private refs = 0;
  /** Holds its targets: retained once, not closed yet. */
  private holding = false;
  private closing: Promise<void> | null = null;

  constructor(def: Upstream, opts: UpstreamPoolOptions = {}) {
    const registry = opts.registry ?? new TargetRegistry();
    const cert = def.tls?.clientCertificate === undefined ? undefined : opts.certificate?.(def.tls.clientCertificate);
    this.id = def.id;
    this.key = upstreamKey(def, cert);
    this.balancerName = def.balancer ?? DEFAULT_BALANCER;
    const tls = targetTls(def, () => cert);
    const check = def.healthCheck === undefined ? null : resolveHealthCheck(def.healthCheck);
    this.targets = def.targets.map((t, index) => {
      const origin = new URL(t.url).origin;
      const shared = registry.target(connectionSettings(def, origin, tls));
      return {
        index,
        url: t.url,
        origin,
        weight: t.weight ?? DEFAULT_WEIGHT,
        shared,
        passive: shared.passiveHealth(def.id),
        checker: check === null ? null : registry.checker(shared, check),
      };
    });
    this.readTimeoutMs = def.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    this.ejectMs = opts.ejectMs ?? EJECT_MS;
    const percent = def.maxEjectionPercent ?? DEFAULT_MAX_EJECTION_PERCENT;
    this.maxEjected = percent === 0 ? 0 : Math.max(1, Math.floor((this.targets.length * percent) / 100));
    this.now = opts.now ?? monotonic;
    this.eligible = new Uint8Array(this.targets.length);
    this.scratch = new Uint8Array(this.targets.length);
    this.epoch = registry.epoch;
    this.passives = this.targets.map((t) => t.passive);
    this.checkers = this.targets.map((t) => t.checker);
    const targets = this.targets;
    this.balancer = createBalancer(def, {
      origins: targets.map((t) => t.origin),
      weights: targets.map((t) => t.weight),
      inFlight: (i) => targets[i]!.shared.inFlight,
    });
  }

  /**
   * Index of the target for the next request, or -1 when there is none to pick: no targets, or
   * all in `skip`. When no target is in rotation, all not skipped are candidates (panic).
   * @param skip targets not to pick (those that already failed this request)
   * @param ctx what the balancer may read of the request (consistent-hash keys)
   */
  pick(skip: readonly number[] | null = null, ctx: PickContext | null = null): number {
    const n = this.targets.length;
    if (n === 0) return -1;
    if (n === 1 && skip === null) return 0;
    const now = this.now();
    if (skip === null) {
      if (this.eligibleEpoch !== this.epoch.value || now >= this.eligibleUntil) this.refreshEligible(now);
      return this.balancer.pick(this.eligible, ctx);
    }
    const scratch = this.scratch;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const ok = !skip.includes(i) && this.inRotationAt(i, now);
      scratch[i] = ok ? 1 : 0;
      if (ok) count++;
    }
    if (count === 0) {
      for (let i = 0; i < n; i++) {
        const ok = !skip.includes(i);
        scratch[i] = ok ? 1 : 0;
        if (ok) count++;
      }
      if (count === 0) return -1;
    }
    return this.balancer.pick(scratch, ctx);
  }

  /** The targets in rotation now, or all of them (panic); valid until the next ejection ends. */
  private refreshEligible(now: number): void {
    const eligible = this.eligible;
    let count = 0;
    let until = Infinity;
    for (let i = 0; i < eligible.length; i++) {
      const ejectedUntil = this.passives[i]!.ejectedUntil;
      if (ejectedUntil > now && ejectedUntil < until) until = ejectedUntil;
      const ok = this.inRotationAt(i, now);
      eligible[i] = ok ? 1 : 0;
      if (ok) count++;
    }
    if (count === 0) eligible.fill(1);
    this.eligibleEpoch = this.epoch.value;
    this.eligibleUntil = until;
  }

  private inRotationAt(index: number, now: number): boolean {
    const checker = this.checkers[index]!;
    return this.passives[index]!.ejectedUntil <= now && (checker === null || checker.healthy);
  }

  /** Neither passive ejection nor active checks keep the target out now. */
  inRotation(index: number): boolean {
    return this.inRotationAt(index, this.now());
  }

  /** Targets currently in rotation. */
  available(): number {
    const now = this.now();
    let count = 0;
    for (let i = 0; i < this.targets.length; i++) if (this.inRotationAt(i, now)) count++;
    return count;
  }

  /** Passive health holds the target out now. */
  isEjected(index: number): boolean {
    return this.targets[index]!.passive.ejectedUntil > this.now();
  }

  /** How long passive health still holds the target out, ms; 0 when it does not. */
  ejectedForMs(index: number): number {
    return Math.max(0, this.targets[index]!.passive.ejectedUntil - this.now());
  }

  /**
   * A target failed a request: take it out of rotation unless that would break a bound above.
   * A target already out (picked in panic) stays out longer. True when it was taken out now.
   */
  reportFailure(index: number): boolean {
    const now = this.now();
    const { shared, passive } = this.targets[index]!;
    if (passive.ejectedUntil > now) {
      shared.eject(passive, now + this.ejectMs, false);
      return false;
    }
    let inRotation = 0;
    let ejected = 0;
    for (let i = 0; i < this.targets.length; i++) {
      if (this.targets[i]!.passive.ejectedUntil > now) ejected++;
      else if (this.inRotationAt(i, now)) inRotation++;
    }
    if (inRotation <= 1 || ejected >= this.maxEjected) return false;
    shared.eject(passive, now + this.ejectMs, true);
    return true;
  }

  /** The target's shared state: its keep-alive pool, requests in flight, passive health. */
  shared(index: number): SharedTarget {
    return this.targets[index]!.shared;
  }

  /** Runtimes holding this pool. */
  get refCount(): number {
    return this.refs;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /** Closed, or holding a target or checker another holder has closed since compile. */
  get stale(): boolean {
    return this.closing !== null || this.targets.some((t) => t.shared.closed || t.checker?.closed === true);
  }

  /** The first hold takes a hold on every target and starts their checks. */
  retain(): void {
    if (this.closing !== null) throw new Error(`upstream "${this.id}" is closed`);
    if (this.refs++ > 0) return;
    this.holding = true;
    for (const t of this.targets) {
      t.shared.retain();
      t.checker?.retain();
    }
  }

  /** Drop one runtime's hold; the last one lets go of the targets (closing those no one else holds). */
  release(): Promise<void> {
    if (this.refs > 0) this.refs--;
    if (this.refs === 0) return this.close();
    return Promise.resolve();
  }

  /** Graceful: requests already dispatched finish, then every socket no one else uses closes. */
  close(): Promise<void> {
    if (this.closing === null) {
      const closes: Promise<void>[] = [];
      if (this.holding) for (const t of this.targets) closes.push(t.shared.release(), t.checker?.release() ?? Promise.resolve());
      this.holding = false;
      this.closing = Promise.all(closes).then(() => undefined);
    }
    return this.closing;
  }
}
