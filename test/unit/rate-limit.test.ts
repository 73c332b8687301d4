import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { BoundedBuckets, CONTINUE, HANDLED, NO_CONSUMERS, PolicyContext, RateLimit, TokenBucket, createPolicy } from '../../src/proxy/policies/index.js';

function fakeRes() {
  const headers: Record<string, string> = {};
  let body = '';
  const res = {
    headersSent: false,
    destroyed: false,
    statusCode: 200,
    req: { method: 'GET' },
    setHeader(n: string, v: string | number) {
      headers[n] = String(v);
    },
    end(b?: Buffer) {
      body = b?.toString() ?? '';
      this.headersSent = true;
    },
  };
  return { res: res as unknown as ServerResponse, headers, body: () => body, status: () => res.statusCode };
}

const req = (headers: Record<string, string> = {}) => ({ headers }) as unknown as IncomingMessage;
const ctx = (clientIp: string, now = 0) => new PolicyContext('r', now, clientIp, 'req-1', NO_CONSUMERS, fakeRes().res as unknown as ServerResponse);

describe('rate limit: bucket', () => {
  it('token bucket: starts full, refills at the rate, caps at capacity, reports the wait', () => {
    const b = new TokenBucket(2, 3, 0);
    assert.equal(b.take(0), 0);
    assert.equal(b.take(0), 0);
    assert.equal(b.take(0), 0);
    assert.equal(b.take(0), 500, '2/s: next token in 500 ms');
    assert.equal(b.take(250), 250);
    assert.equal(b.take(500), 0);
    assert.equal(b.take(10_000), 0);
    assert.equal(b.take(10_000), 0);
    assert.equal(b.take(10_000), 0);
    assert.ok(b.take(10_000) > 0, 'capacity 3 even after a long idle time');
  });

  it('rate-limit answers 429 with Retry-After and JSON once the burst is used', () => {
    const p = createPolicy({ id: 'rl', type: 'rate-limit', requestsPerSecond: 0.5 });
    assert.ok(p instanceof RateLimit);
    assert.equal(p.limit, 1, 'default burst = max(1, ceil(rps))');
    const ok = fakeRes();
    assert.equal(p.handle(req(), ok.res, ctx('192.0.2.1', 0)), CONTINUE);
    const limited = fakeRes();
    assert.equal(p.handle(req(), limited.res, ctx('192.0.2.1', 100)), HANDLED);
    assert.equal(limited.status(), 429);
    assert.equal(limited.headers['retry-after'], '2');
    assert.deepEqual(JSON.parse(limited.body()), { error: 'rate_limited' });
    assert.equal(createPolicy({ id: 'x', type: 'rate-limit', requestsPerSecond: 10.5 }).type, 'rate-limit');
    assert.equal((createPolicy({ id: 'x', type: 'rate-limit', requestsPerSecond: 10.5 }) as RateLimit).limit, 11);
  });
});

describe('rate limit: keys', () => {
  it('by default one bucket per client address', () => {
    const rl = new RateLimit({ id: 'rl', type: 'rate-limit', requestsPerSecond: 0.001 });
    assert.equal(rl.handle(req(), fakeRes().res, ctx('192.0.2.1')), CONTINUE);
    assert.equal(rl.handle(req(), fakeRes().res, ctx('192.0.2.1')), HANDLED);
    assert.equal(rl.handle(req(), fakeRes().res, ctx('192.0.2.2')), CONTINUE, 'another client has its own bucket');
  });

  it('header:<name> keys by the header, and by address (apart) without it; long values by their hash', () => {
    const rl = new RateLimit({ id: 'rl', type: 'rate-limit', requestsPerSecond: 1, key: 'header:X-Api-Key' });
    assert.equal(rl.keyOf(req({ 'x-api-key': 'alice' }), ctx('192.0.2.1')), 'alice');
    assert.equal(rl.keyOf(req(), ctx('192.0.2.1')), '\u0000192.0.2.1');
    assert.notEqual(rl.keyOf(req({ 'x-api-key': '192.0.2.1' }), ctx('192.0.2.9')), rl.keyOf(req(), ctx('192.0.2.1')), 'a header value never lands in an address bucket');
    const long = rl.keyOf(req({ 'x-api-key': 'k'.repeat(10_000) }), ctx('192.0.2.1'));
    assert.ok(long.length <= 64, `key of ${long.length} chars`);
    assert.notEqual(long, rl.keyOf(req({ 'x-api-key': `${'k'.repeat(9_999)}j` }), ctx('192.0.2.1')));
  });

  it('sets RateLimit-Limit, -Remaining, -Reset on every answer, and Retry-After on a 429', () => {
    const rl = new RateLimit({ id: 'rl', type: 'rate-limit', requestsPerSecond: 2, burst: 3 });
    const first = fakeRes();
    const passed = new PolicyContext('r', 0, 'a', 'req-1', NO_CONSUMERS, first.res);
    assert.equal(rl.handle(req(), first.res, passed), CONTINUE);
    assert.deepEqual(first.headers, {}, 'nothing set on the response before the upstream answers');
    assert.deepEqual(
      passed.responseEdits?.map((e) => [e.name, e.value]),
      [['ratelimit-limit', '3'], ['ratelimit-remaining', '2'], ['ratelimit-reset', '1']],
      'put on the upstream\'s answer as response edits',
    );
    rl.handle(req(), fakeRes().res, ctx('a', 0));
    rl.handle(req(), fakeRes().res, ctx('a', 0));
    const limited = fakeRes();
    assert.equal(rl.handle(req(), limited.res, new PolicyContext('r', 0, 'a', 'req-1', NO_CONSUMERS, limited.res)), HANDLED);
    assert.equal(limited.status(), 429);
    assert.equal(limited.headers['ratelimit-remaining'], '0');
    assert.equal(limited.headers['ratelimit-reset'], '2', '3 tokens at 2/s: full again in 1.5 s, rounded up');
    assert.equal(limited.headers['retry-after'], '1', 'next token in 0.5 s, rounded up');
  });
});

describe('rate limit: bounded keys', () => {
  it('never holds more than its bound, however many distinct keys arrive', () => {
    const b = new BoundedBuckets(1000, (now) => new TokenBucket(1, 1, now));
    for (let i = 0; i < 100_000; i++) {
      b.get(`k${i}`, 0);
      assert.ok(b.size <= 1000);
    }
  });

  it('keeps a key in use while a flood of new keys passes; forgets one idle for half the bound', () => {
    const b = new BoundedBuckets(10, (now) => new TokenBucket(1, 1, now));
    const busy = b.get('busy', 0);
    busy.take(0);
    for (let i = 0; i < 100; i++) {
      b.get(`flood${i}`, 0);
      if (i % 3 === 0) assert.equal(b.get('busy', 0), busy, 'a key seen within every generation keeps its bucket');
    }
    const idle = b.get('idle', 0);
    for (let i = 0; i < 10; i++) b.get(`more${i}`, 0);
    assert.notEqual(b.get('idle', 0), idle, 'idle through a whole generation: forgotten');
  });
});
