// What a route does with a request, seen from the client and from the upstream: redirect and
// respond (no upstream involved), rewrite (the path and Host the upstream gets), split (the
// share each upstream gets), and the match conditions (query, headers, pathRegex, priority,
// HEAD on a GET route) that choose the route.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, RequestListener } from 'node:http';
import { describe, it } from 'node:test';
import { json, proxy, send, upstream, type TestServer } from '../helpers/data-plane.js';

const T = { timeout: 15_000 };

/** An upstream that records the path and Host of every request it gets, and echoes them. */
async function recording(t: Parameters<typeof upstream>[0], name: string) {
  const seen: { url: string; host: string | undefined; method: string; headers: IncomingHttpHeaders }[] = [];
  const handler: RequestListener = (req, res) => {
    seen.push({ url: req.url!, host: req.headers.host, method: req.method!, headers: req.headers });
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-upstream', name);
    res.end(JSON.stringify({ name, url: req.url, host: req.headers.host }));
  };
  const server: TestServer = await upstream(t, handler);
  return { ...server, seen };
}

describe('route actions', () => {
  it('redirect: location as given, query kept (before the fragment) or dropped; no upstream is asked', T, async (t) => {
    const up = await recording(t, 'up');
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
      routes: [
        { id: 'moved', match: { paths: ['/old/*'] }, redirect: { status: 301, location: 'https://new.example/landing#top' } },
        { id: 'moved-q', match: { paths: ['/q'] }, redirect: { status: 302, location: '/search?lang=en' } },
        { id: 'plain', match: { paths: ['/plain'] }, redirect: { status: 307, location: '/there', keepQuery: false } },
      ],
    });
    const r = await send(p.url, '/old/page?a=1&b=2', { headers: { 'x-request-id': 'redirected-1' } });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://new.example/landing?a=1&b=2#top');
    assert.equal(r.headers['x-request-id'], 'redirected-1', "the proxy's own answer names the request");
    assert.equal(r.body, '');
    assert.equal((await send(p.url, '/old/x')).headers.location, 'https://new.example/landing#top');
    assert.equal((await send(p.url, '/q?page=2')).headers.location, '/search?lang=en&page=2');
    const plain = await send(p.url, '/plain?x=1', { method: 'POST', body: 'data' });
    assert.equal(plain.status, 307);
    assert.equal(plain.headers.location, '/there');
    assert.equal(up.seen.length, 0);
  });

  it('redirect with scheme: same host without its port, same normalized path and query', T, async (t) => {
    const p = await proxy(t, {
      routes: [
        { id: 'tls', match: { paths: ['/*'] }, redirect: { status: 308, scheme: 'https' } },
        { id: 'tls-port', match: { hosts: ['alt.example'], paths: ['/*'] }, redirect: { status: 301, scheme: 'https', port: 8443 } },
      ],
    });
    const r = await send(p.url, '/a/../b//c?x=%2F', { headers: { host: 'Shop.Example:8080' } });
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, 'https://shop.example/b/c?x=%2F');
    assert.equal((await send(p.url, '/', { headers: { host: 'alt.example' } })).headers.location, 'https://alt.example:8443/');
  });

  it('respond: status, headers and body from the config; HEAD gets the headers only', T, async (t) => {
    const p = await proxy(t, {
      routes: [
        { id: 'health', match: { paths: ['/healthz'] }, respond: { status: 200, body: 'ok', headers: { 'cache-control': 'no-store', 'x-served-by': 'signalbox' } } },
        { id: 'gone', match: { paths: ['/gone'] }, respond: { status: 410, body: '{"error":"gone"}', headers: { 'content-type': 'application/json' } } },
        { id: 'empty', match: { paths: ['/empty'] }, respond: { status: 204 } },
      ],
    });
    const r = await send(p.url, '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'a request without an id gets one on the answer');
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers['content-length'], '2');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-served-by'], 'signalbox');
    const head = await send(p.url, '/healthz', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], '2');
    const gone = await send(p.url, '/gone');
    assert.equal(gone.status, 410);
    assert.deepEqual(json(gone), { error: 'gone' });
    assert.equal(gone.headers['content-type'], 'application/json');
    const empty = await send(p.url, '/empty');
    assert.equal(empty.status, 204);
    assert.equal(empty.body, '');
  });

  it('rewrite: stripPrefix, a path with :param and *, and the Host the upstream gets; the query is kept', T, async (t) => {
    const up = await recording(t, 'up');
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
      routes: [
        { id: 'api', match: { paths: ['/api', '/api/*'] }, upstream: 'u', rewrite: { stripPrefix: '/api', host: 'users.internal' } },
        { id: 'user', match: { paths: ['/u/:id', '/people/:id/profile'] }, upstream: 'u', rewrite: { path: '/v2/users/:id' } },
        { id: 'files', match: { paths: ['/old/:bucket/*'] }, upstream: 'u', rewrite: { path: '/new/:bucket/*' } },
      ],
    });
    const cases: [string, string][] = [
      ['/api/users?x=1', '/users?x=1'],
      ['/api', '/'],
      ['/api/', '/'],
      ['/api?q', '/?q'],
      ['/api/a/../b', '/b'],
      ['/u/42?full=1', '/v2/users/42?full=1'],
      ['/people/7/profile', '/v2/users/7'],
      ['/old/pics/2024/a.png', '/new/pics/2024/a.png'],
      ['/old/pics/', '/new/pics/'],
    ];
    for (const [sent, expected] of cases) {
      const r = await send(p.url, sent, { headers: { host: 'front.example' } });
      assert.equal(r.status, 200, sent);
      assert.equal((json(r) as { url: string }).url, expected, sent);
      assert.equal(up.seen.at(-1)!.url, expected, `the upstream saw it: ${sent}`);
    }
    const api = up.seen.find((s) => s.url === '/users?x=1')!;
    assert.equal(api.host, 'users.internal');
    assert.equal(api.headers['x-forwarded-host'], 'front.example', 'X-Forwarded-Host keeps the client\'s Host');
    assert.equal(up.seen.find((s) => s.url === '/v2/users/42?full=1')!.host, 'front.example', 'without rewrite.host the client\'s Host is kept');
  });

  /** Two recording upstreams, "stable" and "canary", behind one route that splits by `weights`. */
  async function split(t: Parameters<typeof upstream>[0], weights: [number, number]) {
    const stable = await recording(t, 'stable');
    const canary = await recording(t, 'canary');
    const p = await proxy(t, {
      upstreams: [
        { id: 'stable', targets: [{ url: stable.url }] },
        { id: 'canary', targets: [{ url: canary.url }] },
      ],
      routes: [{ id: 'r', match: { paths: ['/*'] }, split: [{ upstream: 'stable', weight: weights[0] }, { upstream: 'canary', weight: weights[1] }] }],
    });
    return { p, stable, canary };
  }

  it('split: each request picks an upstream by weight (1,000 requests at 90/10)', T, async (t) => {
    const { p, stable, canary } = await split(t, [90, 10]);
    const counts = { stable: 0, canary: 0 };
    for (let i = 0; i < 1000; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => send(p.url, '/x')));
      for (const r of batch) counts[r.headers['x-upstream'] as 'stable' | 'canary']++;
    }
    assert.equal(counts.stable + counts.canary, 1000);
    // Binomial(1000, 0.9): mean 900, standard deviation 9.5; 800..980 is beyond 8 deviations.
    assert.ok(counts.stable >= 800 && counts.stable <= 980, JSON.stringify(counts));
    assert.equal(stable.seen.length, counts.stable, 'the upstreams saw what the client saw');
    assert.equal(canary.seen.length, counts.canary);
  });

  it('split: an arm of weight 0 gets nothing', T, async (t) => {
    const { p, canary } = await split(t, [1, 0]);
    for (let i = 0; i < 50; i++) assert.equal((await send(p.url, '/')).headers['x-upstream'], 'stable');
    assert.equal(canary.seen.length, 0);
  });
});

describe('route matching end to end', () => {
  async function three(t: Parameters<typeof upstream>[0], routes: unknown[]) {
    const ups = await Promise.all(['a', 'b', 'c'].map((n) => recording(t, n)));
    const p = await proxy(t, { upstreams: ups.map((u, i) => ({ id: 'abc'[i], targets: [{ url: u.url }] })), routes });
    return async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
      const r = await send(p.url, path, { headers, method });
      return r.status === 200 ? String(r.headers['x-upstream']) : r.status;
    };
  }

  it('query: exact decoded values, every repeat must match, absence', T, async (t) => {
    const go = await three(t, [
      { id: 'v2', match: { paths: ['/api'], query: { v: '2' } }, upstream: 'b' },
      { id: 'search', match: { paths: ['/api'], query: { q: 'a b', debug: { present: false } } }, upstream: 'c' },
      { id: 'api', match: { paths: ['/api'] }, upstream: 'a' },
    ]);
    assert.equal(await go('/api?v=2'), 'b');
    assert.equal(await go('/api?x=1&v=%32'), 'b', 'values are compared decoded');
    assert.equal(await go('/api?v=2&v=2'), 'b');
    assert.equal(await go('/api?v=1&v=2'), 'a', 'a repeat with another value does not match');
    assert.equal(await go('/api?v=20'), 'a');
    assert.equal(await go('/api?q=a+b'), 'c');
    assert.equal(await go('/api?q=a%20b'), 'c');
    assert.equal(await go('/api?q=a+b&debug'), 'a', 'present: false refuses a parameter without a value too');
    assert.equal(await go('/api'), 'a');
  });

  it('headers: exact, present, absent, regex over the whole value', T, async (t) => {
    const go = await three(t, [
      { id: 'users', match: { paths: ['/*'], headers: { 'x-user': { regex: '^u-[0-9]+$' } } }, upstream: 'b' },
      { id: 'debug', match: { paths: ['/*'], headers: { 'x-debug': { present: true } } }, upstream: 'c' },
      { id: 'rest', match: { paths: ['/*'] }, upstream: 'a' },
    ]);
    assert.equal(await go('/', { 'x-user': 'u-42' }), 'b');
    assert.equal(await go('/', { 'x-user': 'u-42x' }), 'a', 'the regex must match the whole value');
    assert.equal(await go('/', { 'x-user': 'xu-42' }), 'a');
    assert.equal(await go('/', { 'x-debug': '' }), 'c');
    assert.equal(await go('/'), 'a');
  });

  it('pathRegex: whole path, tried before "*" at its literal start; static and :param routes first', T, async (t) => {
    const go = await three(t, [
      { id: 'numeric', match: { pathRegex: '^/items/[0-9]+(/.*)?$' }, upstream: 'b' },
      { id: 'items', match: { paths: ['/items/*'] }, upstream: 'a' },
      { id: 'new', match: { paths: ['/items/new'] }, upstream: 'c' },
    ]);
    assert.equal(await go('/items/42'), 'b');
    assert.equal(await go('/items/42/reviews'), 'b');
    assert.equal(await go('/items/abc'), 'a');
    assert.equal(await go('/items/new'), 'c');
    assert.equal(await go('/items/4%32'), 'b', 'matched on the normalized path (%32 is "2")');
    assert.equal(await go('/other/42'), 404);
  });

  it('priority: the highest wins over a more specific path or host; equal priorities keep the usual order', T, async (t) => {
    const go = await three(t, [
      { id: 'specific', match: { hosts: ['api.example'], paths: ['/users/me'] }, upstream: 'a' },
      { id: 'maintenance', match: { paths: ['/*'], headers: { 'x-maintenance': '1' } }, priority: 10, upstream: 'b' },
      { id: 'catch', match: { paths: ['/*'] }, upstream: 'c' },
    ]);
    assert.equal(await go('/users/me', { host: 'api.example' }), 'a');
    assert.equal(await go('/users/me', { host: 'api.example', 'x-maintenance': '1' }), 'b');
    assert.equal(await go('/users/you', { host: 'api.example' }), 'c');
  });

  it('HEAD takes a route that lists GET; the upstream gets HEAD', T, async (t) => {
    const up = await recording(t, 'a');
    const p = await proxy(t, {
      upstreams: [{ id: 'a', targets: [{ url: up.url }] }],
      routes: [{ id: 'r', match: { paths: ['/page'], methods: ['GET'] }, upstream: 'a' }],
    });
    const r = await send(p.url, '/page', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
    assert.equal(up.seen.at(-1)!.method, 'HEAD');
    assert.equal((await send(p.url, '/page', { method: 'DELETE' })).status, 404);
  });
});
