// The upstream fields of the traffic layer: balancer and hashOn, healthCheck, tls. Settings that
// would do nothing are refused like unknown fields, each error naming its path.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSources } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/validate.js';
import { CERT_A, KEY_A } from './tls-fixtures.js';

function check(doc: unknown): string[] {
  const r = validateSources([{ file: 'a.json', text: JSON.stringify(doc) }]);
  return r.ok ? [] : r.issues.map(formatIssue);
}

const HTTPS = [{ url: 'https://10.0.0.5:8443' }];
const up = (fields: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  upstreams: [{ id: 'u', targets: [{ url: 'http://10.0.0.5:8080' }], ...fields }],
  routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
  ...extra,
});

describe('config: balancer and hashOn', () => {
  it('takes round-robin, least-request and consistent-hash; nothing else', () => {
    for (const b of ['round-robin', 'least-request']) assert.deepEqual(check(up({ balancer: b })), [], b);
    assert.deepEqual(check(up({ balancer: 'consistent-hash', hashOn: { header: 'x-user' } })), []);
    assert.match(check(up({ balancer: 'random' })).join(), /upstreams\[0\]\.balancer/);
  });

  it('hashes on exactly one of a header, a cookie or the client address', () => {
    const hash = (hashOn: unknown) => check(up({ balancer: 'consistent-hash', hashOn }));
    assert.deepEqual(hash({ cookie: 'sid' }), []);
    assert.deepEqual(hash({ clientIp: true }), []);
    assert.deepEqual(hash({}), ['a.json:1: upstreams[0].hashOn: must be exactly one of { header: <name> }, { cookie: <name> }, { clientIp: true }']);
    assert.match(hash({ header: 'x', cookie: 'y' }).join(), /exactly one of/);
    assert.match(hash({ clientIp: false }).join(), /upstreams\[0\]\.hashOn\.clientIp/);
    assert.deepEqual(hash({ header: 'bad header' }), ['a.json:1: upstreams[0].hashOn.header: must be a header name']);
    assert.deepEqual(hash({ query: 'q' }), ['a.json:1: upstreams[0].hashOn.query: unknown field', 'a.json:1: upstreams[0].hashOn: must be exactly one of { header: <name> }, { cookie: <name> }, { clientIp: true }']);
  });

  it('refuses consistent-hash without hashOn, and hashOn that another balancer would ignore', () => {
    assert.deepEqual(check(up({ balancer: 'consistent-hash' })), ['a.json:1: upstreams[0].hashOn: required with balancer consistent-hash']);
    assert.deepEqual(check(up({ hashOn: { clientIp: true } })), ['a.json:1: upstreams[0].hashOn: only used with balancer consistent-hash']);
    assert.deepEqual(check(up({ balancer: 'least-request', hashOn: { clientIp: true } })), ['a.json:1: upstreams[0].hashOn: only used with balancer consistent-hash']);
  });
});

describe('config: healthCheck', () => {
  const hc = (healthCheck: unknown) => check(up({ healthCheck }));

  it('takes a path alone, or every setting', () => {
    assert.deepEqual(hc({ path: '/healthz' }), []);
    assert.deepEqual(hc({ path: '/health?deep=1', intervalMs: 2000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 5, expectStatuses: [200, 204, '300-399'] }), []);
  });

  it('refuses a check without a path, or with one a request line cannot carry', () => {
    assert.deepEqual(hc({ intervalMs: 1000 }), ['a.json:1: upstreams[0].healthCheck.path: Invalid input: expected string, received undefined']);
    assert.match(hc({ path: 'healthz' }).join(), /healthCheck\.path: must start with "\/"/);
    assert.match(hc({ path: '/a b' }).join(), /healthCheck\.path: must start with "\/" and hold no spaces/);
    assert.match(hc({ path: '/a#b' }).join(), /healthCheck\.path: must not contain "#"/);
  });

  it('bounds intervals and thresholds', () => {
    assert.match(hc({ path: '/', intervalMs: 99 }).join(), /healthCheck\.intervalMs/);
    assert.match(hc({ path: '/', timeoutMs: 0 }).join(), /healthCheck\.timeoutMs/);
    assert.match(hc({ path: '/', healthyThreshold: 0 }).join(), /healthCheck\.healthyThreshold/);
    assert.match(hc({ path: '/', unhealthyThreshold: 101 }).join(), /healthCheck\.unhealthyThreshold/);
    assert.deepEqual(hc({ path: '/', retries: 3 }), ['a.json:1: upstreams[0].healthCheck.retries: unknown field']);
  });

  it('takes expected statuses as codes or low-high ranges, naming the bad one', () => {
    assert.deepEqual(hc({ path: '/', expectStatuses: [200, 'x'] }), ['a.json:1: upstreams[0].healthCheck.expectStatuses[1]: must be a status code such as 200 or a range such as "200-399"']);
    assert.match(hc({ path: '/', expectStatuses: [600] }).join(), /expectStatuses\[0\]/);
    assert.deepEqual(hc({ path: '/', expectStatuses: [true] }), ['a.json:1: upstreams[0].healthCheck.expectStatuses[0]: must be a status code such as 200 or a range such as "200-399"']);
    assert.deepEqual(hc({ path: '/', expectStatuses: ['399-200'] }), ['a.json:1: upstreams[0].healthCheck.expectStatuses[0]: "399-200": the range must go from low to high']);
    assert.match(hc({ path: '/', expectStatuses: [] }).join(), /expectStatuses/);
  });

  it('takes a Host and extra headers for its requests, refusing what would break them', () => {
    assert.deepEqual(hc({ path: '/', host: 'users.internal', headers: { 'X-Check-Token': 'abc', 'User-Agent': 'lb-probe/1' } }), []);
    assert.deepEqual(hc({ path: '/', host: '10.0.0.5:8080' }), []);
    assert.deepEqual(hc({ path: '/', host: 'Users.Internal' }), ['a.json:1: upstreams[0].healthCheck.host: must be a lowercase host name or IP, with an optional ":port"']);
    assert.deepEqual(hc({ path: '/', host: 'a.internal/x' }), ['a.json:1: upstreams[0].healthCheck.host: must be a lowercase host name or IP, with an optional ":port"']);
    assert.deepEqual(hc({ path: '/', headers: { Host: 'a.internal' } }), ['a.json:1: upstreams[0].healthCheck.headers.Host: is set by healthCheck.host']);
    assert.deepEqual(hc({ path: '/', headers: { 'Content-Length': '3' } }), ['a.json:1: upstreams[0].healthCheck.headers["Content-Length"]: is set by the proxy itself']);
    assert.deepEqual(hc({ path: '/', headers: { 'x a': '1' } }), ['a.json:1: upstreams[0].healthCheck.headers["x a"]: must be a header name']);
    assert.deepEqual(hc({ path: '/', headers: { 'x-a': 'one\r\nx-b: two' } }), ['a.json:1: upstreams[0].healthCheck.headers["x-a"]: must not hold control characters (line breaks included)']);
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`x-h${i}`, '1']));
    assert.deepEqual(hc({ path: '/', headers: many }), ['a.json:1: upstreams[0].healthCheck.headers: at most 32 headers']);
  });
});

describe('config: upstream tls', () => {
  const tls = (t: unknown, targets: unknown = HTTPS, extra: Record<string, unknown> = {}) => check(up({ targets, tls: t }, extra));
  const clientCert = { certificates: [{ id: 'client', snis: [], cert: CERT_A, key: KEY_A }] };

  it('takes serverName, a PEM ca, and a client certificate by id', () => {
    assert.deepEqual(tls({ serverName: 'users.internal', ca: CERT_A, clientCertificate: 'client' }, HTTPS, clientCert), []);
    assert.deepEqual(tls({ insecureSkipVerify: true }), []);
    assert.deepEqual(tls({ ca: `${CERT_A}\n${CERT_A}` }), [], 'a bundle of several');
  });

  it('refuses tls on an upstream without an https:// target: it would do nothing', () => {
    assert.deepEqual(tls({ serverName: 'a.internal' }, [{ url: 'http://10.0.0.5:8080' }]), ['a.json:1: upstreams[0].tls: applies to https:// targets, and this upstream has none']);
    assert.deepEqual(tls({ serverName: 'a.internal' }, [{ url: 'http://10.0.0.5:8080' }, { url: 'https://10.0.0.6:8443' }]), [], 'mixed: it applies to the https one');
  });

  it('refuses a ca that is not PEM, naming its path', () => {
    const notPem = ['a.json:1: upstreams[0].tls.ca: is not PEM: one or more "-----BEGIN CERTIFICATE-----" blocks'];
    assert.deepEqual(tls({ ca: 'MIIBtjCCAV2gAwIBAgIU' }), notPem);
    assert.deepEqual(tls({ ca: '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n' }), notPem);
    assert.deepEqual(tls({ ca: `${CERT_A}trailing words` }), notPem);
    assert.deepEqual(tls({ ca: KEY_A }), notPem, 'a private key is no CA');
  });

  it('refuses a ca beside insecureSkipVerify, a serverName that is no host name, an unknown certificate', () => {
    assert.deepEqual(tls({ ca: CERT_A, insecureSkipVerify: true }), ['a.json:1: upstreams[0].tls.ca: has no effect with insecureSkipVerify: true (nothing is verified)']);
    assert.match(tls({ serverName: '*.internal' }).join(), /tls\.serverName: must be a lowercase host name/);
    assert.match(tls({ serverName: 'a.internal:443' }).join(), /tls\.serverName/);
    assert.deepEqual(tls({ clientCertificate: 'nope' }), ['a.json:1: upstreams[0].tls.clientCertificate: unknown certificate "nope"']);
    assert.deepEqual(tls({ verify: false }), ['a.json:1: upstreams[0].tls.verify: unknown field']);
  });

  it('takes a certificate without SNIs (one only presented to upstreams)', () => {
    assert.deepEqual(check({ certificates: [{ id: 'client', snis: [], cert: CERT_A, key: KEY_A }] }), []);
  });
});
