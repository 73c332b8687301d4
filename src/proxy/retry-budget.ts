// How many retries an upstream may get: a share of the requests sent to it recently, so that
// when it is sick, retries never add more than a bounded share of load (Finagle's RetryBudget,
// Envoy's retry_budget; the Google SRE book's "retry budget").
//
// Over a sliding window of WINDOW_MS (in SLOTS slots), a retry is allowed while
//   retries < min(requests, ratio × requests + minimum)
// so retries never exceed the requests themselves (the load at most doubles, whatever
// `attempts` says), and beyond a small minimum that lets a quiet upstream retry at all, they stay
// under `ratio` of the requests (20 %: 1.2× the load). Requests count when they start; replays
// the proxy makes on its own (forward.ts) are recorded as retries without asking, so they use up
// the same allowance.
//
// One budget per upstream pool, shared by every route that retries on it, and kept as long as
// the pool is (a config swap that leaves the upstream unchanged keeps its history).
import { performance } from 'node:perf_hooks';

export const RETRY_BUDGET_RATIO = 0.2;
export const RETRY_BUDGET_MINIMUM = 10;
export const RETRY_BUDGET_WINDOW_MS = 10_000;
const SLOTS = 10;

export interface RetryBudgetOptions {
  ratio?: number;
  minimum?: number;
  windowMs?: number;
  /** Monotonic clock in ms (tests inject one). */
  now?: () => number;
}

const monotonic = (): number => performance.now();

export class RetryBudget {
  private readonly ratio: number;
  private readonly minimum: number;
  private readonly slotMs: number;
  private readonly now: () => number;
  private readonly requestSlots = new Float64Array(SLOTS);
  private readonly retrySlots = new Float64Array(SLOTS);
  private requests = 0;
  private retries = 0;
  private tick = 0;

  constructor(opts: RetryBudgetOptions = {}) {
    this.ratio = opts.ratio ?? RETRY_BUDGET_RATIO;
    this.minimum = opts.minimum ?? RETRY_BUDGET_MINIMUM;
    this.slotMs = (opts.windowMs ?? RETRY_BUDGET_WINDOW_MS) / SLOTS;
    this.now = opts.now ?? monotonic;
    this.tick = Math.floor(this.now() / this.slotMs);
  }

  /** A request to the upstream started. */
  recordRequest(): void {
    const slot = this.advance();
    this.requestSlots[slot]!++;
    this.requests++;
  }

  /** A retry the proxy makes regardless of the budget; it still counts against it. */
  recordRetry(): void {
    const slot = this.advance();
    this.retrySlots[slot]!++;
    this.retries++;
  }

  /** Whether one more retry fits; if so it is counted. */
  tryRetry(): boolean {
    const slot = this.advance();
    if (this.retries >= this.limit()) return false;
    this.retrySlots[slot]!++;
    this.retries++;
    return true;
  }

  /** Retries the window allows in all (used or not). */
  allowance(): number {
    this.advance();
    return this.limit();
  }

  private limit(): number {
    return Math.min(this.requests, Math.floor(this.ratio * this.requests) + this.minimum);
  }

  /** Forget slots that left the window; the index of the current slot. */
  private advance(): number {
    const tick = Math.floor(this.now() / this.slotMs);
    if (tick !== this.tick) {
      const stale = Math.min(tick - this.tick, SLOTS);
      for (let i = 1; i <= stale; i++) {
        const slot = (this.tick + i) % SLOTS;
        this.requests -= this.requestSlots[slot]!;
        this.retries -= this.retrySlots[slot]!;
        this.requestSlots[slot] = 0;
        this.retrySlots[slot] = 0;
      }
      this.tick = tick;
    }
    return tick % SLOTS;
  }
}

const budgets = new WeakMap<object, RetryBudget>();

/**
 * The budget of one upstream pool: the same object for as long as the pool lives, so routes
 * compiled against a reused pool share its history.
 */
export function retryBudgetOf(pool: object): RetryBudget {
  let b = budgets.get(pool);
  if (b === undefined) {
    b = new RetryBudget();
    budgets.set(pool, b);
  }
  return b;
}
