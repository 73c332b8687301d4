import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryBudget, retryBudgetOf } from '../../src/proxy/retry-budget.js';
import {
  GIVE_UP,
  MAX_ATTEMPTS,
  NOT_WRITTEN,
  REPLAY,
  RESET,
  RETRY,
  STATUS,
  UNTRIED,
  compileRetryPolicy,
  decideRetry,
  retryBackoffMs,
  type RetryState,
} from '../../src/proxy/retry.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function retries(b: RetryBudget, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (b.tryRetry()) ok++;
  return ok;
}

describe('retry budget', () => {
  it('allows 20 % of recent requests plus a minimum of 10, never more than the requests', () => {
    const c = clock();
    const b = new RetryBudget({ now: c.now });
    assert.equal(b.tryRetry(), false, 'no request, no retry');
    for (let i = 0; i < 4; i++) b.recordRequest();
    assert.equal(retries(b, 10), 4, 'a quiet upstream: at most one retry per request');
    for (let i = 0; i < 996; i++) b.recordRequest();
    assert.equal(b.allowance(), 210);
    assert.equal(retries(b, 1000), 206, 'the rest of 20 % of 1,000 plus 10');
  });

  it('forgets what left the 10 s window, slot by slot', () => {
    const c = clock();
    const b = new RetryBudget({ now: c.now });
    for (let i = 0; i < 100; i++) b.recordRequest();
    assert.equal(retries(b, 100), 30);
    c.advance(5_000);
    assert.equal(retries(b, 1), 0, 'the same window');
    for (let i = 0; i < 100; i++) b.recordRequest();
    assert.equal(retries(b, 100), 20, '200 requests allow 50; 30 were used');
    c.advance(5_000);
    assert.equal(b.allowance(), 30, 'the first 100 requests left the window');
    assert.equal(retries(b, 100), 10, 'their 30 retries left with them');
    c.advance(60_000);
    assert.equal(b.allowance(), 0);
  });

  it('retries recorded without asking use up the allowance', () => {
    const c = clock();
    const b = new RetryBudget({ now: c.now });
    for (let i = 0; i < 20; i++) b.recordRequest();
    for (let i = 0; i < 14; i++) b.recordRetry();
    assert.equal(retries(b, 10), 0);
  });

  it('is one per upstream pool, kept while the pool lives', () => {
    const a = {};
    assert.equal(retryBudgetOf(a), retryBudgetOf(a));
    assert.notEqual(retryBudgetOf(a), retryBudgetOf({}));
  });
});

describe('retry decision', () => {
  const state = (over: Partial<RetryState> = {}): RetryState => ({
    attempts: 1,
    replayed: false,
    method: 'GET',
    hasBody: false,
    bodyKept: true,
    untriedLeft: true,
    ...over,
  });
  const policy = compileRetryPolicy({ attempts: 3, on: [503, 'reset', 'connect-failure'] });
  const budget = () => {
    const b = new RetryBudget();
    for (let i = 0; i < 100; i++) b.recordRequest();
    return b;
  };

  it('nothing written: another target, any method, up to 3 attempts, without a route policy', () => {
    assert.equal(decideRetry(NOT_WRITTEN, 0, state({ method: 'POST', hasBody: true, bodyKept: false }), null, null), UNTRIED);
    assert.equal(decideRetry(NOT_WRITTEN, 0, state({ attempts: MAX_ATTEMPTS }), null, null), GIVE_UP);
    assert.equal(decideRetry(NOT_WRITTEN, 0, state({ untriedLeft: false }), null, null), GIVE_UP);
    const p = compileRetryPolicy({ attempts: 5, on: ['connect-failure'] });
    assert.equal(decideRetry(NOT_WRITTEN, 0, state({ attempts: 4, untriedLeft: false }), p, budget()), RETRY, 'connect-failure goes on to `attempts`');
    assert.equal(decideRetry(NOT_WRITTEN, 0, state({ attempts: 5 }), p, budget()), GIVE_UP);
  });

  it('reset after the write: the proxy replays a safe body-less request once, then the route policy decides', () => {
    assert.equal(decideRetry(RESET, 0, state(), null, null), REPLAY);
    assert.equal(decideRetry(RESET, 0, state({ replayed: true }), null, null), GIVE_UP);
    assert.equal(decideRetry(RESET, 0, state({ method: 'PUT', hasBody: true }), null, null), GIVE_UP);
    assert.equal(decideRetry(RESET, 0, state({ method: 'PUT', hasBody: true }), policy, budget()), RETRY);
    assert.equal(decideRetry(RESET, 0, state({ attempts: 2, replayed: true }), policy, budget()), RETRY);
    assert.equal(decideRetry(RESET, 0, state({ attempts: 3, replayed: true }), policy, budget()), GIVE_UP);
  });

  it('statuses: only those listed, only idempotent methods, only with the body kept, within the budget', () => {
    assert.equal(decideRetry(STATUS, 503, state(), policy, budget()), RETRY);
    assert.equal(decideRetry(STATUS, 500, state(), policy, budget()), GIVE_UP);
    for (const method of ['POST', 'PATCH', 'CONNECT', 'LOCK']) assert.equal(decideRetry(STATUS, 503, state({ method }), policy, budget()), GIVE_UP, method);
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) assert.equal(decideRetry(STATUS, 503, state({ method }), policy, budget()), RETRY, method);
    assert.equal(decideRetry(STATUS, 503, state({ method: 'PUT', hasBody: true, bodyKept: false }), policy, budget()), GIVE_UP);
    assert.equal(decideRetry(STATUS, 503, state(), null, null), GIVE_UP, 'no policy: the answer goes to the client');
    assert.equal(decideRetry(STATUS, 503, state(), policy, new RetryBudget()), GIVE_UP, 'an empty budget');
  });

  it('"on" defaults to connect failures, resets and 502, 503, 504', () => {
    const p = compileRetryPolicy({ attempts: 2 })!;
    assert.deepEqual([...p.statuses], [502, 503, 504]);
    assert.equal(p.reset && p.connectFailure, true);
  });
});

describe('retry backoff', () => {
  it('doubles from the base up to ten times it, jittered between half and all of that', () => {
    const policy = compileRetryPolicy({ attempts: 10, backoffMs: 100 })!;
    const range = (retry: number) => [retryBackoffMs(policy, retry, 0), retryBackoffMs(policy, retry, 0.999_999)];
    assert.deepEqual([1, 2, 3, 4, 5, 9].map(range), [[50, 100], [100, 200], [200, 400], [400, 800], [500, 1000], [500, 1000]]);
  });

  it("waits Envoy's 25 ms base by default, and not at all with backoffMs 0", () => {
    assert.equal(retryBackoffMs(compileRetryPolicy({ attempts: 3 })!, 1, 0.999_999), 25);
    assert.equal(retryBackoffMs(compileRetryPolicy({ attempts: 3, backoffMs: 0 })!, 4, 0.5), 0);
  });
});
