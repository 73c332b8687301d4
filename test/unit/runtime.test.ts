import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config } from '../../src/config/schema.js';
import { RuntimeHolder, compileRuntime, type Runtime } from '../../src/proxy/runtime.js';
import { UpstreamPool } from '../../src/proxy/upstream-pool.js';
import { CERT_A, CERT_B, KEY_A, KEY_B } from './tls-fixtures.js';

const meta = (version: number) => ({ version, hash: `h${version}`, revision: version * 10 });

function config(over: Partial<Config> = {}): Config {
  return {
    upstreams: [
      { id: 'a', targets: [{ url: 'http://127.0.0.1:9001' }] },
      { id: 'b', targets: [{ url: 'http://127.0.0.1:9002', weight: 2 }] },
    ],
    routes: [
      { id: 'ra', match: { paths: ['/a/*'] }, upstream: 'a', policies: ['rl'] },
      { id: 'rb', match: { paths: ['/b/*'] }, upstream: 'b' },
    ],
    policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 10 }],
    certificates: [],
    consumers: [],
    settings: [],
    ...over,
  };
}

const pool = (rt: Runtime, id: string): UpstreamPool => rt.upstreams.get(id)!;

describe('runtime: compile', () => {
  it('routes to compiled routes carrying their upstream and policy chain', () => {
    const rt = compileRuntime(config(), meta(1));
    assert.equal(rt.routeCount, 2);
    assert.deepEqual(rt.meta, meta(1));
    const route = rt.match('x', 'GET', '/a/1', {})!;
    assert.equal(route.id, 'ra');
    assert.equal(route.forward!.arms[0]!.pool, pool(rt, 'a'));
    assert.deepEqual(route.policies.map((p) => p.id), ['rl']);
    assert.equal(rt.match('x', 'GET', '/c', {}), null);
  });

  it('refuses a dangling upstream or policy reference', () => {
    assert.throws(() => compileRuntime(config({ routes: [{ id: 'r', match: { paths: ['/'] }, upstream: 'zz' }] }), meta(1)), /unknown upstream "zz"/);
    assert.throws(
      () => compileRuntime(config({ routes: [{ id: 'r', match: { paths: ['/'] }, upstream: 'a', policies: ['nope'] }] }), meta(1)),
      /unknown policy "nope"/,
    );
  });

  it('reuses the pool of an unchanged upstream and the bucket of an unchanged policy', () => {
    const first = compileRuntime(config(), meta(1));
    const changedB = config({
      upstreams: [
        { id: 'a', targets: [{ url: 'http://127.0.0.1:9001' }] },
        { id: 'b', targets: [{ url: 'http://127.0.0.1:9002', weight: 3 }] },
      ],
    });
    const second = compileRuntime(changedB, meta(2), first);
    assert.equal(pool(second, 'a'), pool(first, 'a'), 'unchanged upstream keeps its pool');
    assert.notEqual(pool(second, 'b'), pool(first, 'b'), 'changed upstream gets a new pool');
    assert.equal(second.policy('rl'), first.policy('rl'), 'unchanged policy keeps its bucket');

    const third = compileRuntime(config({ policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 11 }] }), meta(3), second);
    assert.notEqual(third.policy('rl'), second.policy('rl'), 'changed policy gets a fresh bucket');
    assert.equal(pool(third, 'a'), pool(first, 'a'));
  });

  it('key order inside a definition does not count as a change', () => {
    const first = compileRuntime(config(), meta(1));
    const reordered = config();
    reordered.upstreams[1] = { targets: [{ weight: 2, url: 'http://127.0.0.1:9002' }], id: 'b' };
    const second = compileRuntime(reordered, meta(2), first);
    assert.equal(pool(second, 'b'), pool(first, 'b'));
  });

  it('picks TLS contexts by SNI: exact, one-label wildcard, then the first certificate as default', () => {
    const rt = compileRuntime(
      config({
        certificates: [
          { id: 'a', snis: ['a.example.test', '*.a.example.test'], cert: CERT_A, key: KEY_A },
          { id: 'b', snis: ['b.example.test'], cert: CERT_B, key: KEY_B },
        ],
      }),
      meta(1),
    );
    const a = rt.secureContext('a.example.test');
    const b = rt.secureContext('B.example.test');
    assert.ok(a && b && a !== b);
    assert.equal(rt.secureContext('x.a.example.test'), a);
    assert.equal(rt.secureContext('x.b.example.test'), a, 'no wildcard for b: default (first by id)');
    assert.equal(rt.secureContext(undefined), a);
    assert.equal(compileRuntime(config(), meta(1)).secureContext('a.example.test'), null);
  });
});

describe('runtime: holder and pool lifetimes', () => {
  it('a pool is shared across a swap and closes only when no runtime holds it', async () => {
    const holder = new RuntimeHolder();
    const r1 = compileRuntime(config(), meta(1));
    holder.swap(r1);
    assert.equal(holder.current, r1);
    const a = pool(r1, 'a');
    const b = pool(r1, 'b');
    assert.equal(a.refCount, 1);

    // r2 drops upstream b (and its route); a is unchanged.
    const r2 = compileRuntime(config({ upstreams: [config().upstreams[0]!], routes: [config().routes[0]!] }), meta(2), r1);
    r1.acquire(); // a request still running on r1
    assert.equal(holder.swap(r2), r1);
    assert.equal(holder.current, r2);
    assert.equal(a.refCount, 2);
    assert.equal(b.closed, false, 'b stays open while r1 has a request in flight');
    assert.equal(holder.retiringCount, 1);

    r1.release();
    await r1.released;
    assert.equal(b.closed, true, 'b closes once the last request on r1 ended');
    assert.equal(a.closed, false, 'a is still held by r2');
    assert.equal(a.refCount, 1);
    assert.equal(holder.retiringCount, 0);

    await holder.close();
    assert.equal(holder.current, null);
    assert.equal(a.closed, true);
    assert.throws(() => holder.swap(r2), /closed/);
  });

  it('swapping in a runtime compiled against a closed pool is refused', async () => {
    const holder = new RuntimeHolder();
    const r1 = compileRuntime(config(), meta(1));
    holder.swap(r1);
    const stale = compileRuntime(config(), meta(2), r1); // shares r1's pools
    holder.swap(compileRuntime(config({ upstreams: [], routes: [] }), meta(3), r1));
    await r1.released;
    assert.throws(() => holder.swap(stale), /compile against holder.current/);
    await holder.close();
  });

  it('a runtime that was never swapped in holds nothing', async () => {
    const r1 = compileRuntime(config(), meta(1));
    await r1.retire();
    assert.equal(pool(r1, 'a').refCount, 0);
    assert.equal(pool(r1, 'a').closed, false);
  });
});
