// key-auth and basic-auth against a real upstream through a real proxy: who gets in, what the
// upstream sees (the consumer's id, never the credential, never a client's own X-Consumer-Id),
// and that a refused request never reaches the upstream.
import assert from 'node:assert/strict';
import type { RequestListener } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { json, named, proxy, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 20_000 };
const ALICE_KEY = 'alice-key-0123456789abcdef';
const BOB_KEY = 'bob-key-0123456789abcdef00';

/** An upstream that echoes on /echo and records every request it receives. */
async function recorded(t: TestContext) {
  const seen: { url: string; headers: Record<string, unknown> }[] = [];
  const echo = named('up');
  const handler: RequestListener = (req, res) => {
    seen.push({ url: req.url ?? '', headers: { ...req.headers } });
    echo(req, res);
  };
  return { up: await upstream(t, handler), seen };
}

const consumers = [
  { id: 'alice', keys: [ALICE_KEY] },
  { id: 'bob', keys: [BOB_KEY], basic: { username: 'bob', password: 'bob pass word' } },
  { id: 'carol' },
];

function doc(url: string, policies: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return {
    upstreams: [{ id: 'u', targets: [{ url }] }],
    routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', policies: policies.map((p) => p.id) }],
    policies,
    consumers,
    ...extra,
  };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('key-auth', () => {
  it('401 without a key or with an unknown one, and the upstream never sees those requests', T, async (t) => {
    const { up, seen } = await recorded(t);
    const p = await proxy(t, doc(up.url, [{ id: 'auth', type: 'key-auth' }]));
    for (const headers of [{}, { 'x-api-key': 'not-a-key-of-anyone-000' }, { 'x-api-key': '' }, { 'x-api-key': [ALICE_KEY, BOB_KEY] }]) {
      const r = await send(p.url, '/echo', { headers });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.deepEqual(json(r), { error: 'unauthorized' });
    }
    assert.equal(seen.length, 0, 'no refused request reached the upstream');
  });

  it('a known key passes; the upstream gets the consumer id, not the key, and a spoofed X-Consumer-Id is replaced', T, async (t) => {
    const { up, seen } = await recorded(t);
    const p = await proxy(t, doc(up.url, [{ id: 'auth', type: 'key-auth' }]));
    const r = await send(p.url, '/echo', { headers: { 'x-api-key': ALICE_KEY, 'x-consumer-id': 'bob' } });
    assert.equal(r.status, 200);
    const got = (json(r) as { headers: Record<string, unknown> }).headers;
    assert.equal(got['x-consumer-id'], 'alice');
    assert.equal(got['x-api-key'], undefined, 'the key is removed before forwarding');
    assert.equal(seen.length, 1);
    assert.equal((await send(p.url, '/echo', { headers: { 'x-api-key': 'not-a-key-of-anyone-000' } })).status, 401);
    const counted = (await p.metrics.text()).split('\n').filter((l) => l.startsWith('signalbox_consumer_requests_total{'));
    assert.deepEqual(counted, ['signalbox_consumer_requests_total{consumer="alice",code="200"} 1'], 'the consumer in the metrics; a refused request is no one\'s');
  });

  it('a key in a query parameter is read from there and removed from the forwarded query, the rest kept', T, async (t) => {
    const { up, seen } = await recorded(t);
    const p = await proxy(t, doc(up.url, [{ id: 'auth', type: 'key-auth', query: 'api_key', consumerHeader: 'X-Who' }]));
    assert.equal((await send(p.url, `/echo?api_key=nope-nope-nope-nope`)).status, 401);
    assert.equal((await send(p.url, '/echo', { headers: { 'x-api-key': ALICE_KEY } })).status, 401, 'the header is not where this policy looks');
    const r = await send(p.url, `/echo?a=1&api%5Fkey=${BOB_KEY}&b=2`, { headers: { 'x-who': 'alice', 'x-consumer-id': 'alice' } });
    assert.equal(r.status, 200);
    const got = json(r) as { url: string; headers: Record<string, unknown> };
    assert.equal(got.url, '/echo?a=1&b=2');
    assert.equal(got.headers['x-who'], 'bob');
    assert.equal(got.headers['x-consumer-id'], undefined, 'the default name is never passed on from a client either');
    assert.equal(seen.length, 1);
  });

  it('on a route without auth policies a client-sent X-Consumer-Id is dropped too', T, async (t) => {
    const { up } = await recorded(t);
    const p = await proxy(t, doc(up.url, []));
    const got = (json(await send(p.url, '/echo', { headers: { 'x-consumer-id': 'alice' } })) as { headers: Record<string, unknown> }).headers;
    assert.equal(got['x-consumer-id'], undefined);
  });
});

describe('basic-auth', () => {
  it('401 with WWW-Authenticate without credentials, for a wrong password or an unknown user; never upstream', T, async (t) => {
    const { up, seen } = await recorded(t);
    const p = await proxy(t, doc(up.url, [{ id: 'auth', type: 'basic-auth', realm: 'staff area' }]));
    for (const authorization of [undefined, basic('bob', 'wrong'), basic('nobody', 'bob pass word'), 'Basic !!!', 'Bearer x']) {
      const r = await send(p.url, '/echo', { headers: authorization === undefined ? {} : { authorization } });
      assert.equal(r.status, 401, String(authorization));
      assert.deepEqual(json(r), { error: 'unauthorized' });
      assert.equal(r.headers['www-authenticate'], 'Basic realm="staff area", charset="UTF-8"');
    }
    assert.equal(seen.length, 0);
  });

  it('the right password passes, again and again; the upstream gets the consumer, not the Authorization', T, async (t) => {
    const { up, seen } = await recorded(t);
    const p = await proxy(t, doc(up.url, [{ id: 'auth', type: 'basic-auth' }]));
    for (let i = 0; i < 3; i++) {
      const r = await send(p.url, '/echo', { headers: { authorization: basic('bob', 'bob pass word'), 'x-consumer-id': 'alice' } });
      assert.equal(r.status, 200);
      const got = (json(r) as { headers: Record<string, unknown> }).headers;
      assert.equal(got['x-consumer-id'], 'bob');
      assert.equal(got.authorization, undefined);
    }
    assert.equal(seen.length, 3);
  });

  it('parallel requests with the same credentials share one password check and all pass', T, async (t) => {
    const { up } = await recorded(t);
    const p = await proxy(t, doc(up.url, [{ id: 'auth', type: 'basic-auth' }]));
    const all = await Promise.all(Array.from({ length: 40 }, () => send(p.url, '/', { headers: { authorization: basic('bob', 'bob pass word') } })));
    assert.deepEqual([...new Set(all.map((r) => r.status))], [200]);
  });
});

describe('rate-limit by consumer', () => {
  // One token each, refilled after ~1000 s: a second request is limited however slow the machine.
  const policies = [
    { id: 'auth', type: 'key-auth' },
    { id: 'rl', type: 'rate-limit', requestsPerSecond: 0.001, key: 'consumer' },
  ];

  it('each consumer has its own bucket, whatever address it comes from; no consumer: by address', T, async (t) => {
    const { up } = await recorded(t);
    const p = await proxy(t, doc(up.url, policies));
    const as = (key: string, localAddress: string) => send(p.url, '/', { localAddress, headers: { 'x-api-key': key } });
    assert.equal((await as(ALICE_KEY, '127.0.0.1')).status, 200);
    assert.equal((await as(ALICE_KEY, '127.0.0.2')).status, 429, 'alice from another address: the same bucket');
    assert.equal((await as(BOB_KEY, '127.0.0.1')).status, 200, 'bob from alice\'s address: a bucket of his own');
    assert.equal((await as(BOB_KEY, '127.0.0.1')).status, 429);
  });

  it('buckets survive a swap that changes only the consumers', T, async (t) => {
    const { up } = await recorded(t);
    const p = await proxy(t, doc(up.url, policies));
    assert.equal((await send(p.url, '/', { headers: { 'x-api-key': ALICE_KEY } })).status, 200);
    p.swap(doc(up.url, policies, { consumers: [...consumers, { id: 'dave', keys: ['dave-key-0123456789abcdef'] }] }));
    assert.equal((await send(p.url, '/', { headers: { 'x-api-key': ALICE_KEY } })).status, 429, 'alice keeps her empty bucket');
    assert.equal((await send(p.url, '/', { headers: { 'x-api-key': 'dave-key-0123456789abcdef' } })).status, 200, 'the new consumer is known at once');
  });
});
