// Targets shared across compiled upstreams and runtimes: what survives a config swap, what is
// another target, and when a target's connections and checks end.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config, Upstream } from '../../src/config/schema.js';
import { RuntimeHolder, compileRuntime, type Runtime } from '../../src/proxy/runtime.js';
import { UpstreamPool } from '../../src/proxy/upstream-pool.js';
import { CERT_A, CERT_B, KEY_A, KEY_B } from './tls-fixtures.js';

const meta = (version: number) => ({ version, hash: `h${version}`, revision: version });
const A = 'http://127.0.0.1:9001';
const B = 'http://127.0.0.1:9002';
const C = 'http://127.0.0.1:9003';

function config(upstreams: Upstream[], certificates: Config['certificates'] = []): Config {
  return { upstreams, routes: upstreams.map((u) => ({ id: `r-${u.id}`, match: { paths: [`/${u.id}/*`] }, upstream: u.id })), policies: [], certificates, consumers: [], settings: [] };
}

const pool = (rt: Runtime, id: string): UpstreamPool => rt.upstreams.get(id)!;

describe('target registry: state across swaps', () => {
  it("a swap that changes another target's weight keeps every target, its passive ejection and its checker", async () => {
    const holder = new RuntimeHolder();
    const hc = { path: '/healthz', intervalMs: 3_600_000 };
    const r1 = compileRuntime(config([{ id: 'u', targets: [{ url: A }, { url: B }, { url: C }], maxEjectionPercent: 50, healthCheck: hc }]), meta(1));
    holder.swap(r1);
    assert.equal(pool(r1, 'u').reportFailure(1), true);

    const r2 = compileRuntime(config([{ id: 'u', targets: [{ url: A }, { url: B }, { url: C, weight: 3 }], maxEjectionPercent: 50, healthCheck: hc }]), meta(2), r1);
    holder.swap(r2);
    const [before, after] = [pool(r1, 'u'), pool(r2, 'u')];
    assert.notEqual(after, before, 'a changed definition is compiled again');
    for (let i = 0; i < 3; i++) {
      assert.equal(after.targets[i]!.shared, before.targets[i]!.shared, `target ${i}: same connections`);
      assert.equal(after.targets[i]!.checker, before.targets[i]!.checker, `target ${i}: same checker`);
    }
    assert.equal(after.isEjected(1), true, 'the ejection survived the swap');
    assert.equal(after.available(), 2);
    await r1.released;
    assert.equal(before.targets[0]!.shared.closed, false, 'the old pool let go, the new one holds');
    await holder.close();
    assert.equal(after.targets[0]!.shared.closed, true);
    assert.deepEqual(r2.targets.size, { targets: 0, checkers: 0 });
  });

  it('a target removed by a swap closes, with its checker, once the last runtime holding it lets go', async () => {
    const holder = new RuntimeHolder();
    const hc = { path: '/healthz', intervalMs: 3_600_000 };
    const r1 = compileRuntime(config([{ id: 'u', targets: [{ url: A }, { url: B }], healthCheck: hc }]), meta(1));
    holder.swap(r1);
    const b = pool(r1, 'u').targets[1]!;
    assert.deepEqual(r1.targets.size, { targets: 2, checkers: 2 });
    r1.acquire(); // a request in flight on r1
    holder.swap(compileRuntime(config([{ id: 'u', targets: [{ url: A }], healthCheck: hc }]), meta(2), r1));
    assert.equal(b.shared.closed, false, 'still held by the request on r1');
    r1.release();
    await r1.released;
    assert.equal(b.shared.closed, true);
    assert.equal(b.checker!.closed, true);
    assert.deepEqual(r1.targets.size, { targets: 1, checkers: 1 });
    await holder.close();
  });

  it('upstreams listing the same origin alike share its connections and checks, not their passive health', async () => {
    const hc = { path: '/healthz', intervalMs: 3_600_000 };
    const rt = compileRuntime(config([
      { id: 'one', targets: [{ url: A }, { url: B }], maxEjectionPercent: 50, healthCheck: hc },
      { id: 'two', targets: [{ url: A }], healthCheck: { ...hc, intervalMs: 3_600_000, healthyThreshold: 2 } },
      { id: 'three', targets: [{ url: A }], healthCheck: { ...hc, path: '/other' } },
    ]), meta(1));
    const [one, two, three] = [pool(rt, 'one'), pool(rt, 'two'), pool(rt, 'three')];
    assert.equal(one.targets[0]!.shared, two.targets[0]!.shared);
    assert.equal(one.targets[0]!.checker, two.targets[0]!.checker, 'the same check once its defaults are filled in');
    assert.notEqual(one.targets[0]!.checker, three.targets[0]!.checker, 'another path is another check');
    assert.equal(one.reportFailure(0), true);
    assert.equal(one.isEjected(0), true);
    assert.equal(two.isEjected(0), false, "one upstream's ejection is within its own bounds, not the other's");
  });

  it('connect timeout, tls and the client certificate are part of what a target is', () => {
    const certs = [
      { id: 'c1', snis: [], cert: CERT_A, key: KEY_A },
      { id: 'c2', snis: [], cert: CERT_B, key: KEY_B },
    ];
    const T = 'https://127.0.0.1:9443';
    const rt = compileRuntime(config([
      { id: 'plain', targets: [{ url: T }] },
      { id: 'slow', targets: [{ url: T }], connectTimeoutMs: 100 },
      { id: 'named', targets: [{ url: T }], tls: { serverName: 'a.internal' } },
      { id: 'named2', targets: [{ url: T }], tls: { serverName: 'a.internal' }, readTimeoutMs: 5 },
      { id: 'mtls1', targets: [{ url: T }], tls: { clientCertificate: 'c1' } },
      { id: 'mtls2', targets: [{ url: T }], tls: { clientCertificate: 'c2' } },
    ], certs), meta(1));
    const shared = (id: string) => pool(rt, id).targets[0]!.shared;
    const distinct = new Set(['plain', 'slow', 'named', 'mtls1', 'mtls2'].map(shared));
    assert.equal(distinct.size, 5);
    assert.equal(shared('named2'), shared('named'), 'the read timeout is per request, not per connection');
  });

  it('a certificate renewed under the same id gives its upstream new connections', () => {
    const up: Upstream = { id: 'u', targets: [{ url: 'https://127.0.0.1:9443' }], tls: { clientCertificate: 'c' } };
    const r1 = compileRuntime(config([up], [{ id: 'c', snis: [], cert: CERT_A, key: KEY_A }]), meta(1));
    const r2 = compileRuntime(config([up], [{ id: 'c', snis: [], cert: CERT_B, key: KEY_B }]), meta(2), r1);
    assert.notEqual(pool(r2, 'u'), pool(r1, 'u'));
    assert.notEqual(pool(r2, 'u').targets[0]!.shared, pool(r1, 'u').targets[0]!.shared);
    const r3 = compileRuntime(config([up], [{ id: 'c', snis: [], cert: CERT_B, key: KEY_B }]), meta(3), r2);
    assert.equal(pool(r3, 'u'), pool(r2, 'u'), 'unchanged: reused');
  });

  it('a certificate without SNIs is never served on the TLS listener, not even as the default', () => {
    const rt = compileRuntime(config([], [
      { id: 'a-client', snis: [], cert: CERT_A, key: KEY_A },
      { id: 'b-site', snis: ['b.example.test'], cert: CERT_B, key: KEY_B },
    ]), meta(1));
    assert.equal(rt.secureContext('x.example.test'), rt.secureContext('b.example.test'));
  });

  it('swapping in a runtime compiled against a target closed since is refused', async () => {
    const holder = new RuntimeHolder();
    const r1 = compileRuntime(config([{ id: 'u', targets: [{ url: A }] }]), meta(1));
    holder.swap(r1);
    const stale = compileRuntime(config([{ id: 'u', targets: [{ url: A, weight: 2 }] }]), meta(2), r1); // a new pool, r1's target
    holder.swap(compileRuntime(config([]), meta(3), r1));
    await r1.released;
    assert.throws(() => holder.swap(stale), /compile against holder.current/);
    await holder.close();
  });
});
