// Balancers through the proxy, against real upstreams over real sockets: least-request steers
// away from a slow target; consistent-hash keeps a key (header, cookie, client address) on one
// target, across config swaps that leave the targets alone, and sends the keys of a dead target
// to the next one.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { ConsistentHash } from '../../src/proxy/balancers/consistent-hash.js';
import { keyReader } from '../../src/proxy/balancers/hash-key.js';
import { RoundRobin } from '../../src/proxy/balancers/round-robin.js';
import { deadUrl, deferred, named, proxy, send, upstream, type TestServer } from '../helpers/data-plane.js';
import { waitFor } from '../helpers/processes.js';

const T = { timeout: 20_000 };

/** Which of `names` the hash function says a key goes to, all targets eligible but `out`. */
function owner(servers: TestServer[], names: string[], key: string, out = -1): string {
  const origins = servers.map((s) => new URL(s.url).origin);
  const weights = servers.map(() => 1);
  const eligible = new Uint8Array(servers.length).fill(1);
  if (out >= 0) eligible[out] = 0;
  const hash = new ConsistentHash(origins, weights, keyReader({ clientIp: true }), new RoundRobin(weights));
  return names[hash.pick(eligible, { headers: {}, clientIp: key })]!;
}

async function three(t: TestContext) {
  const names = ['a', 'b', 'c'];
  const servers = await Promise.all(names.map((n) => upstream(t, named(n))));
  return { names, servers, targets: servers.map((s) => ({ url: s.url })) };
}

const hashed = (targets: { url: string }[], hashOn: unknown, extra: Record<string, unknown> = {}) => ({
  upstreams: [{ id: 'sticky', targets, balancer: 'consistent-hash', hashOn, ...extra }],
  routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'sticky' }],
});

describe('least-request', () => {
  /**
   * 20 requests, each sent once the one before was answered or, if it went to the slow target,
   * once the slow target holds it (answering none until the end). Returns how many the slow one got.
   */
  async function slowShare(t: TestContext, balancer: string): Promise<number> {
    const held: ServerResponse[] = [];
    let arrived = deferred();
    const slow = await upstream(t, (_req: IncomingMessage, res: ServerResponse) => {
      held.push(res);
      arrived.resolve();
    });
    const fast = await upstream(t, named('fast'));
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: slow.url }, { url: fast.url }], balancer }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
    });
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      arrived = deferred();
      const r = send(p.url, `/${i}`);
      pending.push(r);
      await Promise.race([r, arrived.promise]);
    }
    const slowCount = held.length;
    for (const res of held) res.end('slow');
    await Promise.all(pending);
    return slowCount;
  }

  it('sends fewer requests to a target that is slow to answer (round robin, the control, sends it half)', T, async (t) => {
    assert.equal(await slowShare(t, 'round-robin'), 10);
    const slow = await slowShare(t, 'least-request');
    assert.ok(slow <= 1, `least-request sent ${slow} of 20 to the slow target`);
  });
});

describe('requests in flight', () => {
  it('count while they run, and stop counting however they end: answered, refused, reset, or the client gone', T, async (t) => {
    let hold = deferred();
    const held: ServerResponse[] = [];
    const slow = await upstream(t, (req, res) => {
      if (req.url === '/reset') return void req.socket.destroy();
      held.push(res);
      hold.resolve();
    });
    const dead = await deadUrl();
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: dead }, { url: slow.url }], balancer: 'least-request', maxEjectionPercent: 0 }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
    });
    const inFlight = () => p.holder.current!.upstreams.get('u')!.targets.map((x) => x.shared.inFlight);

    const answered = send(p.url, '/a');
    await hold.promise;
    assert.deepEqual(inFlight(), [0, 1]);
    held.pop()!.end('ok');
    assert.equal((await answered).status, 200);
    assert.deepEqual(inFlight(), [0, 0]);

    assert.equal((await send(p.url, '/reset')).status, 502);
    assert.deepEqual(inFlight(), [0, 0]);

    hold = deferred();
    const gone = new AbortController();
    const abandoned = fetch(`${p.url}/gone`, { signal: gone.signal }).catch(() => 'aborted');
    await hold.promise;
    assert.deepEqual(inFlight(), [0, 1]);
    const closed = new Promise((r) => held[0]!.on('close', r));
    gone.abort();
    assert.equal(await abandoned, 'aborted');
    await closed;
    await waitFor('the abandoned request uncounted', () => inFlight()[1] === 0);
    assert.equal(inFlight()[0], 0, 'the refused target never counted a request it never got');
  });
});

describe('consistent-hash', () => {
  it('keeps each x-user on one target, and spreads users over the targets', T, async (t) => {
    const { names, servers, targets } = await three(t);
    const p = await proxy(t, hashed(targets, { header: 'x-user' }));
    const seen = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let u = 0; u < 30; u++) {
        const r = await send(p.url, '/', { headers: { 'x-user': `user-${u}` } });
        assert.equal(r.status, 200);
        if (round === 0) seen.set(`user-${u}`, r.body);
        else assert.equal(r.body, seen.get(`user-${u}`), `user-${u} moved`);
      }
    }
    assert.equal(new Set(seen.values()).size, 3, 'thirty users land on all three targets');
    for (const [key, name] of seen) assert.equal(name, owner(servers, names, key), `${key}: where the hash function says`);
  });

  it('keeps each session cookie on one target; a request without it is still served', T, async (t) => {
    const { names, servers, targets } = await three(t);
    const p = await proxy(t, hashed(targets, { cookie: 'sid' }));
    for (let s = 0; s < 12; s++) {
      const want = owner(servers, names, `s${s}`);
      for (let i = 0; i < 3; i++) {
        const r = await send(p.url, '/', { headers: { cookie: `theme=dark; sid=s${s}; lang=en` } });
        assert.equal(r.body, want, `sid=s${s}`);
      }
    }
    const without = new Set<string>();
    for (let i = 0; i < 3; i++) without.add((await send(p.url, '/', { headers: { cookie: 'theme=dark' } })).body);
    assert.equal(without.size, 3, 'no cookie: round robin');
  });

  it('keeps each client address on one target (127.0.0.1 and 127.0.0.2), whatever X-Forwarded-For it claims', T, async (t) => {
    const { names, servers, targets } = await three(t);
    const p = await proxy(t, hashed(targets, { clientIp: true }));
    for (const ip of ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      const want = owner(servers, names, ip);
      for (let i = 0; i < 3; i++) {
        const r = await send(p.url, '/', { localAddress: ip, headers: { 'x-forwarded-for': `10.9.${i}.1` } });
        assert.equal(r.body, want, `from ${ip}`);
      }
    }
  });

  it('keeps every key where it was across swaps that leave the targets alone', T, async (t) => {
    const { targets } = await three(t);
    const other = await upstream(t, named('other'));
    const doc = (timeoutMs: number, otherPath: string) => ({
      upstreams: [
        { id: 'sticky', targets, balancer: 'consistent-hash', hashOn: { header: 'x-user' }, readTimeoutMs: timeoutMs },
        { id: 'other', targets: [{ url: other.url }] },
      ],
      routes: [
        { id: 'r', match: { paths: ['/*'] }, upstream: 'sticky' },
        { id: 'o', match: { paths: [otherPath] }, upstream: 'other' },
      ],
    });
    const p = await proxy(t, doc(30_000, '/other'));
    const where = async () => Promise.all(Array.from({ length: 30 }, async (_, u) => (await send(p.url, '/', { headers: { 'x-user': `u${u}` } })).body));
    const before = await where();
    const first = p.holder.current!.upstreams.get('sticky')!;
    p.swap(doc(30_000, '/elsewhere'));
    assert.deepEqual(await where(), before, 'another route changed');
    p.swap(doc(20_000, '/elsewhere'));
    assert.notEqual(p.holder.current!.upstreams.get('sticky'), first, 'the hashed upstream itself was compiled again');
    assert.deepEqual(await where(), before, 'its read timeout changed');
  });

  it("sends a dead target's keys to the next target for each key, and no other key moves", T, async (t) => {
    const { names, servers, targets } = await three(t);
    const p = await proxy(t, hashed(targets, { header: 'x-user' }));
    const keys = Array.from({ length: 30 }, (_, u) => `user-${u}`);
    const ask = async (key: string) => (await send(p.url, '/', { headers: { 'x-user': key } })).body;
    const before = new Map<string, string>();
    for (const k of keys) before.set(k, await ask(k));
    servers[2]!.server.closeAllConnections();
    await new Promise<void>((r) => servers[2]!.server.close(() => r()));
    let movedKeys = 0;
    for (const k of keys) {
      const now = await ask(k);
      if (before.get(k) === 'c') {
        movedKeys++;
        assert.equal(now, owner(servers, names, k, 2), `${k}: to its next target, where it would go were c removed`);
      } else {
        assert.equal(now, before.get(k), `${k} moved though its target is up`);
      }
    }
    assert.ok(movedKeys > 0, 'some keys were on c');
  });
});
