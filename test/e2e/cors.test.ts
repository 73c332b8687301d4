// cors: preflights answered by the proxy (routed as the request they announce, never reaching an
// upstream), CORS headers for allowed origins only, on the upstream's answers and the proxy's own.
import assert from 'node:assert/strict';
import type { RequestListener } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { proxy, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 15_000 };
const APP = 'https://app.example.com';

/** An upstream that records what reached it and sends CORS headers of its own. */
async function recording(t: TestContext, name: string) {
  const seen: string[] = [];
  const handler: RequestListener = (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { vary: 'Accept-Encoding', 'access-control-allow-origin': '*', 'x-up': name });
    res.end(name);
  };
  return { seen, server: await upstream(t, handler) };
}

async function setup(t: TestContext, cors: Record<string, unknown>, extraPolicies: Record<string, unknown>[] = [], chain = ['c']) {
  const api = await recording(t, 'api');
  const other = await recording(t, 'other');
  const doc = {
    upstreams: [
      { id: 'api', targets: [{ url: api.server.url }] },
      { id: 'other', targets: [{ url: other.server.url }] },
    ],
    routes: [
      // Lists its methods: OPTIONS is not among them.
      { id: 'api', match: { paths: ['/api/*'], methods: ['GET', 'POST', 'PUT', 'DELETE'] }, upstream: 'api', policies: chain },
      // A catch-all that takes any method, OPTIONS included: a preflight routed as OPTIONS would land here.
      { id: 'other', match: { paths: ['/*'] }, upstream: 'other' },
    ],
    policies: [{ id: 'c', type: 'cors', ...cors }, ...extraPolicies],
  };
  return { p: await proxy(t, doc), api: api.seen, other: other.seen };
}

const preflight = (origin: string, method: string, headers?: string) => ({
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': method, ...(headers === undefined ? {} : { 'access-control-request-headers': headers }) },
});

describe('cors preflights', () => {
  it('answered 204 by the proxy, routed as the announced method, never reaching an upstream', T, async (t) => {
    const { p, api, other } = await setup(t, { origins: [APP], methods: ['GET', 'PUT'], headers: ['Content-Type', 'X-Token'], maxAgeS: 600, credentials: true });
    const r = await send(p.url, '/api/items/1', preflight(APP, 'PUT', 'content-type,x-token'));
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-origin'], APP);
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['access-control-allow-methods'], 'GET, PUT');
    assert.equal(r.headers['access-control-allow-headers'], 'content-type, x-token');
    assert.equal(r.headers['access-control-max-age'], '600');
    assert.equal(r.headers.vary, 'Origin');
    assert.ok(r.headers['x-request-id'], 'the proxy id is on its own answer');
    assert.deepEqual(api, [], 'the route its methods exclude OPTIONS from still answers its preflight');
    assert.deepEqual(other, [], 'the catch-all that takes OPTIONS never saw it');
  });

  it('a foreign origin, method or header: 204 without any CORS header, still no upstream', T, async (t) => {
    const { p, api, other } = await setup(t, { origins: [APP], methods: ['PUT'], headers: ['content-type'] });
    const asks = [preflight('https://evil.example', 'PUT'), preflight(APP, 'DELETE'), preflight(APP, 'PUT', 'content-type, x-secret')];
    for (const ask of asks) {
      const r = await send(p.url, '/api/x', ask);
      assert.equal(r.status, 204, JSON.stringify(ask.headers));
      assert.equal(r.headers['access-control-allow-origin'], undefined, JSON.stringify(ask.headers));
      assert.equal(r.headers['access-control-allow-methods'], undefined);
    }
    // GET and POST need no permission (CORS-safelisted): a preflight for them fails on nothing else.
    assert.equal((await send(p.url, '/api/x', preflight(APP, 'POST', 'content-type'))).headers['access-control-allow-origin'], APP);
    assert.deepEqual([...api, ...other], []);
  });

  it('without "headers", whichever headers the preflight announces are allowed', T, async (t) => {
    const { p } = await setup(t, { origins: [APP] });
    const r = await send(p.url, '/api/x', preflight(APP, 'DELETE', 'authorization, x-anything'));
    assert.equal(r.headers['access-control-allow-headers'], 'authorization, x-anything');
    assert.equal(r.headers['access-control-allow-methods'], 'GET, HEAD, POST, PUT, PATCH, DELETE');
  });

  it('an OPTIONS request that is no preflight, or a preflight for a route without cors, is routed as OPTIONS', T, async (t) => {
    const { p, api, other } = await setup(t, { origins: [APP] });
    assert.equal((await send(p.url, '/api/x', { method: 'OPTIONS', headers: { origin: APP } })).body, 'other', 'no Access-Control-Request-Method: no preflight');
    assert.equal((await send(p.url, '/elsewhere', preflight(APP, 'GET'))).body, 'other', 'the announced route has no cors: the upstream answers');
    assert.deepEqual(api, []);
    assert.deepEqual(other, ['OPTIONS /api/x', 'OPTIONS /elsewhere']);
  });

  it('the policies before cors do not run for a preflight (it carries no credentials)', T, async (t) => {
    // One token, refilled after ~1000 s, before cors: a second actual request is refused.
    const rl = { id: 'rl', type: 'rate-limit', requestsPerSecond: 0.001 };
    const { p } = await setup(t, { origins: [APP] }, [rl], ['rl', 'c']);
    for (let i = 0; i < 3; i++) assert.equal((await send(p.url, '/api/x', preflight(APP, 'PUT'))).headers['access-control-allow-origin'], APP);
    assert.equal((await send(p.url, '/api/x', { headers: { origin: APP } })).status, 200, 'the preflights took no token');
  });
});

describe('cors on actual requests', () => {
  it("an allowed origin gets the CORS headers over the upstream's, Vary: Origin added to the upstream's Vary", T, async (t) => {
    const { p } = await setup(t, { origins: [APP, 'https://*.example.net'], exposeHeaders: ['X-Up'], credentials: true });
    const r = await send(p.url, '/api/x', { headers: { origin: APP } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], APP, 'echoed, replacing the upstream\'s "*"');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['access-control-expose-headers'], 'X-Up');
    assert.equal(r.headers.vary, 'Accept-Encoding, Origin');
    const sub = await send(p.url, '/api/x', { headers: { origin: 'https://a.b.example.net' } });
    assert.equal(sub.headers['access-control-allow-origin'], 'https://a.b.example.net');
  });

  it("a foreign origin gets no CORS headers, not even the upstream's; Vary: Origin still", T, async (t) => {
    const { p } = await setup(t, { origins: ['https://*.example.com'], credentials: true, exposeHeaders: ['x-up'] });
    for (const origin of ['https://evil-example.com', 'https://example.com.evil.net', 'https://example.com', 'http://app.example.com']) {
      const r = await send(p.url, '/api/x', { headers: { origin } });
      assert.equal(r.status, 200, origin);
      assert.equal(r.headers['access-control-allow-origin'], undefined, origin);
      assert.equal(r.headers['access-control-allow-credentials'], undefined, origin);
      assert.equal(r.headers['access-control-expose-headers'], undefined, origin);
      assert.equal(r.headers.vary, 'Accept-Encoding, Origin', origin);
    }
    const none = await send(p.url, '/api/x');
    assert.equal(none.headers.vary, 'Accept-Encoding, Origin', 'the answer without Origin varies on it too');
  });

  it('origins ["*"]: Access-Control-Allow-Origin: * and no Vary: Origin (nothing depends on it)', T, async (t) => {
    const { p } = await setup(t, { origins: ['*'] });
    const r = await send(p.url, '/api/x', { headers: { origin: 'https://any.test' } });
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers.vary, 'Accept-Encoding');
    assert.equal((await send(p.url, '/api/x', preflight('https://any.test', 'PUT'))).headers['access-control-allow-origin'], '*');
  });

  it("CORS headers are on the proxy's own answers too (a later policy's 429)", T, async (t) => {
    const rl = { id: 'rl', type: 'rate-limit', requestsPerSecond: 0.001 };
    const { p, api } = await setup(t, { origins: [APP] }, [rl], ['c', 'rl']);
    assert.equal((await send(p.url, '/api/1', { headers: { origin: APP } })).status, 200);
    const refused = await send(p.url, '/api/2', { headers: { origin: APP } });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['access-control-allow-origin'], APP, 'the page can read why it was refused');
    assert.equal(refused.headers.vary, 'Origin');
    assert.deepEqual(api, ['GET /api/1']);
  });
});
