import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinearRegex, MAX_POSITIONS, regexProblem } from '../../src/util/linear-regex.js';

/** A small deterministic generator, so a failure names an input that fails again. */
function generator(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

describe('linear regex: the strings it matches', () => {
  it('matches what JavaScript matches for the same pattern anchored at both ends', () => {
    const patterns = [
      '^/users/[0-9]+$',
      '/a(b|c)*d',
      'x{2,4}y?',
      '(a|ab)(c|bcd)(d*)',
      '^/api/v[0-9]+/(users|teams)/[^/]+$',
      '.*',
      '',
      'a+b+',
      '(?:ab){0,3}c',
      '[\\w-]+\\.(png|jpe?g)',
      '(a*)*b',
      '(a|a)*b',
      'a*?a*b',
      '\\d{3}-\\d{4}',
      '[^a]',
      'a{0}b',
      '(?<n>x)y',
      'a.c',
      '[a-c-]+/',
      '\\x41\\+\\.',
      '(x|)+y{2,}',
    ];
    const rnd = generator(7);
    const alphabet = 'abcdxy/0123-._AB+';
    for (const p of patterns) {
      const ours = new LinearRegex(p);
      const theirs = new RegExp(`^(?:${p.replace(/^\^/, '').replace(/\$$/, '')})$`);
      for (let i = 0; i < 2000; i++) {
        let s = '';
        const len = Math.floor(rnd() * 10);
        for (let k = 0; k < len; k++) s += alphabet[Math.floor(rnd() * alphabet.length)];
        assert.equal(ours.test(s), theirs.test(s), `${p} on ${JSON.stringify(s)}`);
      }
    }
  });

  it('tests a range of a string, whole', () => {
    const r = new LinearRegex('^/a/[0-9]+$');
    const s = '/a/12?x=/a/3';
    assert.equal(r.test(s, 0, 5), true);
    assert.equal(r.test(s, 0, 4), true);
    assert.equal(r.test(s), false);
    assert.equal(new LinearRegex('x*').test(s, 3, 3), true, 'an empty range matches a pattern that takes the empty string');
  });

  it('answers the patterns that make a backtracking engine take exponential time, on long inputs', () => {
    // Each of these makes V8 backtrack for longer than this test's timeout on such inputs.
    const long = 'a'.repeat(100_000);
    assert.equal(new LinearRegex('(a|a)*b').test(long), false);
    assert.equal(new LinearRegex('(a*)*b').test(long), false);
    assert.equal(new LinearRegex('(a+)+b').test(long), false);
    assert.equal(new LinearRegex('a*a*a*a*a*b').test(long), false);
    assert.equal(new LinearRegex('(a|a)*').test(long), true);
  });

  it('compares characters above U+00FF only with ".", negated classes and \\D \\W \\S', () => {
    assert.equal(new LinearRegex('.').test('€'), true);
    assert.equal(new LinearRegex('[^a]').test('€'), true);
    assert.equal(new LinearRegex('\\W').test('€'), true);
    assert.equal(new LinearRegex('[a-z]').test('€'), false);
    assert.equal(new LinearRegex('\\xE9').test('é'), true);
  });

  it('knows the literal start of every match', () => {
    assert.equal(new LinearRegex('^/api/v[0-9]+$').literalPrefix, '/api/v');
    assert.equal(new LinearRegex('/a(?:b)c').literalPrefix, '/abc');
    assert.equal(new LinearRegex('/ab?').literalPrefix, '/a', 'a quantified character is not literal');
    assert.equal(new LinearRegex('/a|/b').literalPrefix, '');
    assert.equal(new LinearRegex('\\/x\\.y').literalPrefix, '/x.y');
  });
});

describe('linear regex: patterns it refuses, with the reason', () => {
  const refused: [string, RegExp][] = [
    ['(?=a)', /lookaround at 0 is not supported/],
    ['a(?<!b)', /lookaround at 1/],
    ['(a)\\1', /backreference "\\1" at 3/],
    ['\\k<n>', /backreference/],
    ['\\bword', /word boundaries/],
    ['(?i)abc', /inline flags/],
    ['a**', /follows another/],
    ['a{2}{3}', /follows another/],
    ['*a', /nothing to repeat/],
    ['[a', /not closed/],
    ['(a', /not closed/],
    ['a)', /unmatched "\)" at 1/],
    ['{', /write a literal "\{"/],
    ['a{3,1}', /maximum is below the minimum/],
    ['[]', /empty class/],
    ['[z-a]', /out of order/],
    ['[[:alpha:]]', /POSIX classes/],
    ['é', /printable ASCII/],
    ['\\p{L}', /unknown escape/],
    ['^a^', /"\^" at 2/],
    ['a$b', /"\^" may only start and "\$" only end/],
    ['a{300}', /at most 256/],
    ['x'.repeat(1001), /longer than 1000/],
    [`[a-z]{200}[a-z]{100}`, new RegExp(`over ${MAX_POSITIONS} character positions`)],
    ['(((){200}){200}){200}', /too complex/],
  ];
  for (const [pattern, reason] of refused) {
    it(`refuses ${pattern.length > 30 ? `${pattern.slice(0, 30)}…` : pattern}`, () => {
      const problem = regexProblem(pattern);
      assert.ok(problem !== null, 'accepted');
      assert.match(problem, reason);
    });
  }

  it('accepts "^" and "$" at the ends, escaped ones anywhere', () => {
    assert.equal(regexProblem('^/a\\$b\\^c$'), null);
    assert.equal(new LinearRegex('^a\\$$').test('a$'), true);
  });
});
