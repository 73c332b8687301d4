// headers: set / add / remove on the request sent upstream and on the answer, with variables
// read per request.
import assert from 'node:assert/strict';
import type { RequestListener } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { json, proxy, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 15_000 };

/** Echoes the request's headers as JSON, answering with headers of its own. */
const echo: RequestListener = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-internal': 'secret-build-42', 'x-tag': 'up', 'cache-control': 'private' });
  res.end(JSON.stringify(req.headers));
};

async function setup(t: TestContext, policy: Record<string, unknown>, extra: Record<string, unknown>[] = [], chain = ['h']) {
  const up = await upstream(t, echo);
  const doc = {
    upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
    routes: [{ id: 'users-api', match: { paths: ['/*'] }, upstream: 'u', policies: chain }],
    policies: [{ id: 'h', type: 'headers', ...policy }, ...extra],
  };
  return proxy(t, doc);
}

describe('headers policy', () => {
  it('request: remove, set (over what the client sent), add; variables expanded per request', T, async (t) => {
    const p = await setup(t, {
      request: {
        remove: ['X-Secret'],
        set: { 'X-Route': '$route', 'X-Trace': 'req=${requestId};', 'X-Client': '$clientIp', 'X-Consumer': '$consumer', 'X-Price': '$$5', 'X-Forged': 'fixed' },
        add: { 'X-Tag': 'b' },
      },
    });
    const r = await send(p.url, '/', { localAddress: '127.0.0.3', headers: { 'x-secret': 's3cr3t', 'x-tag': 'a', 'x-forged': 'from-client', 'x-request-id': 'abc-123' } });
    assert.equal(r.status, 200);
    const h = json(r) as Record<string, string>;
    assert.equal(h['x-secret'], undefined, 'removed before forwarding');
    assert.equal(h['x-route'], 'users-api');
    assert.equal(h['x-trace'], 'req=abc-123;');
    assert.equal(h['x-client'], '127.0.0.3');
    assert.equal(h['x-consumer'], '', 'no auth policy identified anyone');
    assert.equal(h['x-price'], '$5');
    assert.equal(h['x-forged'], 'fixed', 'set replaces what the client sent');
    assert.equal(h['x-tag'], 'a, b', 'add keeps what the client sent');
    const other = json(await send(p.url, '/', { localAddress: '127.0.0.4' })) as Record<string, string>;
    assert.equal(other['x-client'], '127.0.0.4', 'each request its own values');
    assert.match(other['x-trace']!, /^req=[0-9a-f-]{36};$/, 'the id the proxy made');
  });

  it("response: remove, set, add over the upstream's headers, and on the proxy's own answers", T, async (t) => {
    const rl = { id: 'rl', type: 'rate-limit', requestsPerSecond: 0.001 };
    const p = await setup(t, { response: { remove: ['x-internal'], set: { 'Cache-Control': 'no-store', 'X-Served-By': 'edge $route' }, add: { 'X-Tag': 'proxy' } } }, [rl], ['h', 'rl']);
    const r = await send(p.url, '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-internal'], undefined);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-served-by'], 'edge users-api');
    assert.equal(r.headers['x-tag'], 'up, proxy');
    const refused = await send(p.url, '/');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['x-served-by'], 'edge users-api', "the rate limit's own answer has them too");
    assert.equal(refused.headers['x-tag'], 'proxy');
  });
});
