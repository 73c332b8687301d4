// The data plane's config fields: path patterns in normal form, allowEncodedSlashes,
// maxEjectionPercent, rate-limit keys, and header matches that cannot lose a key.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSources } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/validate.js';

function check(text: string, file = 'a.json'): string[] {
  const r = validateSources([{ file, text }]);
  return r.ok ? [] : r.issues.map(formatIssue);
}

const base = (route: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    upstreams: [{ id: 'u', targets: [{ url: 'http://127.0.0.1:9101' }] }],
    routes: [{ id: 'r', match: { paths: ['/a/*'] }, upstream: 'u', ...route }],
    ...extra,
  });

describe('config: data plane fields', () => {
  it('refuses a "__proto__" header match instead of dropping it (JSON and YAML)', () => {
    const json = '{"upstreams":[{"id":"u","targets":[]}],"routes":[{"id":"r","match":{"paths":["/"],"headers":{"__proto__":"x"}},"upstream":"u"}]}';
    assert.deepEqual(check(json), ['a.json:1: routes[0].match.headers.__proto__: unknown field']);
    const yaml = 'upstreams: [{id: u, targets: []}]\nroutes:\n  - id: r\n    upstream: u\n    match:\n      paths: ["/"]\n      headers: { __proto__: x }\n';
    const errs = check(yaml, 'a.yaml');
    assert.equal(errs.length, 1);
    assert.match(errs[0]!, /routes\[0\]\.match\.headers\.__proto__: unknown field/);
    assert.deepEqual(check(base({ match: { paths: ['/'], headers: { constructor: 'x', 'x-a': '1' } } })), [], 'other names are ordinary headers');
  });

  it('takes allowEncodedSlashes as a boolean', () => {
    assert.deepEqual(check(base({ allowEncodedSlashes: true })), []);
    assert.match(check(base({ allowEncodedSlashes: 'yes' })).join(), /routes\[0\]\.allowEncodedSlashes/);
  });

  it('takes websocket on routes and http2 on upstreams as booleans', () => {
    assert.deepEqual(check(base({ websocket: false })), []);
    assert.deepEqual(check(base({}, { upstreams: [{ id: 'u', targets: [{ url: 'http://127.0.0.1:9101' }], http2: true }] })), []);
    assert.deepEqual(check(base({ websocket: 'no' })), ['a.json:1: routes[0].websocket: Invalid input: expected boolean, received string']);
    assert.match(check(base({}, { upstreams: [{ id: 'u', targets: [], http2: 1 }] })).join(), /upstreams\[0\]\.http2/);
    assert.match(check(base({}, { upstreams: [{ id: 'u', targets: [], websocket: true }] })).join(), /upstreams\[0\]\.websocket: unknown field/, 'websocket belongs to routes');
  });

  it('takes maxEjectionPercent from 0 to 100', () => {
    const up = (v: unknown) => base({}, { upstreams: [{ id: 'u', targets: [], maxEjectionPercent: v }] });
    assert.deepEqual(check(up(0)), []);
    assert.deepEqual(check(up(100)), []);
    for (const bad of [-1, 101, 12.5, '50']) assert.match(check(up(bad)).join(), /upstreams\[0\]\.maxEjectionPercent/, String(bad));
  });

  it('takes rate-limit keys "ip", "consumer" and "header:<name>"', () => {
    const rl = (key: string) => base({}, { policies: [{ id: 'p', type: 'rate-limit', requestsPerSecond: 1, key }] });
    assert.deepEqual(check(rl('ip')), []);
    assert.deepEqual(check(rl('header:X-Api-Key')), []);
    assert.deepEqual(check(rl('consumer')), []);
    assert.deepEqual(check(rl('header:')), ['a.json:1: policies[0].key: "header:": a header name must follow "header:"']);
    assert.deepEqual(check(rl('cookie')), ['a.json:1: policies[0].key: must be "ip", "consumer" or "header:<name>"']);
  });

  it('refuses path patterns that no normalized request path can match', () => {
    const pattern = (p: string) => check(base({ match: { paths: [p] } }));
    assert.deepEqual(pattern('/files/a%2Fb'), [], 'an encoded slash stays encoded: a route allowing it can match it');
    assert.deepEqual(pattern('/caf%C3%A9'), []);
    assert.match(pattern('/a//b').join(), /"\/\/"/);
    assert.match(pattern('/a/../b').join(), /"\." or "\.\." segments/);
    assert.match(pattern('/a/./b').join(), /"\." or "\.\." segments/);
    assert.match(pattern('/%7Euser').join(), /percent-encode a letter/);
    assert.match(pattern('/caf%c3%a9').join(), /two uppercase hex digits/);
    assert.match(pattern('/a%2').join(), /two uppercase hex digits/);
    assert.match(pattern('/a\\b').join(), /"\\"/);
  });
});
