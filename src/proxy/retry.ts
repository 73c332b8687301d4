// Whether a failed attempt is tried again, and where: the one place that decides (forward.ts
// asks after every failure). Two kinds of retry:
//
// The proxy's own, on every route (as before `retries` existed), free of the budget's permission:
//   - Nothing was written (the connect failed, or anything before undici wrote the request): to
//     a target not tried yet, any method, up to MAX_ATTEMPTS. The target never saw the request
//     (and the body was not read yet).
//   - Written, then reset or answered with something that is not HTTP: a safe method (GET, HEAD,
//     OPTIONS, TRACE) without a body, once, to another target when there is one. That is also how
//     a keep-alive connection the upstream closed just as the request went out is recovered.
//
// A route's `retries`, on top of those, each one only when the upstream's retry budget allows it
// (retry-budget.ts):
//   - `connect-failure`: "nothing was written" is tried again up to `attempts`, also on a target
//     tried before once every one has been.
//   - `reset` and statuses: only idempotent methods (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE,
//     PUT, DELETE), and only when the body can be sent again: no body, or one the proxy kept
//     (Content-Length up to RETRY_BODY_LIMIT_BYTES, read whole before the first attempt, as
//     Envoy's per_request_buffer_limit_bytes; a chunked or larger body is streamed as usual and
//     its request is not retried once written). POST, PATCH and the rest reach an upstream that
//     may have acted on them at most once: they get the upstream's answer (or 502 on a reset),
//     as nginx's proxy_next_upstream does without non_idempotent.
//   - `attempts` counts every attempt, the first and the proxy's own included.
//   - A retry goes to a target this request has not tried when there is one, else to any.
//   - When no retry is left the client gets the last answer as the upstream gave it.
//
// A route's retries wait first (`backoffMs`), the proxy's own do not: those go to a target that
// never saw the request, or recover a keep-alive connection closed under it, and waiting would
// only add latency. A route's retry is for an answer the upstream gave or a reset it made, and
// retrying a struggling upstream at once, from every proxy, is how a blip becomes an overload.
import type { Route } from '../config/schema.js';
import { DEFAULT_RETRY_BACKOFF_MS, DEFAULT_RETRY_ON } from '../config/schema.js';
import type { RetryBudget } from './retry-budget.js';

/** Attempts for a request that never reached a target, on any route. */
export const MAX_ATTEMPTS = 3;
/** A retry's backoff stops doubling at this many times the base (Envoy's max_interval default). */
const MAX_BACKOFF_FACTOR = 10;
/** Bodies up to this size are kept so that a route's retries can send them again. */
export const RETRY_BODY_LIMIT_BYTES = 64 * 1024;

export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export interface RetryPolicy {
  readonly attempts: number;
  readonly statuses: ReadonlySet<number>;
  readonly connectFailure: boolean;
  readonly reset: boolean;
  /** Base of the wait before a retry; 0: none. */
  readonly backoffMs: number;
}

export function compileRetryPolicy(def: Route['retries']): RetryPolicy | null {
  if (def === undefined) return null;
  const on = def.on ?? DEFAULT_RETRY_ON;
  return {
    attempts: def.attempts,
    statuses: new Set(on.filter((c): c is number => typeof c === 'number')),
    connectFailure: on.includes('connect-failure'),
    reset: on.includes('reset'),
    backoffMs: def.backoffMs ?? DEFAULT_RETRY_BACKOFF_MS,
  };
}

/**
 * The wait before a route's `retry`th retry (1, 2, ...): the base doubled each time up to
 * MAX_BACKOFF_FACTOR times it, then between half of that and all of it (`random` in [0, 1)), so
 * retries of many requests spread out and none comes back at once.
 */
export function retryBackoffMs(policy: RetryPolicy, retry: number, random: number): number {
  const ceiling = policy.backoffMs * Math.min(2 ** (retry - 1), MAX_BACKOFF_FACTOR);
  return Math.round(ceiling * (0.5 + random / 2));
}

/** A policy that may retry a request after it was written: its body must be kept for that. */
export function retriesWritten(p: RetryPolicy): boolean {
  return p.reset || p.statuses.size > 0;
}

/** How an attempt failed. */
export const NOT_WRITTEN = 0;
export const RESET = 1;
export const STATUS = 2;

/** What to do: give up; retry on an untried target only; replay (the proxy's own) or retry, on another target if any. */
export const GIVE_UP = 0;
export const UNTRIED = 1;
export const REPLAY = 2;
export const RETRY = 3;

export interface RetryState {
  /** Attempts made, the failed one included. */
  readonly attempts: number;
  /** The proxy's own replay after a write was used. */
  readonly replayed: boolean;
  readonly method: string;
  readonly hasBody: boolean;
  /** The body can be sent again: none, or kept whole. */
  readonly bodyKept: boolean;
  /** Some target of the upstream has not been tried by this request. */
  readonly untriedLeft: boolean;
}

/**
 * The decision after an attempt failed (`status`: the answer, for STATUS). A RETRY has been
 * counted against `budget`; a REPLAY is recorded in it when the route has one.
 */
export function decideRetry(failure: number, status: number, s: RetryState, policy: RetryPolicy | null, budget: RetryBudget | null): number {
  if (failure === NOT_WRITTEN) {
    if (s.attempts < MAX_ATTEMPTS && s.untriedLeft) return UNTRIED;
    return policy !== null && policy.connectFailure && s.attempts < policy.attempts && budget!.tryRetry() ? RETRY : GIVE_UP;
  }
  if (failure === RESET && !s.replayed && !s.hasBody && SAFE_METHODS.has(s.method)) {
    budget?.recordRetry();
    return REPLAY;
  }
  if (policy === null || s.attempts >= policy.attempts || !s.bodyKept || !IDEMPOTENT_METHODS.has(s.method)) return GIVE_UP;
  const wanted = failure === RESET ? policy.reset : policy.statuses.has(status);
  return wanted && budget!.tryRetry() ? RETRY : GIVE_UP;
}
