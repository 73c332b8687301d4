// Keyed rate limits: one client using up its limit leaves the others theirs.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { TrustedProxies } from '../../src/proxy/forwarded.js';
import { compile, json, named, proxy, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 15_000 };

/** One token, refilled after ~1000 s: a second request is limited however slow the machine. */
const oneToken = (key?: string) => ({ id: 'rl', type: 'rate-limit', requestsPerSecond: 0.001, ...(key ? { key } : {}) });

async function limited(t: TestContext, policy: Record<string, unknown>, opts: { trustedProxies?: TrustedProxies } = {}) {
  const a = await upstream(t, named('a'));
  const doc = {
    upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
    routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', policies: ['rl'] }],
    policies: [policy],
  };
  return { doc, p: await proxy(t, doc, opts) };
}

describe('rate limit keys', () => {
  it('by client address (the default): 127.0.0.1 limited, 127.0.0.2 not', T, async (t) => {
    const { p } = await limited(t, oneToken());
    assert.equal((await send(p.url, '/', { localAddress: '127.0.0.1' })).status, 200);
    const second = await send(p.url, '/', { localAddress: '127.0.0.1' });
    assert.equal(second.status, 429);
    assert.deepEqual(json(second), { error: 'rate_limited' });
    assert.equal((await send(p.url, '/', { localAddress: '127.0.0.2' })).status, 200, 'another address has its own bucket');
    assert.equal((await send(p.url, '/', { localAddress: '127.0.0.2' })).status, 429);
  });

  it('by a header: one key limited, another not; RateLimit-* on every answer, Retry-After on 429', T, async (t) => {
    const { p } = await limited(t, oneToken('header:X-Api-Key'));
    const first = await send(p.url, '/', { headers: { 'x-api-key': 'alice' } });
    assert.equal(first.status, 200);
    assert.equal(first.headers['ratelimit-limit'], '1');
    assert.equal(first.headers['ratelimit-remaining'], '0');
    assert.ok(Number(first.headers['ratelimit-reset']) >= 999, `RateLimit-Reset ${first.headers['ratelimit-reset']}`);
    const again = await send(p.url, '/', { headers: { 'x-api-key': 'alice' } });
    assert.equal(again.status, 429);
    assert.equal(again.headers['ratelimit-remaining'], '0');
    assert.ok(Number(again.headers['retry-after']) >= 999, `Retry-After ${again.headers['retry-after']}`);
    assert.equal((await send(p.url, '/', { headers: { 'x-api-key': 'bob' } })).status, 200);
    // Without the header: by address, in buckets of their own.
    assert.equal((await send(p.url, '/')).status, 200);
    assert.equal((await send(p.url, '/')).status, 429);
  });

  it('behind a trusted proxy, by the client it names; an untrusted peer cannot pick its address', T, async (t) => {
    const { p } = await limited(t, oneToken(), { trustedProxies: TrustedProxies.parse('127.0.0.1') });
    const via = (client: string, localAddress = '127.0.0.1') => send(p.url, '/', { localAddress, headers: { 'x-forwarded-for': client } });
    assert.equal((await via('198.51.100.1')).status, 200);
    assert.equal((await via('198.51.100.1')).status, 429);
    assert.equal((await via('198.51.100.2')).status, 200, 'another client behind the same proxy');
    // 127.0.0.2 is not trusted: its X-Forwarded-For is ignored, so rotating it gains nothing.
    assert.equal((await via('203.0.113.1', '127.0.0.2')).status, 200);
    assert.equal((await via('203.0.113.2', '127.0.0.2')).status, 429);
  });

  it('a limited client stays limited across a config swap that leaves the policy as it was', T, async (t) => {
    const { doc, p } = await limited(t, oneToken('header:x-api-key'));
    const alice = { headers: { 'x-api-key': 'alice' } };
    assert.equal((await send(p.url, '/', alice)).status, 200);
    assert.equal((await send(p.url, '/', alice)).status, 429);
    p.holder.swap(compile({ ...doc, routes: [{ ...doc.routes[0], match: { paths: ['/*', '/extra'] } }] }, p.holder.current));
    assert.equal((await send(p.url, '/', alice)).status, 429, 'same policy definition: same buckets');
    p.holder.swap(compile({ ...doc, policies: [{ ...oneToken('header:x-api-key'), burst: 2 }] }, p.holder.current));
    assert.equal((await send(p.url, '/', alice)).status, 200, 'a changed policy starts afresh');
  });
});
