// rate-limit: a token bucket per key and policy, per proxy, shared by every route that lists the
// policy. The key is the client's address (`ip`, the default; see forwarded.ts for proxies in
// front), the consumer (`consumer`; without one, the address) or a request header's value
// (`header:<name>`; without that header, the address).
//
// Memory is bounded: at most MAX_KEYS buckets per policy, kept in two generations (a new key
// enters the young one; when it is full the old one is dropped whole and the young one becomes
// old; a key found in the old one moves back to the young one). So the keys forgotten first are
// those not seen for longest, each lookup is one or two Map reads, and no flood of distinct keys
// can grow memory past MAX_KEYS entries. A forgotten key starts again with a full bucket, as a
// refilled one would: only a key idle through MAX_KEYS / 2 arrivals of new keys loses its state.
// Header values longer than 64 characters are kept as their SHA-256, so a key costs at most
// ~64 characters whatever a client sends.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_RATE_LIMIT_KEY, type RateLimitPolicy } from '../../config/policies/index.js';
import { RATE_LIMITED, sendJson } from '../respond.js';
import { RecentMap } from '../../util/recent-map.js';
import { LeasedTokens, type LeaseAsker } from './rate-limit-leases.js';
import { CONTINUE, HANDLED, type HeaderEdit, type PolicyContext, type PolicyInstance, type PolicyOutcome, type PolicyResult } from './types.js';

const clock = () => performance.now();

export const MAX_KEYS = 100_000;
const MAX_KEY_CHARS = 64;

export class TokenBucket {
  readonly capacity: number;
  readonly ratePerMs: number;
  private tokens: number;
  private last: number;

  constructor(requestsPerSecond: number, capacity: number, now: number) {
    this.capacity = capacity;
    this.ratePerMs = requestsPerSecond / 1000;
    this.tokens = capacity;
    this.last = now;
  }

  /** Take one token: 0 when granted, else the ms until one will be available. */
  take(now: number): number {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.ratePerMs);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / this.ratePerMs;
  }

  /** Whole tokens left, as of the last take. */
  get remaining(): number {
    return Math.floor(this.tokens);
  }

  /** Ms from the last take until the bucket is full again. */
  get msUntilFull(): number {
    return (this.capacity - this.tokens) / this.ratePerMs;
  }
}

export function defaultBurst(requestsPerSecond: number): number {
  return Math.max(1, Math.ceil(requestsPerSecond));
}

/** At most `max` buckets; the least recently used generation is dropped first (see above). */
export class BoundedBuckets {
  private readonly buckets: RecentMap<TokenBucket>;

  constructor(
    max: number,
    private readonly create: (now: number) => TokenBucket,
  ) {
    this.buckets = new RecentMap(max);
  }

  get size(): number {
    return this.buckets.size;
  }

  get(key: string, now: number): TokenBucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = this.create(now);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }
}

/** Set in a worker of a pool (--workers N): rate limits then lease their tokens from the primary. */
let pool: { asker: LeaseAsker; workers: number } | null = null;

/** Called once in a pool's worker, before any config is compiled (cli/proxy.ts). */
export function shareRateLimits(asker: LeaseAsker, workers: number): void {
  pool = { asker, workers };
}

export class RateLimit implements PolicyInstance {
  readonly id: string;
  readonly type = 'rate-limit';
  /** The burst: RateLimit-Limit. */
  readonly limit: number;
  readonly buckets: BoundedBuckets;
  /** Lowercased header name for `header:<name>` keys; null keys by address (or consumer). */
  private readonly header: string | null;
  /** `consumer`: keyed by the consumer an auth policy before this one identified. */
  private readonly byConsumer: boolean;
  /** RateLimit-Limit, the same on every answer. */
  private readonly limitEdit: HeaderEdit;
  /** In a pool's worker, the tokens leased from the primary's buckets (rate-limit-leases.ts). */
  private readonly leased: LeasedTokens | null;

  constructor(def: RateLimitPolicy, maxKeys: number = MAX_KEYS, shared = pool) {
    this.id = def.id;
    this.limit = def.burst ?? defaultBurst(def.requestsPerSecond);
    this.limitEdit = { op: 'set', name: 'ratelimit-limit', value: String(this.limit) };
    const key = def.key ?? DEFAULT_RATE_LIMIT_KEY;
    this.header = key.startsWith('header:') ? key.slice('header:'.length).toLowerCase() : null;
    this.byConsumer = key === 'consumer';
    this.buckets = new BoundedBuckets(maxKeys, (now) => new TokenBucket(def.requestsPerSecond, this.limit, now));
    const bucket = JSON.stringify([def.id, def.requestsPerSecond, this.limit, key]);
    this.leased = shared === null ? null : new LeasedTokens(shared.asker, bucket, def.requestsPerSecond, this.limit, shared.workers, maxKeys);
  }

  /** The bucket key of a request. Header values and addresses never share a bucket. */
  keyOf(req: IncomingMessage, ctx: PolicyContext): string {
    // Without a consumer (no auth policy before this one let it through as one), the address.
    if (this.byConsumer) return ctx.consumer === null ? ctx.clientIp : `\x02${ctx.consumer}`;
    if (this.header === null) return ctx.clientIp;
    const value = req.headers[this.header];
    if (typeof value !== 'string') return `\0${ctx.clientIp}`;
    if (value.length <= MAX_KEY_CHARS) return value;
    return `\x01${createHash('sha256').update(value).digest('base64')}`;
  }

  handle(req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): PolicyOutcome {
    const key = this.keyOf(req, ctx);
    if (this.leased !== null) return this.handleLeased(key, res, ctx);
    const bucket = this.buckets.get(key, ctx.now);
    return this.answer(bucket.take(ctx.now), bucket.remaining, bucket.msUntilFull, res, ctx);
  }

  /** A token held for the key is spent at once; without one, the primary is asked for more. */
  private handleLeased(key: string, res: ServerResponse, ctx: PolicyContext): PolicyOutcome {
    const leased = this.leased!;
    const c = leased.credit(key);
    if (c.spend(ctx.now)) return this.answer(0, c.remaining + Math.floor(c.tokens), c.resetMs, res, ctx);
    return leased.spendLeased(key, c, clock).then((waitMs) => this.answer(waitMs, c.remaining + Math.floor(c.tokens), c.resetMs, res, ctx));
  }

  private answer(waitMs: number, remaining: number, msUntilFull: number, res: ServerResponse, ctx: PolicyContext): PolicyResult {
    // draft-ietf-httpapi-ratelimit-headers (-03..-06): the burst, whole tokens left, seconds
    // until the bucket is full again. As response edits, never res.setHeader: a header set on
    // the response before the upstream answers sends every forwarded answer down writeHead's
    // slow path (own-answer.ts); measured, that alone cost the policy chain bench a tenth.
    ctx.addResponseEdit(this.limitEdit);
    ctx.addResponseEdit({ op: 'set', name: 'ratelimit-remaining', value: String(remaining) });
    ctx.addResponseEdit({ op: 'set', name: 'ratelimit-reset', value: String(Math.ceil(msUntilFull / 1000)) });
    if (waitMs === 0) return CONTINUE;
    sendJson(res, 429, RATE_LIMITED, { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) });
    return HANDLED;
  }
}

