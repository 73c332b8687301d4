// Targets shared by every upstream and every runtime of one proxy, keyed by what identifies a
// connection to them (target-connection.ts): the keep-alive undici Pool, the requests in flight,
// the active health checkers, and passive health per upstream id (each upstream ejects within its
// own bounds). An upstream that changes (a weight, a
// target added) is compiled again, and finds the targets it kept here with their state and warm
// connections; a config swap resets nothing it did not change.
//
// Lifetimes: a target (and a checker) is counted once per upstream pool holding it, and a pool
// holds its targets while some runtime holds the pool (runtime.ts). The last release closes the
// target's connections (gracefully: requests already dispatched finish), stops its checks and
// takes it out of the registry; a later config listing it again starts afresh.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Pool, type Dispatcher } from 'undici';
import { CheckScheduler, HealthChecker, MAX_CONCURRENT_CHECKS, type HealthRelay, type ResolvedHealthCheck } from './health-check.js';
import { connectionKey, dispatcherOptions, type ConnectionSettings } from './target-connection.js';

/** Passive health of a target as one upstream sees it (its bounds are the upstream's). */
export interface PassiveHealth {
  /** Monotonic ms until which it is out of rotation; 0: not ejected. */
  ejectedUntil: number;
  /** Times it was taken out. */
  ejections: number;
}

/**
 * Counts every change of health in a registry (ejections, readmissions, verdicts of checks), so a
 * pool knows when the targets it may pick from can have changed other than by time passing.
 */
export interface HealthEpoch {
  value: number;
}

export class SharedTarget {
  readonly origin: string;
  readonly options: Pool.Options;
  /** Requests of this process in flight to the target (least-request reads it). */
  inFlight = 0;
  /** Active checks of this target (one per distinct healthCheck definition using it). */
  readonly checkers = new Set<HealthChecker>();
  /** By upstream id: each upstream ejects within its own bounds (maxEjectionPercent, never its last). */
  private readonly passive = new Map<string, PassiveHealth>();
  private pool: Pool | null = null;
  /** HTTP/1.1 connections of an HTTP/2 target, for upgrades; null until one is made. */
  private upgradePool: Pool | null = null;
  private readonly settings: ConnectionSettings;
  private refs = 0;
  private closing: Promise<void> | null = null;

  constructor(
    readonly key: string,
    settings: ConnectionSettings,
    private readonly epoch: HealthEpoch,
    private readonly onClosed: (t: SharedTarget) => void,
  ) {
    this.origin = settings.origin;
    this.settings = settings;
    this.options = dispatcherOptions(settings);
  }

  /** The keep-alive pool, created on first use: compiling a config costs no sockets. */
  dispatcher(): Dispatcher {
    if (this.closing !== null) throw new Error(`target ${this.origin} is closed`);
    return (this.pool ??= new Pool(this.origin, this.options));
  }

  /** The pool for Upgrade requests: HTTP/1.1, also when the target's traffic is HTTP/2. */
  upgradeDispatcher(): Dispatcher {
    if (!this.settings.http2) return this.dispatcher();
    if (this.closing !== null) throw new Error(`target ${this.origin} is closed`);
    return (this.upgradePool ??= new Pool(this.origin, dispatcherOptions(this.settings, true)));
  }

  /** Its passive health in upstream `id`: the same object for every compiled form of that upstream. */
  passiveHealth(id: string): PassiveHealth {
    let p = this.passive.get(id);
    if (p === undefined) {
      p = { ejectedUntil: 0, ejections: 0 };
      this.passive.set(id, p);
    }
    return p;
  }

  /**
   * Out of rotation until `until` (never shortened). Active checks start counting passes again:
   * their verdict readmits it early only on evidence from after the failure (health-check.ts).
   * `fresh`: it was in rotation (counted as an ejection), not out already and held out longer.
   */
  eject(health: PassiveHealth, until: number, fresh: boolean): void {
    if (until > health.ejectedUntil) health.ejectedUntil = until;
    if (fresh) health.ejections++;
    this.epoch.value++;
    for (const c of this.checkers) c.passiveEjection();
  }

  /** Back in rotation at once, in every upstream: the active check says it answers again. */
  readmit(): void {
    for (const p of this.passive.values()) p.ejectedUntil = 0;
    this.epoch.value++;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  retain(): void {
    if (this.closing !== null) throw new Error(`target ${this.origin} is closed`);
    this.refs++;
  }

  release(): Promise<void> {
    if (this.refs > 0) this.refs--;
    if (this.refs > 0 || this.closing !== null) return this.closing ?? Promise.resolve();
    this.onClosed(this);
    const pools = [this.pool, this.upgradePool].filter((p): p is Pool => p !== null);
    this.closing = Promise.all(pools.map((p) => p.close())).then(() => undefined);
    return this.closing;
  }
}

export interface TargetRegistryOptions {
  /** Health transitions are logged here. */
  logger?: Logger;
  /** Most health checks in flight at once, over every target. */
  maxConcurrentChecks?: number;
  /** A worker of a pool: checks sent by the leader alone, judged by every worker. */
  relay?: HealthRelay;
}

export class TargetRegistry {
  private readonly targets = new Map<string, SharedTarget>();
  private readonly checkers = new Map<string, HealthChecker>();
  private readonly listeners = new Set<() => void>();
  private readonly scheduler: CheckScheduler;
  private readonly relay: HealthRelay | undefined;
  readonly logger: Logger | undefined;
  readonly epoch: HealthEpoch = { value: 0 };

  constructor(opts: TargetRegistryOptions = {}) {
    this.logger = opts.logger;
    this.scheduler = new CheckScheduler(opts.maxConcurrentChecks ?? MAX_CONCURRENT_CHECKS);
    this.relay = opts.relay;
    // A result for a checker this worker does not hold (its config behind or ahead) is dropped.
    if (this.relay !== undefined && !this.relay.leader) {
      this.relay.follow(
        (key, last) => this.checkers.get(key)?.relayed(last),
        () => {
          for (const c of this.checkers.values()) c.lead();
        },
      );
    }
  }

  /** The target these settings connect to, shared with every upstream listing it alike. */
  target(settings: ConnectionSettings): SharedTarget {
    const key = connectionKey(settings);
    let t = this.targets.get(key);
    if (t === undefined) {
      // Never-retained entries (a runtime compiled but never swapped in) hold no socket or timer.
      t = new SharedTarget(key, settings, this.epoch, (closed) => {
        if (this.targets.get(closed.key) === closed) this.targets.delete(closed.key);
      });
      this.targets.set(key, t);
    }
    return t;
  }

  /** The active checker of `target` under `check`, shared by every upstream checking it alike. */
  checker(target: SharedTarget, check: ResolvedHealthCheck): HealthChecker {
    const key = `${target.key}\n${check.key}`;
    let c = this.checkers.get(key);
    if (c === undefined) {
      const relay = this.relay;
      c = new HealthChecker(target, check, {
        scheduler: this.scheduler,
        logger: this.logger,
        follower: relay !== undefined && !relay.leader,
        // Only a leading checker runs checks, so only it publishes (a promoted follower too).
        publish: relay !== undefined ? (last) => relay.publish(key, last) : undefined,
        onChange: () => this.changed(),
        onStopped: (stopped) => {
          if (this.checkers.get(key) === stopped) this.checkers.delete(key);
        },
      });
      this.checkers.set(key, c);
    }
    return c;
  }

  /** Called after every active health transition; returns the unsubscribe. */
  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Targets and checkers currently held (tests and status). */
  get size(): { targets: number; checkers: number } {
    return { targets: this.targets.size, checkers: this.checkers.size };
  }

  private changed(): void {
    this.epoch.value++;
    for (const l of this.listeners) l();
  }
}

export const monotonic = (): number => performance.now();
