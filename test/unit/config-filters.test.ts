// The request filters' schemas: ip-filter, cors, body-limit, headers. Bad input names what is
// wrong and where (file, JSON path).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSources } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/validate.js';

function check(policy: Record<string, unknown>): string[] {
  const text = JSON.stringify({
    upstreams: [{ id: 'u', targets: [{ url: 'http://127.0.0.1:9101' }] }],
    routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', policies: ['p'] }],
    policies: [{ id: 'p', ...policy }],
  });
  const r = validateSources([{ file: 'a.json', text }]);
  return r.ok ? [] : r.issues.map(formatIssue);
}

describe('config: ip-filter', () => {
  it('takes IPv4 and IPv6 addresses and CIDRs', () => {
    assert.deepEqual(check({ type: 'ip-filter', allow: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1'], deny: ['10.6.0.0/16'] }), []);
  });

  it('names each bad entry by its path', () => {
    assert.deepEqual(check({ type: 'ip-filter', allow: ['10.0.0.0/8', '10.0.0.0/33'], deny: ['example.com', '10.0.0.1/8'] }), [
      'a.json:1: policies[0].allow[1]: "10.0.0.0/33": the prefix length must be 0 to 32',
      'a.json:1: policies[0].deny[0]: "example.com" is not an IP address or CIDR (such as 10.0.0.0/8 or fd00::/8)',
      'a.json:1: policies[0].deny[1]: "10.0.0.1/8" has bits set past its /8 prefix; the network is 10.0.0.0/8',
    ]);
  });

  it('refuses a filter with no rules at all', () => {
    assert.deepEqual(check({ type: 'ip-filter', allow: [], deny: [] }), ['a.json:1: policies[0].allow: an ip-filter needs at least one address or CIDR in allow or deny']);
  });
});

describe('config: body-limit', () => {
  it('takes a whole number of bytes, 0 and up', () => {
    assert.deepEqual(check({ type: 'body-limit', maxBytes: 0 }), []);
    assert.deepEqual(check({ type: 'body-limit', maxBytes: 1048576 }), []);
    assert.equal(check({ type: 'body-limit', maxBytes: -1 })[0]?.startsWith('a.json:1: policies[0].maxBytes: '), true);
    assert.equal(check({ type: 'body-limit', maxBytes: 1.5 })[0]?.startsWith('a.json:1: policies[0].maxBytes: '), true);
    assert.equal(check({ type: 'body-limit' })[0]?.startsWith('a.json:1: policies[0].maxBytes: '), true);
  });
});
