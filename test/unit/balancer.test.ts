import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Balancer } from '../../src/proxy/balancer.js';

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

  it('returns -1 when every target is ejected, and with no targets', () => {
    const one = new Balancer([3]);
    assert.equal(one.pick(0), 0);
    one.eject(0, 10);
    assert.equal(one.pick(5), -1);
    assert.equal(one.pick(10), 0);
    const two = new Balancer([1, 2]);
    two.eject(0, 10);
    two.eject(1, 20);
    assert.equal(two.pick(15), 0);
    assert.equal(two.pick(9), -1);
    assert.equal(new Balancer([]).pick(0), -1);
  });

  it('an ejection never shortens an existing one', () => {
    const b = new Balancer([1, 1]);
    b.eject(0, 100);
    b.eject(0, 50);
    assert.ok(b.isEjected(0, 75));
  });
});
