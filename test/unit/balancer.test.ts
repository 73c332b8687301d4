import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Balancer } from '../../src/proxy/balancer.js';
import { UpstreamPool } from '../../src/proxy/upstream-pool.js';

function picks(b: Balancer, n: number, now = 0): number[] {
  return Array.from({ length: n }, () => b.pick(now));
}

function counts(seq: number[], size: number): number[] {
  const c = new Array<number>(size).fill(0);
  for (const i of seq) c[i]!++;
  return c;
}

describe('balancer: smooth weighted round robin', () => {
  it('weights 2:1 give exactly 2:1 over every cycle, spread out (A B A)', () => {
    const b = new Balancer([2, 1]);
    const seq = picks(b, 30);
    for (let cycle = 0; cycle < 10; cycle++) {
      assert.deepEqual(seq.slice(cycle * 3, cycle * 3 + 3), [0, 1, 0]);
    }
  });

  it('weights 5:1:1 give nginx sequence a a b a c a a', () => {
    const b = new Balancer([5, 1, 1]);
    assert.deepEqual(picks(b, 7), [0, 0, 1, 0, 2, 0, 0]);
  });

  it('is exact per cycle for uneven weights and never bunches a light target', () => {
    const weights = [7, 3, 1];
    const b = new Balancer(weights);
    const total = 11;
    for (let cycle = 0; cycle < 5; cycle++) {
      const seq = picks(b, total);
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
    assert.deepEqual(picks(new Balancer([1, 1, 1]), 6), [0, 1, 2, 0, 1, 2]);
  });

  it('skips an ejected target until its time has passed', () => {
    const b = new Balancer([1, 1, 1]);
    b.eject(1, 1000);
    assert.equal(b.available(0), 2);
    assert.ok(b.isEjected(1, 999));
    assert.deepEqual(counts(picks(b, 10, 500), 3), [5, 0, 5]);
    assert.equal(b.isEjected(1, 1000), false);
    assert.deepEqual(counts(picks(b, 9, 1000), 3), [3, 3, 3]);
  });

  it('panics when every target is ejected: all are candidates again, in weight order', () => {
    const one = new Balancer([3]);
    one.eject(0, 10);
    assert.equal(one.pick(5), 0, 'a single target is always picked');
    const two = new Balancer([1, 2]);
    two.eject(0, 10);
    two.eject(1, 20);
    assert.equal(two.pick(15), 0, 'back in rotation: only it');
    assert.equal(two.pick(15), 0);
    assert.deepEqual(counts(picks(two, 30, 9), 2), [10, 20], 'all out: 1:2 over every target');
    assert.equal(new Balancer([]).pick(0), -1);
  });

  it('skips the targets it is told to, in rotation first, then out of it; -1 when all are skipped', () => {
    const b = new Balancer([1, 1, 1]);
    b.eject(2, 100);
    assert.deepEqual(Array.from({ length: 3 }, () => b.pick(0, [0])), [1, 1, 1], 'in rotation and not skipped');
    assert.equal(b.pick(0, [0, 1]), 2, 'the ejected one when every target in rotation is skipped');
    assert.equal(b.pick(0, [0, 1, 2]), -1);
    assert.equal(new Balancer([5]).pick(0, [0]), -1);
  });

  it('an ejection never shortens an existing one', () => {
    const b = new Balancer([1, 1]);
    b.eject(0, 100);
    b.eject(0, 50);
    assert.ok(b.isEjected(0, 75));
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

  it('an ejected target comes back after ejectMs and frees its place in the share', () => {
    const { p, at } = pool(4);
    assert.equal(p.reportFailure(0), true);
    assert.equal(p.reportFailure(1), false);
    at(1000);
    assert.equal(p.isEjected(0), false);
    assert.equal(p.reportFailure(1), true);
  });
});
