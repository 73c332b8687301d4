// JSON merge patch as RFC 7396 defines it (its appendix A examples), which PATCH relies on.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { applyMergePatch } from '../../src/control-plane/merge-patch.js';

it('merge patch: RFC 7396 appendix A', () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, expected] of cases) assert.deepEqual(applyMergePatch(target, patch), expected, JSON.stringify({ target, patch }));
});

it('merge patch: never changes its inputs, and "__proto__" stays a plain member', () => {
  const target = { match: { paths: ['/a'], methods: ['GET'] } };
  const out = applyMergePatch(target, JSON.parse('{"match":{"methods":null},"__proto__":{"polluted":true}}')) as Record<string, unknown>;
  assert.deepEqual(target, { match: { paths: ['/a'], methods: ['GET'] } });
  assert.deepEqual(Object.keys(out), ['match', '__proto__']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
});
