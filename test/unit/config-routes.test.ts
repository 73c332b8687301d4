// A route's traffic fields: match conditions, the one action, rewrite, retries, timeoutMs; each
// mistake named with its place.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSources } from '../../src/config/load.js';
import { referrers } from '../../src/config/references.js';
import { formatIssue, validateDocument } from '../../src/config/validate.js';

function check(route: Record<string, unknown>): string[] {
  const text = JSON.stringify({
    upstreams: [
      { id: 'u', targets: [{ url: 'http://127.0.0.1:9101' }] },
      { id: 'v', targets: [{ url: 'http://127.0.0.1:9102' }] },
    ],
    routes: [{ id: 'r', match: { paths: ['/a/*'] }, ...route }],
  });
  const r = validateSources([{ file: 'a.json', text }]);
  return r.ok ? [] : r.issues.map(formatIssue).map((i) => i.replace(/^a\.json:1: /, ''));
}

const up = { upstream: 'u' };

describe('config: route match', () => {
  it('takes header and query conditions as exact strings, { present } or { regex }', () => {
    assert.deepEqual(check({ ...up, match: { paths: ['/'], headers: { 'x-a': '1', 'x-b': { present: true }, 'x-c': { regex: '^v[0-9]+$' } }, query: { v: '2', debug: { present: false } } } }), []);
    assert.deepEqual(check({ ...up, match: { paths: ['/'], headers: { 'x-a': 1 } } }), ['routes[0].match.headers["x-a"]: must be a string (the exact value), { present: true|false } or { regex: "..." }']);
    assert.deepEqual(check({ ...up, match: { paths: ['/'], query: { v: {} } } }), ['routes[0].match.query.v: give exactly one of present, regex']);
    assert.deepEqual(check({ ...up, match: { paths: ['/'], query: { v: { present: true, regex: 'x' } } } }), ['routes[0].match.query.v: give exactly one of present, regex']);
    assert.deepEqual(check({ ...up, match: { paths: ['/'], query: { v: { exact: 'x' } } } }), ['routes[0].match.query.v.exact: unknown field', 'routes[0].match.query.v: give exactly one of present, regex']);
    assert.deepEqual(check({ ...up, match: { paths: ['/'], headers: { 'x-a': { regex: '(a)\\1' } } } }), [
      'routes[0].match.headers["x-a"].regex: backreference "\\1" at 3 is not supported: no engine can match backreferences in linear time',
    ]);
  });

  it('takes paths or pathRegex, one of them; a pathRegex starts with "/" and uses what matches in linear time', () => {
    assert.deepEqual(check({ ...up, match: { pathRegex: '^/items/[0-9]+$' } }), []);
    assert.deepEqual(check({ ...up, match: { paths: ['/'], pathRegex: '^/x$' } }), ['routes[0].match: give paths or pathRegex, not both']);
    assert.deepEqual(check({ ...up, match: {} }), ['routes[0].match: give paths or pathRegex']);
    assert.deepEqual(check({ ...up, match: { pathRegex: '^.*/x$' } }), [
      'routes[0].match.pathRegex: must begin with "/" (after an optional "^"): request paths always do, and the literal start is where the router tries it',
    ]);
    assert.deepEqual(check({ ...up, match: { pathRegex: '^/(?=admin).*' } }), [
      'routes[0].match.pathRegex: lookaround at 2 is not supported: no pattern here may look ahead or behind (RE2 refuses it too)',
    ]);
  });

  it('takes an integer priority from -1000 to 1000', () => {
    assert.deepEqual(check({ ...up, priority: -1000 }), []);
    assert.match(check({ ...up, priority: 1.5 }).join(), /routes\[0\]\.priority/);
    assert.match(check({ ...up, priority: 1001 }).join(), /routes\[0\]\.priority/);
  });
});

describe('config: route actions', () => {
  it('needs exactly one of upstream, split, redirect, respond, and says which it has', () => {
    assert.deepEqual(check({}), ['routes[0]: a route needs exactly one of upstream, split, redirect, respond; this one has none']);
    assert.deepEqual(check({ ...up, redirect: { status: 301, location: '/x' }, respond: { status: 200 } }), [
      'routes[0]: a route needs exactly one of upstream, split, redirect, respond; this one has upstream, redirect and respond',
    ]);
  });

  it('split: upstreams that exist, each once, weights 0..10000 not all 0', () => {
    assert.deepEqual(check({ split: [{ upstream: 'u', weight: 90 }, { upstream: 'v', weight: 10 }] }), []);
    assert.deepEqual(check({ split: [{ upstream: 'u', weight: 90 }, { upstream: 'nope', weight: 10 }] }), ['routes[0].split[1].upstream: unknown upstream "nope"']);
    assert.deepEqual(check({ split: [{ upstream: 'u', weight: 1 }, { upstream: 'u', weight: 1 }] }), ['routes[0].split[1].upstream: upstream "u" is already in the split']);
    assert.deepEqual(check({ split: [{ upstream: 'u', weight: 0 }] }), ['routes[0].split: at least one weight must be above 0']);
    assert.match(check({ split: [{ upstream: 'u' }] }).join(), /routes\[0\]\.split\[0\]\.weight/);
  });

  it('redirect: a status of 301, 302, 303, 307 or 308 and a location or a scheme', () => {
    assert.deepEqual(check({ redirect: { status: 308, scheme: 'https', port: 8443 } }), []);
    assert.deepEqual(check({ redirect: { status: 302, location: 'https://x.example/a?b#c' } }), []);
    assert.deepEqual(check({ redirect: { status: 200, location: '/x' } }), ['routes[0].redirect.status: must be 301, 302, 303, 307 or 308']);
    assert.deepEqual(check({ redirect: { status: 301 } }), ['routes[0].redirect: give exactly one of location, scheme']);
    assert.deepEqual(check({ redirect: { status: 301, location: '/x', port: 1 } }), ['routes[0].redirect.port: port goes with scheme (a location names its own)']);
    assert.deepEqual(check({ redirect: { status: 301, location: '//evil.example/' } }), ['routes[0].redirect.location: a path must not start with "//" (that is another host)']);
    assert.deepEqual(check({ redirect: { status: 301, location: 'javascript:alert(1)' } }), ['routes[0].redirect.location: scheme must be http or https']);
    assert.deepEqual(check({ redirect: { status: 301, location: '/a\r\nSet-Cookie: x' } }), [
      'routes[0].redirect.location: must be visible ASCII: no white space or control characters (percent-encode the rest)',
    ]);
  });

  it('respond: a status 200..599, headers the proxy does not set itself, no body on 204/304', () => {
    assert.deepEqual(check({ respond: { status: 200, body: 'ok', headers: { 'content-type': 'text/plain' } } }), []);
    assert.deepEqual(check({ respond: { status: 204, body: 'x' } }), ['routes[0].respond.body: a 204 or 304 has no body']);
    assert.deepEqual(check({ respond: { status: 200, headers: { 'Content-Length': '5' } } }), ['routes[0].respond.headers["Content-Length"]: is set by the proxy itself']);
    assert.deepEqual(check({ respond: { status: 200, headers: { 'x-a': 'a\nb' } } }), ['routes[0].respond.headers["x-a"]: must not hold control characters (line breaks included)']);
    assert.match(check({ respond: { status: 101 } }).join(), /routes\[0\]\.respond\.status/);
  });

  it('rewrite, retries and timeoutMs only on a route that forwards', () => {
    assert.deepEqual(check({ respond: { status: 200 }, rewrite: { host: 'x' }, timeoutMs: 5 }), [
      'routes[0].rewrite: only for a route that forwards (upstream or split); this one answers with respond',
      'routes[0].timeoutMs: only for a route that forwards (upstream or split); this one answers with respond',
    ]);
  });
});

describe('config: rewrite and retries', () => {
  it('stripPrefix: literal segments that start every path of the route', () => {
    assert.deepEqual(check({ ...up, match: { paths: ['/api', '/api/*'] }, rewrite: { stripPrefix: '/api' } }), []);
    assert.deepEqual(check({ ...up, match: { paths: ['/api/*', '/other'] }, rewrite: { stripPrefix: '/api' } }), [
      'routes[0].rewrite.stripPrefix: "/api" is not at the start of path "/other": every path of the route must start with it',
    ]);
    assert.deepEqual(check({ ...up, match: { paths: ['/apix/*'] }, rewrite: { stripPrefix: '/api' } }), [
      'routes[0].rewrite.stripPrefix: "/api" is not at the start of path "/apix/*": every path of the route must start with it',
    ]);
    assert.deepEqual(check({ ...up, rewrite: { stripPrefix: '/a/' } }), ['routes[0].rewrite.stripPrefix: must not end with "/": "/api" strips "/api" from "/api/users" and leaves "/users"']);
    assert.deepEqual(check({ ...up, match: { paths: ['/:t/*'] }, rewrite: { stripPrefix: '/:t' } }), ['routes[0].rewrite.stripPrefix: must be literal segments, without ":name" or "*"']);
    assert.deepEqual(check({ ...up, match: { pathRegex: '^/api/v[0-9]+$' }, rewrite: { stripPrefix: '/api' } }), []);
    assert.match(check({ ...up, match: { pathRegex: '^/(api|v1)/x$' }, rewrite: { stripPrefix: '/api' } }).join(), /not at the literal start of pathRegex/);
  });

  it('path: every :name and a trailing * must come from every path of the route; normalized like a pattern', () => {
    assert.deepEqual(check({ ...up, match: { paths: ['/u/:id', '/users/:id/*'] }, rewrite: { path: '/v2/:id' } }), []);
    assert.deepEqual(check({ ...up, match: { paths: ['/u/:id', '/users'] }, rewrite: { path: '/v2/:id' } }), [
      'routes[0].rewrite.path: ":id" is not in path "/users": every path of the route must define it',
    ]);
    assert.deepEqual(check({ ...up, match: { paths: ['/u/:id'] }, rewrite: { path: '/v2/*' } }), ['routes[0].rewrite.path: ends with "*" but path "/u/:id" does not: every path of the route must']);
    assert.deepEqual(check({ ...up, match: { pathRegex: '^/u/[0-9]+$' }, rewrite: { path: '/v2/:id' } }), ['routes[0].rewrite.path: a pathRegex route has no ":name" or "*" to substitute; give a literal path']);
    assert.match(check({ ...up, rewrite: { path: '/a/../b' } }).join(), /routes\[0\]\.rewrite\.path: must not contain "\." or "\.\." segments/);
    assert.deepEqual(check({ ...up, rewrite: { stripPrefix: '/a', path: '/b' } }), ['routes[0].rewrite: give stripPrefix or path, not both (path replaces the whole path)']);
    assert.deepEqual(check({ ...up, rewrite: {} }), ['routes[0].rewrite: give at least one of stripPrefix, path, host']);
    assert.match(check({ ...up, rewrite: { host: 'Bad Host' } }).join(), /routes\[0\]\.rewrite\.host: must be a lowercase host name or IP/);
  });

  it('retries: attempts 2..10, on statuses 400..599, "connect-failure" and "reset", each once; backoffMs 0..10000', () => {
    assert.deepEqual(check({ ...up, retries: { attempts: 3, on: [502, 503, 'reset', 'connect-failure'] }, timeoutMs: 2000 }), []);
    assert.deepEqual(check({ ...up, retries: { attempts: 2 } }), []);
    assert.match(check({ ...up, retries: { attempts: 1 } }).join(), /routes\[0\]\.retries\.attempts/);
    assert.deepEqual(check({ ...up, retries: { attempts: 2, on: ['timeout'] } }), ['routes[0].retries.on[0]: must be a status 400..599, "connect-failure" or "reset"']);
    assert.deepEqual(check({ ...up, retries: { attempts: 2, on: [503, 503] } }), ['routes[0].retries.on[1]: 503 is listed twice']);
    assert.deepEqual(check({ ...up, retries: { attempts: 2, backoffMs: 0 } }), []);
    assert.deepEqual(check({ ...up, retries: { attempts: 2, backoffMs: 10_000 } }), []);
    assert.match(check({ ...up, retries: { attempts: 2, backoffMs: 10_001 } }).join(), /routes\[0\]\.retries\.backoffMs: Too big/);
    assert.match(check({ ...up, retries: { attempts: 2, backoffMs: 2.5 } }).join(), /routes\[0\]\.retries\.backoffMs/);
  });
});

describe('config: what uses an upstream', () => {
  it('counts a split arm as a use, so the upstream cannot be deleted under it', () => {
    const r = validateDocument({
      upstreams: [{ id: 'u', targets: [] }, { id: 'v', targets: [] }],
      routes: [{ id: 'canary', match: { paths: ['/'] }, split: [{ upstream: 'u', weight: 9 }, { upstream: 'v', weight: 1 }] }],
    });
    assert.ok(r.ok);
    assert.deepEqual(referrers(r.config, 'upstreams', 'v'), [{ kind: 'routes', id: 'canary', path: 'routes[0].split[1].upstream' }]);
  });
});
