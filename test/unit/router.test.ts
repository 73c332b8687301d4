import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { compileRouter, normalizeHost, type RoutableRoute, type RouteMatch } from '../../src/proxy/router.js';
import { LinearRegex } from '../../src/util/linear-regex.js';

function r(id: string, match: Partial<RouteMatch>, priority?: number): RoutableRoute {
  return { id, match: match as RouteMatch, priority };
}

/** Id of the route chosen, or null. */
function matcher(routes: RoutableRoute[]) {
  const router = compileRouter(routes);
  return (path: string, opts: { host?: string; method?: string; headers?: IncomingHttpHeaders } = {}) =>
    router.match(opts.host ?? 'example.org', opts.method ?? 'GET', path, opts.headers ?? {})?.id ?? null;
}

describe('router: paths', () => {
  const m = matcher([
    r('root', { paths: ['/'] }),
    r('users', { paths: ['/users'] }),
    r('user', { paths: ['/users/:id'] }),
    r('user-posts', { paths: ['/users/:id/posts'] }),
    r('me', { paths: ['/users/me'] }),
    r('files', { paths: ['/files/*'] }),
  ]);

  it('matches exact paths and ignores the query string', () => {
    assert.equal(m('/'), 'root');
    assert.equal(m('/users'), 'users');
    assert.equal(m('/users?x=1&y=/a/b'), 'users');
    assert.equal(m('/?q'), 'root');
    assert.equal(m('/nope'), null);
    assert.equal(m('/Users'), null, 'static segments are case-sensitive');
  });

  it('a static segment wins over a parameter; a parameter matches one non-empty segment', () => {
    assert.equal(m('/users/me'), 'me');
    assert.equal(m('/users/42'), 'user');
    assert.equal(m('/users/42/posts'), 'user-posts');
    assert.equal(m('/users/42/other'), null);
    assert.equal(m('/users/'), null, 'empty segment is not a parameter');
    assert.equal(m('/users//posts'), null);
  });

  it('"/x/*" matches "/x/" and deeper, never "/x" itself', () => {
    assert.equal(m('/files/'), 'files');
    assert.equal(m('/files/a'), 'files');
    assert.equal(m('/files/a/b/c?d'), 'files');
    assert.equal(m('/files'), null);
    assert.equal(m('/filesystem'), null);
  });

  it('"/*" matches everything, including "/"', () => {
    const all = matcher([r('all', { paths: ['/*'] })]);
    for (const p of ['/', '/a', '/a/b/', '//x', '/?q']) assert.equal(all(p), 'all', p);
  });

  it('refuses paths that are not in origin form', () => {
    const all = matcher([r('all', { paths: ['/*'] })]);
    assert.equal(all('*'), null);
    assert.equal(all(''), null);
    assert.equal(all('http://x/'), null);
  });

  it('a more specific node beats a wildcard higher up, and falls back to it', () => {
    const w = matcher([r('any', { paths: ['/api/*'] }), r('item', { paths: ['/api/items/:id'] })]);
    assert.equal(w('/api/items/7'), 'item');
    assert.equal(w('/api/items/7/x'), 'any', 'deeper than the param route: falls back to the wildcard');
    assert.equal(w('/api/items'), 'any');
  });
});

describe('router: backtracking', () => {
  it('a narrower route that rejects on headers does not hide a broader one', () => {
    const m = matcher([
      r('canary', { paths: ['/users/:id'], headers: { 'x-canary': '1' } }),
      r('catch', { paths: ['/users/*'] }),
    ]);
    assert.equal(m('/users/1', { headers: { 'x-canary': '1' } }), 'canary');
    assert.equal(m('/users/1'), 'catch');
    assert.equal(m('/users/1', { headers: { 'x-canary': '2' } }), 'catch');
  });

  it('backtracks from a static branch into a parameter branch', () => {
    const m = matcher([
      r('static-post', { paths: ['/a/b/c'], methods: ['POST'] }),
      r('param', { paths: ['/a/:x/c'] }),
    ]);
    assert.equal(m('/a/b/c', { method: 'POST' }), 'static-post');
    assert.equal(m('/a/b/c', { method: 'GET' }), 'param');
  });

  it('backtracks from a static branch past a dead end into the wildcard', () => {
    const m = matcher([r('deep', { paths: ['/a/b/c/d'] }), r('wild', { paths: ['/a/*'] })]);
    assert.equal(m('/a/b/c'), 'wild');
    assert.equal(m('/a/b/c/d'), 'deep');
  });
});

describe('router: ties at one node', () => {
  it('more headers first, then routes with methods, then id; config order does not matter', () => {
    const routes = [
      r('b-plain', { paths: ['/x'] }),
      r('a-plain', { paths: ['/x'] }),
      r('z-method', { paths: ['/x'], methods: ['GET'] }),
      r('y-one-header', { paths: ['/x'], headers: { 'x-a': '1' } }),
      r('x-two-headers', { paths: ['/x'], headers: { 'x-a': '1', 'x-b': '1' } }),
    ];
    for (const order of [routes, [...routes].reverse()]) {
      const m = matcher(order);
      assert.equal(m('/x', { headers: { 'x-a': '1', 'x-b': '1' } }), 'x-two-headers');
      assert.equal(m('/x', { headers: { 'x-a': '1' } }), 'y-one-header');
      assert.equal(m('/x'), 'z-method');
      assert.equal(m('/x', { method: 'POST' }), 'a-plain', 'lowest id among equals');
    }
  });

  it('method must be listed; a route that lists GET also takes HEAD', () => {
    const m = matcher([r('get', { paths: ['/x'], methods: ['GET', 'POST'] }), r('post', { paths: ['/y'], methods: ['POST'] })]);
    assert.equal(m('/x', { method: 'POST' }), 'get');
    assert.equal(m('/x', { method: 'HEAD' }), 'get');
    assert.equal(m('/x', { method: 'PUT' }), null);
    assert.equal(m('/y', { method: 'HEAD' }), null, 'HEAD goes only where GET would');
  });

  it('header names match case-insensitively, values exactly', () => {
    const m = matcher([r('h', { paths: ['/x'], headers: { 'X-Tenant': 'Acme' } })]);
    assert.equal(m('/x', { headers: { 'x-tenant': 'Acme' } }), 'h');
    assert.equal(m('/x', { headers: { 'x-tenant': 'acme' } }), null);
    assert.equal(m('/x', { headers: { 'x-tenant': 'Acme ' } }), null);
  });

  it('the same route reachable twice at one node is listed once', () => {
    const m = matcher([r('dup', { paths: ['/a/:x', '/a/:y'], hosts: ['h.io', 'h.io'] })]);
    assert.equal(m('/a/1', { host: 'h.io' }), 'dup');
  });
});

describe('router: hosts', () => {
  const m = matcher([
    r('exact', { hosts: ['api.example.com'], paths: ['/users'] }),
    r('wild', { hosts: ['*.example.com'], paths: ['/users', '/wild'] }),
    r('wild-deeper', { hosts: ['*.eu.example.com'], paths: ['/users'] }),
    r('any', { paths: ['/*'] }),
  ]);

  it('normalizes the Host header', () => {
    assert.equal(normalizeHost('API.Example.COM:8080'), 'api.example.com');
    assert.equal(normalizeHost('api.example.com.'), 'api.example.com');
    assert.equal(normalizeHost('[::1]:80'), '[::1]');
    assert.equal(normalizeHost(undefined), '');
    assert.equal(m('/users', { host: 'API.example.com:8443' }), 'exact');
  });

  it('exact host first, then wildcards longest suffix first, then host-less routes', () => {
    assert.equal(m('/users', { host: 'api.example.com' }), 'exact');
    assert.equal(m('/users', { host: 'www.example.com' }), 'wild');
    assert.equal(m('/users', { host: 'a.b.example.com' }), 'wild', 'wildcards match at any depth');
    assert.equal(m('/users', { host: 'x.eu.example.com' }), 'wild-deeper');
    assert.equal(m('/users', { host: 'other.org' }), 'any');
  });

  it('falls through to the next table when a more specific one has no match', () => {
    assert.equal(m('/wild', { host: 'api.example.com' }), 'wild', 'exact table misses → wildcard');
    assert.equal(m('/other', { host: 'api.example.com' }), 'any', 'both miss → host-less catch-all');
    assert.equal(m('/wild', { host: 'x.eu.example.com' }), 'wild', 'longer suffix misses → shorter one');
  });

  it('"*.example.com" needs at least one character before the suffix', () => {
    const w = matcher([r('wild', { hosts: ['*.example.com'], paths: ['/*'] })]);
    assert.equal(w('/', { host: 'example.com' }), null);
    assert.equal(w('/', { host: '.example.com' }), null);
    assert.equal(w('/', { host: 'badexample.com' }), null);
    assert.equal(w('/', { host: 'a.example.com' }), 'wild');
    assert.equal(w('/', { host: 'a.example.com.evil.net' }), null);
  });

  it('without a Host header only host-less routes match', () => {
    const router = compileRouter([r('exact', { hosts: ['a.io'], paths: ['/*'] }), r('any', { paths: ['/x'] })]);
    assert.equal(router.match(undefined, 'GET', '/x', {})?.id, 'any');
    assert.equal(router.match(undefined, 'GET', '/y', {}), null);
  });

  it('a route with several hosts and paths is reachable through each', () => {
    const w = matcher([r('multi', { hosts: ['a.io', '*.b.io'], paths: ['/p', '/q/*'] })]);
    assert.equal(w('/p', { host: 'a.io' }), 'multi');
    assert.equal(w('/q/1', { host: 'x.b.io' }), 'multi');
    assert.equal(w('/p', { host: 'c.io' }), null);
  });
});

describe('router: query conditions', () => {
  const m = matcher([
    r('v2', { paths: ['/api'], query: { v: '2' } }),
    r('search', { paths: ['/api'], query: { q: 'a b', 'page size': { present: true } } }),
    r('debug', { paths: ['/api'], query: { debug: { present: true }, trace: { present: false } } }),
    r('rx', { paths: ['/api'], query: { id: { regex: '^[0-9]{1,4}$' } } }),
    r('api', { paths: ['/api'] }),
  ]);

  it('exact values, compared decoded ("+" is a space), names case-sensitive', () => {
    assert.equal(m('/api?v=2'), 'v2');
    assert.equal(m('/api?a=1&v=2&b=3'), 'v2');
    assert.equal(m('/api?v=%32'), 'v2');
    assert.equal(m('/api?V=2'), 'api');
    assert.equal(m('/api?v=2x'), 'api');
    assert.equal(m('/api?v'), 'api', 'a parameter without "=" has the value ""');
    assert.equal(m('/api?q=a+b&page+size=1'), 'search');
    assert.equal(m('/api?q=a%20b&page%20size'), 'search');
    assert.equal(m('/api?q=a%2Bb&page+size'), 'api', '%2B is a "+", not a space');
  });

  it('a repeated parameter matches only when every value does', () => {
    assert.equal(m('/api?v=2&v=2'), 'v2');
    assert.equal(m('/api?v=2&v=3'), 'api');
    assert.equal(m('/api?v=3&v=2'), 'api');
    assert.equal(m('/api?id=1&id=22'), 'rx');
    assert.equal(m('/api?id=1&id=x'), 'api');
  });

  it('present and absent; a malformed encoding is compared as written', () => {
    assert.equal(m('/api?debug'), 'debug');
    assert.equal(m('/api?debug=0&trace=1'), 'api');
    assert.equal(m('/api?v=%ZZ'), 'api');
    const raw = matcher([r('pct', { paths: ['/'], query: { x: '%ZZ' } })]);
    assert.equal(raw('/?x=%ZZ'), 'pct');
  });

  it('the query does not take part in path matching', () => {
    assert.equal(m('/api?/x=1'), 'api');
  });
});

describe('router: header conditions', () => {
  it('presence, absence and whole-value regexes; repeated headers seen joined', () => {
    const m = matcher([
      r('user', { paths: ['/*'], headers: { 'X-User': { regex: '^u-[0-9]+$' } } }),
      r('no-auth', { paths: ['/*'], headers: { authorization: { present: false } } }),
      r('rest', { paths: ['/*'] }),
    ]);
    assert.equal(m('/', { headers: { 'x-user': 'u-1', authorization: 'x' } }), 'user');
    assert.equal(m('/', { headers: { 'x-user': 'u-1x', authorization: 'x' } }), 'rest');
    assert.equal(m('/', { headers: { 'x-user': ['u-1', 'u-2'], authorization: 'x' } }), 'rest', 'seen as "u-1, u-2"');
    assert.equal(m('/'), 'no-auth');
    assert.equal(m('/', { headers: { authorization: '' } }), 'rest');
  });

  it('header and query conditions together rank a route before one with fewer', () => {
    const m = matcher([r('one', { paths: ['/x'], headers: { 'x-a': '1' } }), r('two', { paths: ['/x'], headers: { 'x-a': '1' }, query: { b: '1' } })]);
    assert.equal(m('/x?b=1', { headers: { 'x-a': '1' } }), 'two');
    assert.equal(m('/x', { headers: { 'x-a': '1' } }), 'one');
  });
});

describe('router: pathRegex', () => {
  it('must match the whole path (without the query), is tried after static and :param routes and before "*"', () => {
    const m = matcher([
      r('rx', { pathRegex: '^/items/[0-9]+(/reviews)?$' }),
      r('new', { paths: ['/items/new'] }),
      r('param', { paths: ['/items/:id/edit'] }),
      r('wild', { paths: ['/items/*'] }),
    ]);
    assert.equal(m('/items/42'), 'rx');
    assert.equal(m('/items/42/reviews?x=1'), 'rx');
    assert.equal(m('/items/42/edit'), 'param');
    assert.equal(m('/items/new'), 'new');
    assert.equal(m('/items/x'), 'wild');
    assert.equal(m('/items/42/reviews/1'), 'wild');
  });

  it('is filed under its literal start: literal segments, not patterns', () => {
    const m = matcher([r('colon', { pathRegex: '^/:x/[a-z]+$' }), r('root', { pathRegex: '^/(a|b)$' }), r('partial', { pathRegex: '/ap[0-9]' })]);
    assert.equal(m('/:x/abc'), 'colon');
    assert.equal(m('/y/abc'), null, '":x" in a regex is literal text');
    assert.equal(m('/a'), 'root');
    assert.equal(m('/ap1'), 'partial');
  });

  it('a lookup tries only the regexes under its own path, however many there are', () => {
    const routes: RoutableRoute[] = [];
    for (let i = 0; i < 1000; i++) routes.push(r(`rx-${i}`, { pathRegex: `^/svc${i}/v[0-9]+/items$` }));
    for (let i = 0; i < 100; i++) routes.push(r(`root-${i}`, { pathRegex: `^/x${i}-[a-z]+$` }));
    const m = matcher(routes);
    const original = LinearRegex.prototype.test;
    let calls = 0;
    LinearRegex.prototype.test = function (this: LinearRegex, ...args: Parameters<LinearRegex['test']>) {
      calls++;
      return original.apply(this, args);
    };
    try {
      assert.equal(m('/svc512/v2/items'), 'rx-512');
      assert.equal(calls, 1, 'one regex under /svc512');
      calls = 0;
      assert.equal(m('/x42-abc'), 'root-42');
      assert.equal(calls, 1, 'root regexes are filtered by their literal start before running');
      calls = 0;
      assert.equal(m('/nothing/here'), null);
      assert.equal(calls, 0);
    } finally {
      LinearRegex.prototype.test = original;
    }
  });
});

describe('router: priority', () => {
  it('the accepting route with the highest priority wins, whatever its host or path', () => {
    const m = matcher([
      r('exact-host', { hosts: ['api.io'], paths: ['/users/me'] }),
      r('wild-high', { paths: ['/*'], headers: { 'x-maint': '1' } }, 5),
      r('param-higher', { paths: ['/users/:id'], headers: { 'x-maint': '1' } }, 6),
      r('low', { paths: ['/users/me'] }, -1),
    ]);
    assert.equal(m('/users/me', { host: 'api.io' }), 'exact-host');
    assert.equal(m('/users/me', { host: 'api.io', headers: { 'x-maint': '1' } }), 'param-higher');
    assert.equal(m('/other', { host: 'api.io', headers: { 'x-maint': '1' } }), 'wild-high');
    assert.equal(m('/users/me', { host: 'else.io' }), 'low');
  });

  it('ranks before conditions among routes at one node; equal priorities keep the usual order', () => {
    const m = matcher([r('cond', { paths: ['/x'], headers: { 'x-a': '1' } }), r('prio', { paths: ['/x'] }, 1), r('zero', { paths: ['/x'] }, 0)]);
    assert.equal(m('/x', { headers: { 'x-a': '1' } }), 'prio');
    const equal = matcher([r('deep', { paths: ['/a/b'] }, 3), r('wild', { paths: ['/a/*'] }, 3)]);
    assert.equal(equal('/a/b'), 'deep');
  });

  it('a high-priority route that rejects the request does not hide the others', () => {
    const m = matcher([r('high', { paths: ['/*'], methods: ['POST'] }, 100), r('low', { paths: ['/x'] })]);
    assert.equal(m('/x', { method: 'POST' }), 'high');
    assert.equal(m('/x'), 'low');
  });
});

describe('router: withChanges', () => {
  const ids = (router: ReturnType<typeof compileRouter>, paths: string[]) => paths.map((p) => router.match('example.org', 'GET', p, {})?.id ?? null);
  const PROBES = ['/a/x', '/a/y', '/a/z', '/a/', '/a', '/a/x/1'];

  it('a node going from one static child to two and back routes as a router built whole, and the routers before route as they did', () => {
    const x = r('x', { paths: ['/a/x', '/a/x/:id'] });
    const y = r('y', { paths: ['/a/y'] });
    const empty = r('empty', { paths: ['/a/'] });
    const wild = r('wild', { paths: ['/a/*'] });
    const one = compileRouter([x, wild]);
    const two = one.withChanges([], [y]);
    const three = two.withChanges([], [empty]);
    const backToTwo = three.withChanges([empty], []);
    const backToOne = backToTwo.withChanges([x], []);
    const none = backToOne.withChanges([y, wild], []);
    const steps = [
      [one, [x, wild]],
      [two, [x, wild, y]],
      [three, [x, wild, y, empty]],
      [backToTwo, [x, wild, y]],
      [backToOne, [wild, y]],
      [none, []],
    ] as const;
    for (const [router, routes] of steps) assert.deepEqual(ids(router, PROBES), ids(compileRouter(routes), PROBES), routes.map((x) => x.id).join(','));
    assert.deepEqual(ids(one, PROBES), ['x', 'wild', 'wild', 'wild', null, 'x']);
    assert.deepEqual(ids(three, PROBES), ['x', 'y', 'wild', 'empty', null, 'x']);
    assert.deepEqual(ids(none, PROBES), [null, null, null, null, null, null]);
  });

  interface Shape {
    route(n: number, priority: number): RoutableRoute;
    probe(n: number): { host: string; path: string };
    /** Searched before the shape's own routes, so a wrong top priority would end the search at it. */
    catchAll: RoutableRoute;
  }

  /**
   * A fixed sequence from a seeded generator: adds, removals and priority changes (above and below
   * the catch-all's), growing a node past the persistent map's threshold, shrinking it below and
   * growing it again; after each change the router routes 400 probes as one built whole, and at
   * the end every router before routes them as it did.
   */
  function churnAgainstWhole(shape: Shape): void {
    let seed = 7;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const probes = Array.from({ length: 400 }, (_, n) => shape.probe(n));
    const routed = (router: ReturnType<typeof compileRouter>) => probes.map((p) => router.match(p.host, 'GET', p.path, {})?.id ?? null);
    const live = new Map<number, RoutableRoute>();
    for (let n = 0; n < 300; n++) live.set(n, shape.route(n, 0));
    let router = compileRouter([...live.values(), shape.catchAll]);
    const history: { router: ReturnType<typeof compileRouter>; expected: (string | null)[] }[] = [];
    const change = (what: string, removed: RoutableRoute[], added: RoutableRoute[]) => {
      router = router.withChanges(removed, added);
      const expected = routed(compileRouter([...live.values(), shape.catchAll]));
      assert.deepEqual(routed(router), expected, `${what}, ${live.size} routes`);
      history.push({ router, expected });
    };
    const churn = () => {
      const n = next(400);
      const old = live.get(n);
      const fresh = shape.route(n, [0, 5, 2][next(3)]!);
      live.set(n, fresh);
      change(`${fresh.id} set`, old === undefined ? [] : [old], [fresh]);
    };
    for (let i = 0; i < 120; i++) churn();
    while (live.size > 20) {
      const n = [...live.keys()][next(live.size)]!;
      const old = live.get(n)!;
      live.delete(n);
      change(`${old.id} removed`, [old], []);
    }
    for (let i = 0; i < 150; i++) churn();
    for (const { router: before, expected } of history) assert.deepEqual(routed(before), expected, 'a router before a change routes as it did');
  }

  it('a path node with hundreds of static children (kept in a persistent map) routes after every change as a router built whole', () => {
    churnAgainstWhole({
      route: (n, priority) => r(`svc${n}`, { paths: [`/svc${n}/*`, `/svc${n}`] }, priority),
      probe: (n) => ({ host: 'example.org', path: n % 2 === 0 ? `/svc${n}/items` : `/svc${n}` }),
      catchAll: r('catch-all', { hosts: ['example.org'], paths: ['/*'] }, 3),
    });
  });

  it('hundreds of host tables, exact and wildcard, route after every change as a router built whole', () => {
    churnAgainstWhole({
      route: (n, priority) => r(`tenant${n}`, { hosts: [n % 3 === 0 ? `*.t${n}.example.com` : `t${n}.example.com`], paths: ['/*'] }, priority),
      probe: (n) => ({ host: n % 3 === 0 ? `api.t${n}.example.com` : `t${n}.example.com`, path: '/x' }),
      catchAll: r('catch-all', { hosts: ['*.example.com'], paths: ['/*'] }, 3),
    });
  });
});
