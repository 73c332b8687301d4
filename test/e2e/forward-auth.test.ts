// The forward-auth policy against a real auth service and a real upstream: allow, deny with the
// service's own answer, headers copied both ways, and an auth service down or silent.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, RequestListener } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { deadUrl, json, proxy, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 20_000 };

async function setup(t: TestContext, auth: RequestListener | string, policy: Record<string, unknown> = {}) {
  const asked: IncomingHttpHeaders[] = [];
  const authUrl = typeof auth === 'string' ? auth : (await upstream(t, (req, res) => (asked.push(req.headers), auth(req, res)))).url;
  const reached: { headers: IncomingHttpHeaders; body: string }[] = [];
  const up = await upstream(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      reached.push({ headers: req.headers, body });
      res.end('up');
    });
  });
  const doc = {
    upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
    routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', policies: ['fa'] }],
    policies: [{ id: 'fa', type: 'forward-auth', url: `${authUrl}/verify?app=1`, ...policy }],
  };
  const p = await proxy(t, doc);
  return { p, asked, reached };
}

describe('forward-auth policy', () => {
  it('2xx lets the request on: listed headers go to the auth service, its listed answer headers to the upstream (client copies replaced), the body to the upstream only', T, async (t) => {
    const s = await setup(
      t,
      (_req, res) => {
        res.writeHead(200, { 'x-user': 'alice', 'x-other': 'not listed' });
        res.end('ok');
      },
      { requestHeaders: ['authorization', 'cookie'], responseHeaders: ['x-user', 'x-groups'] },
    );
    const r = await send(s.p.url, '/orders/7?x=1', {
      method: 'POST',
      body: 'payload',
      headers: { authorization: 'Bearer t', cookie: 'sid=1', 'x-secret-thing': 'stays', 'x-user': 'mallory', 'x-groups': 'admin', host: 'shop.test' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'up');
    const a = s.asked[0]!;
    assert.equal(a.authorization, 'Bearer t');
    assert.equal(a.cookie, 'sid=1');
    assert.equal(a['x-secret-thing'], undefined, 'only the listed client headers go to the auth service');
    assert.equal(a['x-forwarded-method'], 'POST');
    assert.equal(a['x-forwarded-uri'], '/orders/7?x=1');
    assert.equal(a['x-forwarded-host'], 'shop.test');
    assert.equal(a['x-forwarded-for'], '127.0.0.1');
    assert.equal(a['content-length'], undefined, 'no body goes to the auth service');
    const up = s.reached[0]!;
    assert.equal(up.body, 'payload', 'the request body reaches the upstream whole');
    assert.equal(up.headers['x-user'], 'alice');
    assert.equal(up.headers['x-groups'], undefined, 'listed but not in the auth answer: the client\'s value is removed');
    assert.equal(up.headers['x-other'], undefined);
  });

  it('any other status is the answer: the service\'s status, body and Location/Set-Cookie/WWW-Authenticate; the upstream never reached', T, async (t) => {
    const s = await setup(t, (req, res) => {
      if (req.headers['x-forwarded-uri'] === '/admin') {
        res.writeHead(403, { 'content-type': 'text/plain', 'x-internal': 'no' });
        res.end('not yours');
        return;
      }
      res.writeHead(302, { location: 'https://login.test/?rd=x', 'set-cookie': 'state=abc' });
      res.end();
    });
    const denied = await send(s.p.url, '/admin');
    assert.equal(denied.status, 403);
    assert.equal(denied.body, 'not yours');
    assert.equal(denied.headers['content-type'], 'text/plain');
    assert.equal(denied.headers['x-internal'], undefined);
    const login = await send(s.p.url, '/page');
    assert.equal(login.status, 302);
    assert.equal(login.headers.location, 'https://login.test/?rd=x');
    assert.deepEqual(login.headers['set-cookie'], ['state=abc']);
    assert.equal(s.reached.length, 0);
  });

  it('a denial body over 64 KiB is left out whole, not passed on cut short', T, async (t) => {
    const s = await setup(t, (_req, res) => {
      res.writeHead(401, { 'content-type': 'text/html' });
      res.end('x'.repeat(100 * 1024));
    });
    const r = await send(s.p.url, '/');
    assert.equal(r.status, 401);
    assert.equal(r.body, '');
    assert.equal(s.reached.length, 0);
  });

  it('fails closed: an auth service down, or silent past timeoutMs, is a 503 and the upstream never reached', T, async (t) => {
    const down = await setup(t, await deadUrl());
    const r = await send(down.p.url, '/');
    assert.equal(r.status, 503);
    assert.deepEqual(json(r), { error: 'auth_unavailable' });
    assert.equal(down.reached.length, 0);

    const stuck = await setup(t, () => {}, { timeoutMs: 200 });
    const late = await send(stuck.p.url, '/');
    assert.equal(late.status, 503);
    assert.deepEqual(json(late), { error: 'auth_unavailable' });
    assert.equal(stuck.reached.length, 0);
    assert.equal(stuck.asked.length, 1, 'the auth service was asked');
  });
});
