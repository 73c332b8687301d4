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

describe('config: cors', () => {
  it('takes exact origins, wildcard subdomains (bare ones mean https) and "*"', () => {
    assert.deepEqual(check({ type: 'cors', origins: ['https://app.example.com', 'http://localhost:3000', 'https://*.example.com', '*.example.org', 'https://*.example.net:8443'], credentials: true, maxAgeS: 600 }), []);
    assert.deepEqual(check({ type: 'cors', origins: ['*'], methods: ['GET', 'PUT'], headers: ['*'], exposeHeaders: ['X-Total'] }), []);
  });

  it('refuses "*" with credentials: true, naming the entry', () => {
    assert.deepEqual(check({ type: 'cors', origins: ['*'], credentials: true }), [
      'a.json:1: policies[0].origins[0]: "*" with credentials: true would let every web site read answers made with its visitors\' cookies; list the origins (https://*.example.com covers subdomains)',
    ]);
  });

  it('names each malformed origin, header or method by its path', () => {
    assert.deepEqual(check({ type: 'cors', origins: ['https://app.example.com/', 'app.example.com', 'https://App.example.com', 'null', 'https://a.*.example.com'], methods: ['get'], headers: ['x token'], exposeHeaders: ['ok', 'bad:name'] }), [
      'a.json:1: policies[0].origins[0]: "https://app.example.com/": an origin has no path (not even "/"): https://app.example.com',
      'a.json:1: policies[0].origins[1]: "app.example.com" is not an origin such as https://app.example.com, https://*.example.com or *',
      'a.json:1: policies[0].origins[2]: "https://App.example.com": write origins in lower case, as browsers send them',
      'a.json:1: policies[0].origins[3]: "null" (sandboxed frames, local files) is no origin that can be told apart from another; it is not accepted',
      'a.json:1: policies[0].origins[4]: "https://a.*.example.com" is not an origin such as https://app.example.com, https://*.example.com or *',
      'a.json:1: policies[0].methods[0]: must be a method name in upper case, such as GET or PUT',
      'a.json:1: policies[0].headers[0]: must be a header name (RFC 9110 token)',
      'a.json:1: policies[0].exposeHeaders[1]: must be a header name (RFC 9110 token)',
    ]);
  });
});

describe('config: headers', () => {
  it('takes set / add / remove on both sides, with variables', () => {
    assert.deepEqual(check({ type: 'headers', request: { set: { 'X-Consumer-Id': '$consumer', 'X-Trace': '${route}-${requestId}' }, add: { 'X-Via': '$clientIp' }, remove: ['X-Debug'] }, response: { set: { 'X-Price': '$$5' }, remove: ['Server'] } }), []);
  });

  it('names an unknown variable, a stray "$" and bad values by their path', () => {
    assert.deepEqual(check({ type: 'headers', request: { set: { 'x-a': '$user', 'x-b': 'cost: 5$', 'x-c': '${route' }, add: { 'x-d': 'a\r\nInjected: yes' } } }), [
      'a.json:1: policies[0].request.set["x-a"]: unknown variable "$user"; known: $consumer, $route, $requestId, $clientIp ("$$" for a "$")',
      'a.json:1: policies[0].request.set["x-b"]: "$" at 7 starts no variable; write "$$" for a "$"',
      'a.json:1: policies[0].request.set["x-c"]: "${" at 0 has no closing "}"',
      'a.json:1: policies[0].request.add["x-d"]: a header value cannot hold CR, LF, NUL or other control characters',
    ]);
    assert.deepEqual(check({ type: 'headers', request: { set: { 'x-a': '$requestIdX' } } }), [
      'a.json:1: policies[0].request.set["x-a"]: unknown variable "$requestIdX"; known: $consumer, $route, $requestId, $clientIp ("$$" for a "$")',
    ]);
  });

  it('refuses hop-by-hop and framing headers, Host, and names that are no tokens, saying why', () => {
    assert.deepEqual(check({ type: 'headers', request: { set: { Host: 'x', 'Content-Length': '5', 'bad name': 'v' }, remove: ['Transfer-Encoding', 'Connection'] }, response: { add: { 'x-a': '1', 'X-A': '2' } } }), [
      'a.json:1: policies[0].request.set.Host: "Host" cannot be changed: the route\'s rewrite.host sets the Host sent upstream',
      'a.json:1: policies[0].request.set["Content-Length"]: "Content-Length" cannot be changed: it frames the message: a changed one would corrupt the body',
      'a.json:1: policies[0].request.set["bad name"]: "bad name" is no header name (RFC 9110 token)',
      'a.json:1: policies[0].request.remove[0]: "Transfer-Encoding" cannot be changed: it frames the message: a changed one would corrupt the body',
      'a.json:1: policies[0].request.remove[1]: "Connection" cannot be changed: it is hop-by-hop: the proxy manages each connection itself',
      'a.json:1: policies[0].response.add["X-A"]: "X-A" is listed twice (header names are case-insensitive)',
    ]);
  });
});
