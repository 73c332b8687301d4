import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizePath, type NormalizedPath } from '../../src/proxy/path.js';
import { compileRewrite } from '../../src/proxy/rewrite.js';

function rewrite(def: { stripPrefix?: string; path?: string; host?: string }, paths: string[]) {
  const r = compileRewrite({ rewrite: def, match: { paths } });
  assert.ok(r !== null);
  return r;
}

/** True when normalizing `target` gives it back unchanged. */
function normal(target: string): boolean {
  const out: NormalizedPath = { path: '', encodedSlash: false };
  return normalizePath(target, out) && out.path === target;
}

describe('rewrite', () => {
  it('stripPrefix removes whole leading segments and keeps the query', () => {
    const r = rewrite({ stripPrefix: '/api/v1' }, ['/api/v1', '/api/v1/*']);
    assert.equal(r.path('/api/v1/users?x=1'), '/users?x=1');
    assert.equal(r.path('/api/v1'), '/');
    assert.equal(r.path('/api/v1/'), '/');
    assert.equal(r.path('/api/v1?a=/b'), '/?a=/b');
    assert.equal(r.path('/api/v10/x'), '/api/v10/x', 'not at a segment boundary: unchanged');
    assert.equal(r.host, null);
  });

  it('path replaces the path, with :name and * from the pattern that matched', () => {
    const r = rewrite({ path: '/v2/:org/users/:id/*' }, ['/orgs/:org/people/:id/*', '/:org/u/:id/*']);
    assert.equal(r.path('/orgs/acme/people/7/a/b?q=1'), '/v2/acme/users/7/a/b?q=1');
    assert.equal(r.path('/acme/u/7/'), '/v2/acme/users/7/');
    const fixed = rewrite({ path: '/static/index.html', host: 'cdn.internal' }, ['/', '/home']);
    assert.equal(fixed.path('/home?lang=de'), '/static/index.html?lang=de');
    assert.equal(fixed.host, 'cdn.internal');
  });

  it('prefers the route pattern the router prefers: static, then :name, then *', () => {
    const r = rewrite({ path: '/x/:id' }, ['/a/:id', '/:id/b']);
    // "/a/b" matches both; the router walks the static "a" first, so ":id" is "b".
    assert.equal(r.path('/a/b'), '/x/b');
    const rest = rewrite({ path: '/y/*' }, ['/a/*', '/a/:x/*']);
    assert.equal(rest.path('/a/b/c'), '/y/c', '"/a/:x/*" is deeper, tried before "/a/*"');
  });

  it('host alone leaves the path as it is', () => {
    const r = rewrite({ host: 'users.internal:8080' }, ['/*']);
    assert.equal(r.path('/a/b?c'), '/a/b?c');
    assert.equal(r.host, 'users.internal:8080');
  });

  it('the result of a normalized path is itself normalized: no "..", "//" or decodable percent-encoding comes back', () => {
    const strip = rewrite({ stripPrefix: '/p' }, ['/p/*']);
    const tpl = rewrite({ path: '/t/:a/*' }, ['/p/:a/*']);
    const segments = ['a', 'b.c', '%2F', '%C3%A9', '..a', '.a', 'x;y', '~', '%25'];
    let n = 0;
    for (const s1 of segments) {
      for (const s2 of ['', ...segments]) {
        for (const tail of ['', '/', '?q=../x//y']) {
          const path = `/p/${s1}${s2 === '' ? '' : `/${s2}`}${tail}`;
          if (!normal(path)) continue;
          for (const out of [strip.path(path), tpl.path(path)]) {
            assert.ok(normal(out), `${path} → ${out}`);
            n++;
          }
        }
      }
    }
    assert.ok(n > 100);
  });
});
