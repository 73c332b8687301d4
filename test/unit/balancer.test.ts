// The balancers as pure functions of eligibility, weights, load and key; and the pool's passive
// ejection bounds around them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConsistentHash } from '../../src/proxy/balancers/consistent-hash.js';
import { cookieValue, keyReader } from '../../src/proxy/balancers/hash-key.js';
import { LeastRequest } from '../../src/proxy/balancers/least-request.js';
import { RoundRobin } from '../../src/proxy/balancers/round-robin.js';
import type { Balancer, PickContext } from '../../src/proxy/balancers/types.js';
import { UpstreamPool } from '../../src/proxy/upstream-pool.js';

const all = (n: number) => new Uint8Array(n).fill(1);
const only = (n: number, ...out: number[]) => {
  const e = all(n);
  for (const i of out) e[i] = 0;
  return e;
};

function picks(b: Balancer, n: number, eligible: Uint8Array, ctx: PickContext | null = null): number[] {
  return Array.from({ length: n }, () => b.pick(eligible, ctx));
}

function counts(seq: number[], size: number): number[] {
  const c = new Array<number>(size).fill(0);
  for (const i of seq) c[i]!++;
  return c;
}

/** mulberry32: a fixed sequence, so a statistical test gives the same answer every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('balancer: smooth weighted round robin', () => {
  it('weights 2:1 give exactly 2:1 over every cycle, spread out (A B A)', () => {
    const seq = picks(new RoundRobin([2, 1]), 30, all(2));
    for (let cycle = 0; cycle < 10; cycle++) assert.deepEqual(seq.slice(cycle * 3, cycle * 3 + 3), [0, 1, 0]);
  });

  it('weights 5:1:1 give nginx sequence a a b a c a a', () => {
    assert.deepEqual(picks(new RoundRobin([5, 1, 1]), 7, all(3)), [0, 0, 1, 0, 2, 0, 0]);
  });

  it('is exact per cycle for uneven weights and never bunches a light target', () => {
    const weights = [7, 3, 1];
    const b = new RoundRobin(weights);
    for (let cycle = 0; cycle < 5; cycle++) {
      const seq = picks(b, 11, all(3));
      assert.deepEqual(counts(seq, 3), weights);
      // Smooth: the heaviest target never runs longer than ceil(7/(3+1)) + 1 in a row.
      let run = 0;
      let longest = 0;
      for (const i of seq) {
        run = i === 0 ? run + 1 : 0;
        longest = Math.max(longest, run);
      }
      assert.ok(longest <= 3, `run of ${longest} in ${seq.join('')}`);
    }
  });

  it('equal weights round-robin', () => {
    assert.deepEqual(picks(new RoundRobin([1, 1, 1]), 6, all(3)), [0, 1, 2, 0, 1, 2]);
  });

  it('picks only eligible targets, by their weights among themselves; -1 when none is', () => {
    const b: Balancer = new RoundRobin([1, 1, 2]);
    assert.deepEqual(counts(picks(b, 9, only(3, 0)), 3), [0, 3, 6]);
    assert.deepEqual(counts(picks(b, 8, all(3)), 3), [2, 2, 4], 'back to all three, no burst for the one that was out');
    assert.equal(b.pick(only(3, 0, 1, 2), null), -1);
    assert.equal(new RoundRobin([]).pick(new Uint8Array(0)), -1);
  });
});

describe('balancer: least request (power of two choices)', () => {
  it('with nothing in flight, follows the weights', () => {
    const b = new LeastRequest([1, 2, 3, 4], () => 0, seeded(1));
    const c = counts(picks(b, 20_000, all(4)), 4);
    c.forEach((n, i) => assert.ok(Math.abs(n / 20_000 - (i + 1) / 10) < 0.015, `target ${i}: ${n} of 20000`));
  });

  it('never picks the busiest of its two draws: a loaded target gets nothing while others are idle', () => {
    const load = [0, 0, 5, 0, 0];
    const b = new LeastRequest([1, 1, 1, 1, 1], (i) => load[i]!, seeded(2));
    const c = counts(picks(b, 5_000, all(5)), 5);
    assert.equal(c[2], 0);
    for (const i of [0, 1, 3, 4]) assert.ok(c[i]! > 1_000, `idle target ${i}: ${c[i]}`);
  });

  it('compares two random targets, not all of them: the second busiest still wins the pairs it is drawn into with the busiest', () => {
    // Pairs are equally likely: load 0 wins 3 of 6, load 1 wins 2, load 2 wins 1, load 3 none.
    const load = [0, 1, 2, 3];
    const b = new LeastRequest([1, 1, 1, 1], (i) => load[i]!, seeded(3));
    const c = counts(picks(b, 30_000, all(4)), 4).map((n) => n / 30_000);
    [3 / 6, 2 / 6, 1 / 6, 0].forEach((want, i) => assert.ok(Math.abs(c[i]! - want) < 0.015, `target ${i}: ${c[i]} (want ${want})`));
  });

  it('counts requests in flight per unit of weight: weight 2 with 3 in flight loses to weight 1 with 1', () => {
    const load = [3, 1];
    const b = new LeastRequest([2, 1], (i) => load[i]!, seeded(4));
    assert.deepEqual(counts(picks(b, 100, all(2)), 2), [0, 100]);
    load[0] = 1; // 1/2 < 1/1
    assert.deepEqual(counts(picks(b, 100, all(2)), 2), [100, 0]);
  });

  it('picks only eligible targets; one eligible is picked whatever its load; -1 when none is', () => {
    const b: Balancer = new LeastRequest([1, 1, 1], (i) => (i === 1 ? 9 : 0), seeded(5));
    assert.deepEqual(counts(picks(b, 50, only(3, 0, 2)), 3), [0, 50, 0]);
    assert.equal(counts(picks(b, 50, only(3, 0)), 3)[0], 0);
    assert.equal(b.pick(only(3, 0, 1, 2), null), -1);
  });
});

describe('balancer: consistent hash (weighted rendezvous)', () => {
  const origins = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `http://10.0.0.${from + i + 1}:8080`);
  const byHeader = keyReader({ header: 'X-User' });
  const req = (user: string | undefined): PickContext => ({ headers: user === undefined ? {} : { 'x-user': user }, clientIp: '127.0.0.1' });
  const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
  const hashBalancer = (o: string[], w: number[] = o.map(() => 1)) => new ConsistentHash(o, w, byHeader, new RoundRobin(w));
  const owners = (b: ConsistentHash, n: number, eligible = all(n)) => keys.map((k) => b.pick(eligible, req(k)));

  it('is a pure function of the key and the targets: a balancer built again agrees on every key', () => {
    const a = owners(hashBalancer(origins(5)), 5);
    const b = owners(hashBalancer(origins(5)), 5);
    assert.deepEqual(a, b);
    const spread = counts(a, 5);
    for (const n of spread) assert.ok(Math.abs(n / keys.length - 0.2) < 0.02, `spread ${spread.join(' ')}`);
  });

  it('shares keys by weight', () => {
    const w = [1, 2, 3, 4];
    const spread = counts(owners(hashBalancer(origins(4), w), 4), 4);
    spread.forEach((n, i) => assert.ok(Math.abs(n / keys.length - w[i]! / 10) < 0.02, `spread ${spread.join(' ')}`));
  });

  it('adding 1 target to 10 moves about 1/11 of the keys, all of them to the new one', () => {
    const before = owners(hashBalancer(origins(10)), 10);
    const after = owners(hashBalancer(origins(11)), 11);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      assert.equal(after[i], 10, `key ${keys[i]} moved from ${before[i]} to ${after[i]}, not to the new target`);
    }
    const share = moved / keys.length;
    assert.ok(Math.abs(share - 1 / 11) < 0.01, `moved ${share} of the keys (1/11 = 0.0909)`);
  });

  it('removing 1 target of 10 moves only its own keys', () => {
    const ten = origins(10);
    const before = owners(hashBalancer(ten), 10);
    const nine = [...ten.slice(0, 4), ...ten.slice(5)];
    const after = owners(hashBalancer(nine), 9).map((i) => (i >= 4 ? i + 1 : i));
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === 4) moved++;
      else assert.equal(after[i], before[i]);
    }
    assert.ok(Math.abs(moved / keys.length - 0.1) < 0.01, `target 4 had ${moved / keys.length} of the keys`);
  });

  it('raising one weight moves keys only to that target', () => {
    const before = owners(hashBalancer(origins(4), [1, 1, 1, 1]), 4);
    const after = owners(hashBalancer(origins(4), [1, 1, 2, 1]), 4);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      assert.equal(after[i], 2);
    }
    // From 1/4 to 2/5 of the keys: 0.15 of them move.
    assert.ok(Math.abs(moved / keys.length - 0.15) < 0.015, `moved ${moved / keys.length}`);
  });

  it("a key whose target is out goes where it would if that target were removed, and comes back", () => {
    const b = hashBalancer(origins(10));
    const before = owners(b, 10);
    const without3 = owners(hashBalancer([...origins(3), ...origins(6, 4)]), 9).map((i) => (i >= 3 ? i + 1 : i));
    const out3 = owners(b, 10, only(10, 3));
    assert.deepEqual(out3, without3);
    assert.deepEqual(owners(b, 10), before, 'eligible again: every key back where it was');
  });

  it('a request without the key is balanced by round robin over the eligible targets', () => {
    const b = hashBalancer(origins(3));
    assert.deepEqual(picks(b, 6, all(3), req(undefined)), [0, 1, 2, 0, 1, 2]);
    assert.deepEqual(picks(b, 4, only(3, 1), req('')), [0, 2, 0, 2], 'an empty header is no key');
    assert.deepEqual(counts(picks(b, 3, all(3), null), 3), [1, 1, 1], 'no context: no key');
  });
});

describe('hash keys', () => {
  it('reads a header (case-insensitively, repeats joined), a cookie or the client address', () => {
    const ctx = (headers: PickContext['headers'], clientIp = '127.0.0.2'): PickContext => ({ headers, clientIp });
    assert.equal(keyReader({ header: 'X-User' })(ctx({ 'x-user': 'ann' })), 'ann');
    assert.equal(keyReader({ header: 'x-user' })(ctx({ 'x-user': ['a', 'b'] as unknown as string })), 'a, b');
    assert.equal(keyReader({ header: 'x-user' })(ctx({})), null);
    assert.equal(keyReader({ cookie: 'sid' })(ctx({ cookie: 'a=1; sid=xyz; b=2' })), 'xyz');
    assert.equal(keyReader({ cookie: 'sid' })(ctx({})), null);
    assert.equal(keyReader({ clientIp: true })(ctx({})), '127.0.0.2');
  });

  it('parses only the named cookie: the first of its name, whole names only, empty is none', () => {
    assert.equal(cookieValue('sid=1; sid=2', 'sid'), '1');
    assert.equal(cookieValue('xsid=1;sid=2', 'sid'), '2');
    assert.equal(cookieValue('sidx=1; a=sid=3', 'sid'), null);
    assert.equal(cookieValue('a=1;\tsid= v ', 'sid'), 'v');
    assert.equal(cookieValue('sid=; a=1', 'sid'), null);
    assert.equal(cookieValue('sid', 'sid'), null);
    assert.equal(cookieValue('', 'sid'), null);
  });
});

describe('upstream pool: passive ejection bounds', () => {
  const targets = (n: number) => Array.from({ length: n }, (_, i) => ({ url: `http://127.0.0.1:${9001 + i}` }));
  function pool(n: number, maxEjectionPercent?: number) {
    let now = 0;
    const p = new UpstreamPool({ id: 'u', targets: targets(n), maxEjectionPercent }, { now: () => now, ejectMs: 1000 });
    return { p, at: (t: number) => (now = t) };
  }

  it('never ejects the only target', () => {
    const { p } = pool(1);
    assert.equal(p.reportFailure(0), false);
    assert.equal(p.isEjected(0), false);
    assert.equal(p.pick(), 0);
  });

  it('never ejects the last target in rotation, whatever the share allows', () => {
    const { p } = pool(2, 100);
    assert.equal(p.reportFailure(0), true);
    assert.equal(p.reportFailure(1), false);
    assert.equal(p.available(), 1);
  });

  it('ejects at most maxEjectionPercent of the targets (rounded down, at least one); default 10 %', () => {
    const byDefault = pool(5);
    assert.equal(byDefault.p.maxEjected, 1);
    assert.equal(byDefault.p.reportFailure(0), true);
    assert.equal(byDefault.p.reportFailure(1), false, '10 % of 5 rounds down to 0: still one');
    assert.equal(byDefault.p.available(), 4);

    const half = pool(5, 50);
    assert.equal(half.p.maxEjected, 2);
    assert.equal(half.p.reportFailure(0), true);
    assert.equal(half.p.reportFailure(1), true);
    assert.equal(half.p.reportFailure(2), false);
    assert.equal(half.p.available(), 3);

    const off = pool(3, 0);
    assert.equal(off.p.reportFailure(0), false, '0 turns passive ejection off');
    assert.equal(off.p.available(), 3);
  });

  it('picks leave an ejected target out until its ejection ends, then take it again', () => {
    const { p, at } = pool(3, 100);
    assert.equal(p.reportFailure(1), true);
    assert.deepEqual(counts(Array.from({ length: 6 }, () => p.pick()), 3), [3, 0, 3]);
    at(999);
    assert.equal(p.pick(), 0);
    at(1000);
    assert.deepEqual(counts(Array.from({ length: 6 }, () => p.pick()), 3), [2, 2, 2]);
  });

  it('an ejection is never shortened by a later failure while out', () => {
    const { p, at } = pool(2, 100);
    assert.equal(p.reportFailure(0), true);
    at(500);
    assert.equal(p.reportFailure(0), false, 'already out: held out longer, not counted again');
    at(1200);
    assert.equal(p.isEjected(0), true);
    at(1500);
    assert.equal(p.isEjected(0), false);
    assert.equal(p.targets[0]!.passive.ejections, 1);
  });

  it('panics when every target is out: all are picked again, a hashed key by its own target', () => {
    let now = 0;
    const p = new UpstreamPool(
      { id: 'u', targets: targets(3), balancer: 'consistent-hash', hashOn: { header: 'x-user' }, maxEjectionPercent: 100 },
      { now: () => now, ejectMs: 1000 },
    );
    const ctx = (user: string): PickContext => ({ headers: { 'x-user': user }, clientIp: '' });
    const owners = ['a', 'b', 'c', 'd', 'e', 'f'].map((u) => p.pick(null, ctx(u)));
    assert.equal(p.reportFailure(0), true);
    assert.equal(p.reportFailure(1), true);
    assert.equal(p.reportFailure(2), false, 'never the last one');
    // The last one out too (as when it fails again once picked in panic).
    now = 1;
    p.targets[2]!.shared.eject(p.targets[2]!.passive, 1000, true);
    assert.equal(p.available(), 0);
    assert.deepEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((u) => p.pick(null, ctx(u))), owners, 'in panic each key goes to its own target');
    assert.equal(p.pick([0, 1, 2], ctx('a')), -1);
  });

  for (const fields of [{}, { balancer: 'least-request' as const }, { balancer: 'consistent-hash' as const, hashOn: { header: 'x-user' } }]) {
    it(`keeps its bounds with ${fields.balancer ?? 'round-robin'}: an ejected target gets nothing, the last one is never ejected, all out means all tried`, () => {
      let now = 0;
      const p = new UpstreamPool({ id: 'u', targets: targets(3), maxEjectionPercent: 100, ...fields }, { now: () => now, ejectMs: 1000 });
      const users = Array.from({ length: 60 }, (_, i): PickContext => ({ headers: { 'x-user': `u${i}` }, clientIp: '' }));
      const spread = () => counts(users.map((ctx) => p.pick(null, ctx)), 3);
      assert.equal(p.reportFailure(1), true);
      assert.equal(spread()[1], 0);
      assert.equal(p.reportFailure(0), true);
      assert.deepEqual(spread(), [0, 0, 60]);
      assert.equal(p.reportFailure(2), false, 'never the last in rotation');
      now = 1;
      p.targets[2]!.shared.eject(p.targets[2]!.passive, 1000, true);
      assert.ok(spread().every((n) => n > 0), 'panic: every target tried again');
      now = 1000;
      assert.ok(spread().every((n) => n > 0), 'all back');
    });
  }

  it('an ejected target comes back after ejectMs and frees its place in the share', () => {
    const { p, at } = pool(4);
    assert.equal(p.reportFailure(0), true);
    assert.equal(p.reportFailure(1), false);
    at(1000);
    assert.equal(p.isEjected(0), false);
    assert.equal(p.reportFailure(1), true);
  });
});
