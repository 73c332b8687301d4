// Active health checks: each target of an upstream with `healthCheck` is asked for its path
// every intervalMs, over connections of its own (never the traffic pool's) made with the same
// TLS settings as its traffic, so a check sees what a request would (Kong #5531 and #5591: checks
// that could not present the client certificate, or the SNI, kept good targets out).
//
// Verdicts count consecutive results, as Caddy's after its PR #7625: a pass resets the failure
// count and a failure the pass count; unhealthyThreshold failures in a row take a healthy target
// out, healthyThreshold passes in a row bring it back. Targets start healthy: a new proxy, or a
// target added by a swap, serves at once, and a dead one is found by its first failed connect
// (passive ejection) or its first checks. A check cancelled by a swap that drops the target, or by
// shutdown, counts as nothing. A check never overlaps the one before it (Kong #7409): the next is
// timed from the end of the last, jittered by ±10 % and, the first, by a random part of the
// interval, so a hundred targets are not probed in the same millisecond; at most
// MAX_CONCURRENT_CHECKS run at once in a process. Unhealthy targets keep being checked at the same
// interval: nothing can leave a target out for good (Kong #7566, #6983).
//
// With passive ejection: a target is in rotation when its checks say healthy and it is not
// ejected. A passive ejection restarts the pass count, and healthyThreshold passes of checks
// started after it readmit the target before its ejection time is up.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Client } from 'undici';
import { stableStringify } from '../config/canonical.js';
import {
  DEFAULT_EXPECT_STATUSES,
  DEFAULT_HEALTHY_THRESHOLD,
  DEFAULT_HEALTH_CHECK_INTERVAL_MS,
  DEFAULT_HEALTH_CHECK_TIMEOUT_MS,
  DEFAULT_UNHEALTHY_THRESHOLD,
  type HealthCheck,
} from '../config/schema.js';
import { errorMessage } from '../util/errors.js';
import type { SharedTarget } from './target-registry.js';

export const MAX_CONCURRENT_CHECKS = 64;
export const USER_AGENT = 'signalbox-health-check';

export interface ResolvedHealthCheck {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  readonly expectStatuses: readonly (number | string)[];
  /** Every check's request headers: `headers`, `host` as Host when given, our User-Agent unless `headers` sets one. */
  readonly headers: Readonly<Record<string, string>>;
  /** Equal keys: the same checks (defaults filled in), so one checker serves both. */
  readonly key: string;
  expects(status: number): boolean;
}

export function resolveHealthCheck(def: HealthCheck): ResolvedHealthCheck {
  const fields = {
    path: def.path,
    intervalMs: def.intervalMs ?? DEFAULT_HEALTH_CHECK_INTERVAL_MS,
    timeoutMs: def.timeoutMs ?? DEFAULT_HEALTH_CHECK_TIMEOUT_MS,
    healthyThreshold: def.healthyThreshold ?? DEFAULT_HEALTHY_THRESHOLD,
    unhealthyThreshold: def.unhealthyThreshold ?? DEFAULT_UNHEALTHY_THRESHOLD,
    expectStatuses: def.expectStatuses ?? DEFAULT_EXPECT_STATUSES,
    headers: checkHeaders(def),
  };
  const ranges = fields.expectStatuses.map((s) => {
    if (typeof s === 'number') return [s, s] as const;
    const [lo, hi] = s.split('-').map(Number);
    return [lo!, hi!] as const;
  });
  return {
    ...fields,
    key: stableStringify(fields),
    expects: (status) => ranges.some(([lo, hi]) => status >= lo && status <= hi),
  };
}

/** undici sends the target's host and port as Host unless one is given here. */
function checkHeaders(def: HealthCheck): Record<string, string> {
  const given = def.headers ?? {};
  const ownAgent = Object.keys(given).some((name) => name.toLowerCase() === 'user-agent');
  return { ...(ownAgent ? {} : { 'user-agent': USER_AGENT }), ...(def.host === undefined ? {} : { host: def.host }), ...given };
}

export type CheckResult = 'pass' | 'fail' | 'timeout' | 'error';
export const CHECK_RESULTS: readonly CheckResult[] = ['pass', 'fail', 'timeout', 'error'];

export interface LastCheck {
  /** Wall clock, ISO 8601, when the check ended. */
  readonly at: string;
  readonly result: CheckResult;
  readonly durationMs: number;
  /** The answer's status (pass, fail). */
  readonly status?: number;
  /** Why there was no answer (timeout, error). */
  readonly error?: string;
}

/** Runs at most `max` checks at once, the others in the order they became due. */
export class CheckScheduler {
  private running = 0;
  private readonly waiting = new Set<HealthChecker>();

  constructor(readonly max: number) {}

  submit(c: HealthChecker): void {
    if (this.running < this.max) this.start(c);
    else this.waiting.add(c);
  }

  cancel(c: HealthChecker): void {
    this.waiting.delete(c);
  }

  private start(c: HealthChecker): void {
    this.running++;
    void c.runOnce().finally(() => {
      this.running--;
      const next = this.waiting.values().next();
      if (!next.done) {
        this.waiting.delete(next.value);
        this.start(next.value);
      }
    });
  }
}

const CANCELLED = new Error('health check cancelled');
const TIMED_OUT = new Error('health check timed out');

/**
 * With --workers N, one worker checks and the others follow its results (worker-ipc.ts), as one
 * proxy checks once however many threads Envoy runs: N workers would send N checks per interval.
 */
export interface HealthRelay {
  /** This worker sends the checks (worker 1, or the one the primary chose when the leader died). */
  readonly leader: boolean;
  /** The leader's result of the checker under `key` (TargetRegistry's), for the other workers. */
  publish(key: string, last: LastCheck): void;
  /** A follower's way to hear the leader's results, and to be told it leads from now on. */
  follow(onResult: (key: string, last: LastCheck) => void, onLead: () => void): void;
}

export interface HealthCheckerDeps {
  scheduler: CheckScheduler;
  logger?: Logger;
  /** After each transition between healthy and unhealthy. */
  onChange(): void;
  /** After the last release. */
  onStopped(c: HealthChecker): void;
  random?: () => number;
  /** A follower sends no checks: it judges the leader's results (relayed). */
  follower?: boolean;
  /** The leader's: each result, for the followers. */
  publish?(last: LastCheck): void;
}

export class HealthChecker {
  /** Consecutive passes (since the last failure, or the last passive ejection). */
  passes = 0;
  /** Consecutive failures (since the last pass). */
  failures = 0;
  last: LastCheck | null = null;
  /** Checks by result, since this checker started. */
  readonly totals: Record<CheckResult, number> = { pass: 0, fail: 0, timeout: 0, error: 0 };
  private refs = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private running: AbortController | null = null;
  private client: Client | null = null;
  /** Bumped by each passive ejection: a pass of a check started before it is no evidence. */
  private ejectionEpoch = 0;
  private readonly random: () => number;
  private verdict = true;
  private following: boolean;

  constructor(
    readonly target: SharedTarget,
    readonly check: ResolvedHealthCheck,
    private readonly deps: HealthCheckerDeps,
  ) {
    this.random = deps.random ?? Math.random;
    this.following = deps.follower === true;
  }

  /** The verdict of the checks: out of rotation when false. */
  get healthy(): boolean {
    return this.verdict;
  }

  get closed(): boolean {
    return this.stopped;
  }

  retain(): void {
    if (this.stopped) throw new Error(`health check of ${this.target.origin} is stopped`);
    if (this.refs++ > 0) return;
    this.target.checkers.add(this);
    if (!this.following) this.schedule(this.random() * this.check.intervalMs);
  }

  /** A follower sends the checks from now on (the leader died); its counts carry on from the relayed ones. */
  lead(): void {
    if (!this.following) return;
    this.following = false;
    if (this.refs > 0 && !this.stopped) this.schedule(this.random() * this.check.intervalMs);
  }

  /** A follower: the leader's check of the same target and path ended so. */
  relayed(last: LastCheck): void {
    if (this.stopped) return;
    this.last = last;
    this.judge(last.result, this.ejectionEpoch, last);
  }

  release(): Promise<void> {
    if (this.refs > 0) this.refs--;
    if (this.refs > 0 || this.stopped) return Promise.resolve();
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.deps.scheduler.cancel(this);
    this.running?.abort(CANCELLED);
    this.target.checkers.delete(this);
    this.deps.onStopped(this);
    const client = this.client;
    this.client = null;
    return client === null ? Promise.resolve() : client.destroy().catch(() => undefined);
  }

  /** The target was ejected by passive health: passes count again from here. */
  passiveEjection(): void {
    this.passes = 0;
    this.ejectionEpoch++;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.deps.scheduler.submit(this);
    }, delayMs);
    // Checks alone never keep a process alive.
    this.timer.unref();
  }

  /** @internal CheckScheduler: one check, then the next one is timed. Never rejects. */
  async runOnce(): Promise<void> {
    if (this.stopped) return;
    const { path, timeoutMs } = this.check;
    const epoch = this.ejectionEpoch;
    const controller = new AbortController();
    this.running = controller;
    const timer = setTimeout(() => controller.abort(TIMED_OUT), timeoutMs);
    const started = performance.now();
    let result: CheckResult;
    let status: number | undefined;
    let error: string | undefined;
    try {
      this.client ??= new Client(this.target.origin, { ...this.target.options, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      const res = await this.client.request({ path, method: 'GET', headers: this.check.headers, signal: controller.signal });
      status = res.statusCode;
      await res.body.dump();
      result = this.check.expects(status) ? 'pass' : 'fail';
    } catch (err) {
      if (controller.signal.reason === CANCELLED || this.stopped) return;
      if (controller.signal.reason === TIMED_OUT) {
        result = 'timeout';
        error = `no answer within ${timeoutMs} ms`;
      } else {
        result = 'error';
        const code = (err as { code?: unknown }).code;
        error = `${typeof code === 'string' ? `${code}: ` : ''}${errorMessage(err)}`.slice(0, 200);
      }
      // A check cut short (timeout) or failed may leave a connection in any state.
      this.client?.destroy().catch(() => undefined);
      this.client = null;
    } finally {
      clearTimeout(timer);
      this.running = null;
    }
    if (this.stopped) return;
    this.record(result, epoch, { at: new Date().toISOString(), result, durationMs: Math.round(performance.now() - started), status, error });
    this.schedule(this.check.intervalMs * (0.9 + 0.2 * this.random()));
  }

  private record(result: CheckResult, epoch: number, last: LastCheck): void {
    this.totals[result]++;
    this.last = last;
    this.deps.publish?.(last);
    this.judge(result, epoch, last);
  }

  /** Thresholds: consecutive passes bring a target back, consecutive failures take it out. */
  private judge(result: CheckResult, epoch: number, last: LastCheck): void {
    const { healthyThreshold, unhealthyThreshold } = this.check;
    if (result === 'pass') {
      if (epoch !== this.ejectionEpoch) return;
      this.failures = 0;
      this.passes++;
      if (this.passes < healthyThreshold) return;
      this.target.readmit();
      if (this.verdict) return;
      this.verdict = true;
      this.deps.logger?.info({ target: this.target.origin, path: this.check.path, passes: this.passes }, 'target passes its health checks again: back in rotation');
    } else {
      this.passes = 0;
      this.failures++;
      if (!this.verdict || this.failures < unhealthyThreshold) return;
      this.verdict = false;
      this.deps.logger?.warn({ target: this.target.origin, path: this.check.path, failures: this.failures, last }, 'target fails its health checks: out of rotation');
    }
    this.deps.onChange();
  }
}
