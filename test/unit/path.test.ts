import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizePath, type NormalizedPath } from '../../src/proxy/path.js';

function norm(target: string): NormalizedPath | null {
  const out: NormalizedPath = { path: '', encodedSlash: false };
  return normalizePath(target, out) ? out : null;
}

function path(target: string): string | null {
  return norm(target)?.path ?? null;
}

describe('path normalization', () => {
  it('returns a path that is already normal as the same string', () => {
    for (const p of ['/', '/a', '/a/b/', '/users/42?x=1', '/.well-known/x', '/a.b/c..d/...', '/a;b=1/c', '/a?/../b']) {
      const out = norm(p);
      assert.ok(out !== null, p);
      assert.equal(out.path, p, p);
      assert.equal(out.encodedSlash, false, p);
    }
  });

  it('resolves dot segments (RFC 3986 §5.2.4)', () => {
    const cases: [string, string][] = [
      ['/public/../admin/x', '/admin/x'],
      ['/a/./b', '/a/b'],
      ['/a/b/../../c', '/c'],
      ['/public/./../admin', '/admin'],
      ['/a/.', '/a/'],
      ['/a/..', '/'],
      ['/a/b/..', '/a/'],
      ['/.', '/'],
      ['/./a', '/a'],
    ];
    for (const [input, want] of cases) assert.equal(path(input), want, input);
  });

  it('resolves encoded dot segments in any case', () => {
    assert.equal(path('/public/%2e%2e/admin/x'), '/admin/x');
    assert.equal(path('/public/%2E%2E/admin/x'), '/admin/x');
    assert.equal(path('/public/.%2e/admin/x'), '/admin/x');
    assert.equal(path('/public/%2e/x'), '/public/x');
  });

  it('merges repeated slashes', () => {
    assert.equal(path('//admin'), '/admin');
    assert.equal(path('/a//b///c'), '/a/b/c');
    assert.equal(path('/a//'), '/a/');
    assert.equal(path('//'), '/');
  });

  it('decodes unreserved characters, keeps other encodings with uppercase hex', () => {
    assert.equal(path('/%61dmin/%7Euser/%2D%5F'), '/admin/~user/-_');
    assert.equal(path('/caf%c3%a9'), '/caf%C3%A9');
    assert.equal(path('/a%20b/%3f'), '/a%20b/%3F');
    assert.equal(path('/a%3Bb'), '/a%3Bb');
  });

  it('keeps the query string exactly as sent', () => {
    assert.equal(path('/public/../admin?next=/a/../b&x=%2e%2e'), '/admin?next=/a/../b&x=%2e%2e');
    assert.equal(path('/a//b?'), '/a/b?');
  });

  it('keeps encoded slashes and backslashes encoded, inside their segment, and reports them', () => {
    const slash = norm('/files/a%2fb');
    assert.deepEqual(slash, { path: '/files/a%2Fb', encodedSlash: true });
    assert.deepEqual(norm('/files/a%5cb'), { path: '/files/a%5Cb', encodedSlash: true });
    assert.deepEqual(norm('/files/a\\b'), { path: '/files/a%5Cb', encodedSlash: true });
    // Not a separator: "..%2F" is one segment, not a dot segment.
    assert.deepEqual(norm('/public/..%2fadmin'), { path: '/public/..%2Fadmin', encodedSlash: true });
    assert.equal(norm('/a%2Fb')!.encodedSlash, true);
    assert.equal(norm('/a%2Eb')!.encodedSlash, false);
  });

  it('refuses a dot segment above the root', () => {
    for (const p of ['/..', '/../a', '/a/../..', '/a/../../b', '/%2e%2e/x', '/./../x']) assert.equal(norm(p), null, p);
  });

  it('refuses "..;" and ".;" segments (path parameters that some servers drop)', () => {
    for (const p of ['/public/..;/admin', '/public/..;x=1/admin', '/a/.;/b', '/public/%2e%2e;/admin']) assert.equal(norm(p), null, p);
    assert.equal(path('/a/..b;/c'), '/a/..b;/c', 'only a bare dot segment before ";" is refused');
  });

  it('refuses malformed percent-encodings, an encoded NUL and a fragment', () => {
    for (const p of ['/a%', '/a%2', '/a%zz', '/a%2/b', '/a%00b', '/a#b', '/a/%2e%2e#/x']) assert.equal(norm(p), null, p);
    assert.equal(path('/a?b#c'), '/a?b#c', 'the query is not looked at');
  });
});
