// rate-limit: one token bucket per policy per proxy, shared by every route that lists it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RateLimitPolicy } from '../../config/schema.js';
import { RATE_LIMITED, sendJson } from '../respond.js';
import { CONTINUE, HANDLED, type PolicyContext, type PolicyInstance, type PolicyResult } from './types.js';

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
}

export function defaultBurst(requestsPerSecond: number): number {
  return Math.max(1, Math.ceil(requestsPerSecond));
}

export class RateLimit implements PolicyInstance {
  readonly id: string;
  readonly type = 'rate-limit';
  readonly bucket: TokenBucket;

  constructor(def: RateLimitPolicy, now: number = performance.now()) {
    this.id = def.id;
    this.bucket = new TokenBucket(def.requestsPerSecond, def.burst ?? defaultBurst(def.requestsPerSecond), now);
  }

  handle(_req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): PolicyResult {
    const waitMs = this.bucket.take(ctx.now);
    if (waitMs === 0) return CONTINUE;
    sendJson(res, 429, RATE_LIMITED, { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) });
    return HANDLED;
  }
}
