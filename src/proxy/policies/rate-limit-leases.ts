// rate-limit across the workers of one proxy (--workers N): one token bucket per key, held by the
// pool's primary, from which each worker leases a few tokens at a time. Per worker buckets would
// give a client N times the configured rate, the more so as round-robin spreads its connections
// over the workers (APISIX and Kong keep theirs in a shared dict that every nginx worker reads;
// Node processes share no memory, so the primary is where the count lives).
//
// A worker that holds tokens for a key spends them without asking: only every `leaseSize`
// requests of a key does it wait for the primary (one IPC round trip). A lease not spent within
// LEASE_MS is dropped, and the primary counts each lease as out (not refillable) for twice that,
// so the tokens in the bucket plus those out on lease never exceed the burst: a client gets at
// most the burst at once and the rate over time, as from one bucket, and a little less when a
// lease expires unspent.
import { RecentMap } from '../../util/recent-map.js';

/** How long a worker may spend a lease; the primary counts it out for twice that. */
export const LEASE_MS = 100;
/**
 * A worker whose primary does not answer in this long lets the request through, as Envoy's rate
 * limit filter does by default when its service fails.
 */
export const ANSWER_TIMEOUT_MS = 1_000;
/** Policies (their id and settings) the primary keeps buckets for; keys per policy are bounded apart. */
const MAX_POLICIES = 1_000;

/** What a worker asks of the primary: up to `want` tokens of `key` in the bucket named `bucket`. */
export interface LeaseRequest {
  /** The policy and its settings: a policy changed in the config starts new buckets. */
  bucket: string;
  key: string;
  want: number;
  requestsPerSecond: number;
  burst: number;
}

export interface LeaseGrant {
  granted: number;
  /** Whole tokens left in the primary's bucket. */
  remaining: number;
  /** Ms until the bucket is full again. */
  resetMs: number;
  /** With nothing granted, ms until a token will be there. */
  waitMs: number;
}

/** The worker's way to the primary (PrimaryLink). */
export interface LeaseAsker {
  lease(request: LeaseRequest): Promise<LeaseGrant>;
}

/** Tokens per lease: a tenth of a second of the rate, at most a share of the burst, at least one. */
export function leaseSize(requestsPerSecond: number, burst: number, workers: number): number {
  return Math.max(1, Math.floor(Math.min((requestsPerSecond * LEASE_MS) / 1000, burst / (2 * workers))));
}

/** A grant when the primary cannot be asked: the requests waiting go through. */
export function failOpen(want: number): LeaseGrant {
  return { granted: want, remaining: want, resetMs: 0, waitMs: 0 };
}

class KeyBucket {
  tokens: number;
  last: number;
  /** Leases still counted out: [until, count] pairs, oldest first. */
  readonly out: number[] = [];

  constructor(burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  /** Tokens out on lease at `now`; expired leases are forgotten. */
  outstanding(now: number): number {
    while (this.out.length > 0 && this.out[0]! <= now) this.out.splice(0, 2);
    let n = 0;
    for (let i = 1; i < this.out.length; i += 2) n += this.out[i]!;
    return n;
  }
}

/** The primary's side: the buckets, and what each lease takes from them. */
export class LeaseBank {
  private readonly policies = new RecentMap<RecentMap<KeyBucket>>(MAX_POLICIES);

  constructor(private readonly maxKeys: number) {}

  grant(r: LeaseRequest, now: number): LeaseGrant {
    let keys = this.policies.get(r.bucket);
    if (keys === undefined) this.policies.set(r.bucket, (keys = new RecentMap(this.maxKeys)));
    let b = keys.get(r.key);
    if (b === undefined) keys.set(r.key, (b = new KeyBucket(r.burst, now)));
    const ratePerMs = r.requestsPerSecond / 1000;
    const out = b.outstanding(now);
    if (now > b.last) {
      // Refill up to what the leases out leave of the burst, never taking back what is there.
      b.tokens = Math.max(b.tokens, Math.min(r.burst - out, b.tokens + (now - b.last) * ratePerMs));
      b.last = now;
    }
    const granted = Math.max(0, Math.min(r.want, Math.floor(b.tokens)));
    if (granted > 0) {
      b.tokens -= granted;
      b.out.push(now + 2 * LEASE_MS, granted);
    }
    return {
      granted,
      remaining: Math.floor(b.tokens),
      resetMs: (r.burst - b.tokens) / ratePerMs,
      waitMs: granted > 0 ? 0 : (1 - b.tokens) / ratePerMs,
    };
  }
}

/** What a worker holds of one key: tokens leased, spendable until `until`, and the last answer. */
export class Credit {
  tokens = 0;
  until = 0;
  remaining = 0;
  resetMs = 0;
  waitMs = 0;
  /** The lease being asked for, shared by the requests that wait on it. */
  pending: Promise<void> | null = null;

  /** Spend one token if one is held and its lease still runs. */
  spend(now: number): boolean {
    if (this.tokens >= 1 && now < this.until) {
      this.tokens--;
      return true;
    }
    return false;
  }
}

/** A worker's side, per rate-limit policy: its credits, and the leases it asks for. */
export class LeasedTokens {
  private readonly credits: RecentMap<Credit>;
  private readonly size: number;

  constructor(
    private readonly asker: LeaseAsker,
    private readonly bucket: string,
    private readonly requestsPerSecond: number,
    private readonly burst: number,
    workers: number,
    maxKeys: number,
  ) {
    this.credits = new RecentMap(maxKeys);
    this.size = leaseSize(requestsPerSecond, burst, workers);
  }

  credit(key: string): Credit {
    let c = this.credits.get(key);
    if (c === undefined) this.credits.set(key, (c = new Credit()));
    return c;
  }

  /**
   * Ms to wait (0: a token was spent) once the primary has answered. Requests waiting together
   * share one lease; one that finds it spent asks again while the primary still had tokens.
   */
  async spendLeased(key: string, c: Credit, clock: () => number): Promise<number> {
    for (let attempt = 0; attempt < 3; attempt++) {
      await (c.pending ??= this.lease(key, c, clock));
      if (c.spend(clock())) return 0;
      if (c.remaining < 1) break;
    }
    return Math.max(1, c.waitMs);
  }

  private async lease(key: string, c: Credit, clock: () => number): Promise<void> {
    try {
      const g = await this.asker.lease({ bucket: this.bucket, key, want: this.size, requestsPerSecond: this.requestsPerSecond, burst: this.burst });
      c.tokens = g.granted;
      c.until = clock() + LEASE_MS;
      c.remaining = g.remaining;
      c.resetMs = g.resetMs;
      c.waitMs = g.waitMs;
    } finally {
      c.pending = null;
    }
  }
}
