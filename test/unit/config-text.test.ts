// Config text that no person writes: what a parser would choke on is refused before it runs, a
// JSON object takes the fast path without losing what the YAML parser would have said, and a
// document with thousands of problems lists the first 100 and says how many more.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSources } from '../../src/config/load.js';
import { MAX_ENTRIES, MAX_NESTING } from '../../src/config/text.js';
import { MAX_ISSUES, formatIssue } from '../../src/config/validate.js';

const issues = (text: string): string[] => {
  const r = validateSources([{ file: 'a', text }]);
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.issues.map(formatIssue);
};

describe('config text', () => {
  it('refuses nesting past MAX_NESTING before parsing, in brackets, indentation or compact sequences', () => {
    const n = MAX_NESTING + 1;
    const refusal = `a:1: (document): nests deeper than ${MAX_NESTING} levels; no config does`;
    assert.deepEqual(issues(`{"routes":${'['.repeat(n)}${']'.repeat(n)}}`), [refusal]);
    assert.deepEqual(issues(`routes: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`), [refusal]);
    assert.deepEqual(issues(`routes:\n${'- '.repeat(n)}x\n`), [`a:2: (document): nests deeper than ${MAX_NESTING} levels; no config does`]);
    // Deep enough for any config, and it is parsed (and refused for what it is).
    assert.match(issues(`{"routes":${'['.repeat(20)}${']'.repeat(20)}}`)[0]!, /^a:1: routes\[0\]: Invalid input: expected object, received array$/);
  });

  it('refuses more entries than any config etcd can record, before the YAML parser spends gigabytes on them', () => {
    assert.deepEqual(issues(`routes:\n${'- {}\n'.repeat(MAX_ENTRIES + 1)}`), [`a: (document): has more than ${MAX_ENTRIES} entries; no config etcd can record does`]);
  });

  it('refuses a YAML alias bomb with the parser’s reason', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9).fill(`*${'abcdefghij'[i - 1]}`).join(', ')}]`);
    assert.deepEqual(issues(lines.join('\n')), ['a: (document): Excessive alias count indicates a resource exhaustion attack']);
  });

  it('a JSON object is read as the YAML parser would: a duplicate key is named with its line, lines are given when the text has them', () => {
    assert.deepEqual(issues('{\n  "routes": [],\n  "routes": []\n}'), ['a:3: (document): Map keys must be unique']);
    assert.deepEqual(issues('{\n  "routes": [\n    { "id": "r", "match": { "paths": ["/"] }, "upstream": "nope" }\n  ]\n}'), ['a:3: routes[0].upstream: unknown upstream "nope"']);
    assert.deepEqual(issues('{"routes":[{"id":"r","match":{"paths":["/"]},"upstream":"nope"}]}'), ['a:1: routes[0].upstream: unknown upstream "nope"']);
    const escaped = validateSources([{ file: 'a', text: '{"upstreams":[{"id":"u","targets":[{"url":"http://127.0.0.1:9"}],"\\u0069d":"u"}]}' }]);
    assert.equal(escaped.ok, false, 'a key spelled with an escape is the same key');
  });

  it('lists the first MAX_ISSUES problems, then how many more, exactly while that is cheap to know', () => {
    const list = issues(JSON.stringify({ routes: Array.from({ length: 50 }, (_, i) => ({ id: `r${i}`, match: { paths: ['/'] }, upstream: 'nope' })).concat(
      Array.from({ length: 30 }, (_, i) => ({ id: `s${i}`, match: { paths: ['/'] }, upstream: 'nope', extra: 1 } as never)),
    ) }));
    assert.equal(list.length, MAX_ISSUES + 1);
    // 30 unknown fields (the schema check comes first), then 80 unknown upstreams: 110 in all.
    assert.equal(list[MAX_ISSUES], '(document): and 10 more problems; fix these first');
    const empties = issues(JSON.stringify({ routes: Array.from({ length: 100_000 }, () => ({})) }));
    assert.equal(empties.length, MAX_ISSUES + 1);
    assert.equal(empties[MAX_ISSUES], '(document): and at least 10000 more problems (checking stopped there); fix these first');
  });
});
