import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { compileRouter, normalizeHost, type RoutableRoute, type RouteMatch } from '../../src/proxy/router.js';

function r(id: string, match: Partial<RouteMatch> & { paths: string[] }): RoutableRoute {
  return { id, match: match as RouteMatch };
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

  it('method must be listed (HEAD does not imply GET)', () => {
    const m = matcher([r('get', { paths: ['/x'], methods: ['GET', 'POST'] })]);
    assert.equal(m('/x', { method: 'POST' }), 'get');
    assert.equal(m('/x', { method: 'HEAD' }), null);
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
