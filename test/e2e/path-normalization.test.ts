// Paths are normalized before routing and forwarded as normalized: a route guarded by a header
// match cannot be reached through a path that only the upstream resolves to it.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { json, proxy, rawRequest, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 15_000 };

/** An upstream that records every path it is sent and answers with it. */
async function recorder(t: TestContext) {
  const seen: string[] = [];
  const server = await upstream(t, (req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.url ?? '');
    res.end(req.url);
  });
  return { url: server.url, seen };
}

async function setup(t: TestContext) {
  const up = await recorder(t);
  const p = await proxy(t, {
    upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
    routes: [
      { id: 'public', match: { paths: ['/public/*'] }, upstream: 'u' },
      { id: 'admin', match: { paths: ['/admin/*'], headers: { 'x-admin-key': 'secret' } }, upstream: 'u' },
      { id: 'files', match: { paths: ['/files/*'] }, upstream: 'u', allowEncodedSlashes: true },
    ],
  });
  return { up, p };
}

describe('path normalization', () => {
  it('a path that resolves to a guarded route never reaches the upstream through the open one', T, async (t) => {
    const { up, p } = await setup(t);
    const bypasses = [
      '/public/../admin/x',
      '/public/%2e%2e/admin/x',
      '/public/%2E%2E/admin/x',
      '/public/./../admin/x',
      '/public/.%2e/admin/x',
      '//admin/x',
      '/public//../admin/x',
    ];
    for (const path of bypasses) {
      const r = await send(p.url, path);
      assert.equal(r.status, 404, `${path}: ${r.body}`);
      assert.deepEqual(json(r), { error: 'no_route' }, path);
    }
    assert.deepEqual(up.seen, [], 'the upstream saw none of them');
    // With the guard's header, the same spellings reach the guarded route, as the normal path.
    for (const path of bypasses) {
      const r = await send(p.url, path, { headers: { 'x-admin-key': 'secret' } });
      assert.equal(r.status, 200, path);
      assert.equal(r.body, '/admin/x', path);
    }
  });

  it('refuses 400 bad_path what cannot be normalized safely; the upstream sees nothing', T, async (t) => {
    const { up, p } = await setup(t);
    for (const path of [
      '/public/..;/admin/x',
      '/public/%2e%2e;/admin/x',
      '/public/..%2fadmin/x',
      '/public/..%2Fadmin/x',
      '/public/a%5c..%5cadmin',
      '/public/a\\..\\admin',
      '/public/../../etc/passwd',
      '/../admin/x',
      '/public/x%00',
      '/public/%zz',
      '/public/x#/../../admin',
    ]) {
      const r = await send(p.url, path);
      assert.equal(r.status, 400, `${path}: ${r.body}`);
      assert.deepEqual(json(r), { error: 'bad_path' }, path);
    }
    assert.deepEqual(up.seen, []);
  });

  it('forwards exactly the normalized path, the query string as sent', T, async (t) => {
    const { up, p } = await setup(t);
    const cases: [string, string][] = [
      ['/public/a/./b/../c', '/public/a/c'],
      ['/public/%7Euser/%61', '/public/~user/a'],
      ['/public/caf%c3%a9', '/public/caf%C3%A9'],
      ['/public//x//', '/public/x/'],
      ['/public/./x?next=../y&p=%2e%2e//z', '/public/x?next=../y&p=%2e%2e//z'],
      ['/public/x', '/public/x'],
    ];
    for (const [sent, want] of cases) {
      const r = await send(p.url, sent);
      assert.equal(r.status, 200, sent);
      assert.equal(r.body, want, sent);
    }
    assert.deepEqual(up.seen, cases.map(([, want]) => want));
  });

  it('a route with allowEncodedSlashes takes encoded slashes, kept encoded as one segment', T, async (t) => {
    const { up, p } = await setup(t);
    const r = await send(p.url, '/files/group%2fproject/raw%5Cname');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, '/files/group%2Fproject/raw%5Cname');
    assert.deepEqual(up.seen, ['/files/group%2Fproject/raw%5Cname']);
  });

  it('normalizes the absolute form too, and routes on its authority', T, async (t) => {
    const { up, p } = await setup(t);
    const bypass = await rawRequest(p.url, 'GET http://any.example/public/../admin/x HTTP/1.1\r\nHost: any.example\r\n\r\n');
    assert.equal(bypass.status, 404);
    const ok = await rawRequest(p.url, 'GET http://any.example/public/a/../b?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n');
    assert.equal(ok.status, 200);
    assert.equal(ok.body, '/public/b?q=1');
    const badAuthority = await rawRequest(p.url, 'GET http://user@evil.example/public/x HTTP/1.1\r\nHost: any.example\r\n\r\n');
    assert.equal(badAuthority.status, 400);
    assert.deepEqual(JSON.parse(badAuthority.body), { error: 'bad_host' });
    assert.deepEqual(up.seen, ['/public/b?q=1']);
  });
});
