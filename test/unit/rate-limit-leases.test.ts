import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LEASE_MS, LeaseBank, LeasedTokens, leaseSize, type LeaseAsker } from '../../src/proxy/policies/rate-limit-leases.js';

/** Two workers' tokens over one primary's bank, on a clock the test moves. */
function pool(requestsPerSecond: number, burst: number, workers = 2) {
  let now = 0;
  const bank = new LeaseBank(1000);
  const asker: LeaseAsker = { lease: async (r) => bank.grant(r, now) };
  const tokens = Array.from({ length: workers }, () => new LeasedTokens(asker, 'rl', requestsPerSecond, burst, workers, 1000));
  const clock = () => now;
  /** One request of `key` on `worker`: whether it was let through. */
  const request = async (worker: number, key = 'client') => {
    const t = tokens[worker]!;
    const c = t.credit(key);
    return c.spend(now) || (await t.spendLeased(key, c, clock)) === 0;
  };
  return { request, advance: (ms: number) => (now += ms), at: () => now };
}

describe('rate-limit leases (--workers N)', () => {
  it('a client spread over the workers gets the burst at once, not the burst per worker', async () => {
    const p = pool(10, 20);
    let admitted = 0;
    for (let i = 0; i < 200; i++) if (await p.request(i % 2)) admitted++;
    assert.equal(admitted, 20);
  });

  it('over time, the rate: never more than burst + rate x time in any run, and most of it under steady load', async () => {
    const rate = 100;
    const burst = 50;
    const p = pool(rate, burst);
    // A request every 2 ms (5x the rate) for 10 s, alternating workers, some workers idle for a while.
    let admitted = 0;
    const times: number[] = [];
    for (let t = 0; t < 10_000; t += 2) {
      const worker = t % 3000 < 1500 ? (t / 2) % 2 : 0;
      if (await p.request(worker)) {
        admitted++;
        times.push(p.at());
      }
      p.advance(2);
    }
    // Any window: at most the burst plus what the rate refills in it.
    for (let i = 0; i < times.length; i++) {
      for (let j = i; j < times.length; j += 7) {
        const window = times[j]! - times[i]!;
        assert.ok(j - i + 1 <= burst + Math.ceil((window * rate) / 1000) + 1, `${j - i + 1} requests in ${window} ms`);
      }
    }
    const ideal = burst + rate * 10;
    assert.ok(admitted <= ideal, `${admitted} > ${ideal}`);
    assert.ok(admitted >= 0.85 * ideal, `${admitted} of ${ideal}: leases lost too much`);
  });

  it('tokens leased and not spent expire; the bucket is whole again once their lease is over', async () => {
    const p = pool(100, 40);
    assert.equal(await p.request(0), true); // worker 0 leases leaseSize tokens and spends one
    const size = leaseSize(100, 40, 2);
    assert.equal(size, 10);
    // Worker 1 gets what is left of the burst, not more.
    let admitted = 0;
    for (let i = 0; i < 100; i++) if (await p.request(1)) admitted++;
    assert.equal(admitted, 40 - size);
    // Long after, with worker 0's lease expired unspent: the whole burst again, from either worker.
    p.advance(10 * 1000);
    admitted = 0;
    for (let i = 0; i < 100; i++) if (await p.request(i % 2)) admitted++;
    assert.equal(admitted, 40);
  });

  it('keys and policies have buckets of their own', async () => {
    const p = pool(1, 2);
    assert.deepEqual([await p.request(0, 'a'), await p.request(1, 'a'), await p.request(0, 'a')], [true, true, false]);
    assert.deepEqual([await p.request(1, 'b'), await p.request(0, 'b'), await p.request(1, 'b')], [true, true, false]);
    const bank = new LeaseBank(10);
    const r = { key: 'k', want: 5, requestsPerSecond: 1, burst: 5 };
    assert.equal(bank.grant({ ...r, bucket: 'one' }, 0).granted, 5);
    assert.equal(bank.grant({ ...r, bucket: 'two' }, 0).granted, 5);
    assert.equal(bank.grant({ ...r, bucket: 'one' }, 0).granted, 0);
    assert.ok(bank.grant({ ...r, bucket: 'one' }, 0).waitMs > 0);
  });

  it('a lease is a tenth of a second of the rate, at most a quarter of the burst for 2 workers, at least one', () => {
    assert.equal(leaseSize(100, 200, 2), 10);
    assert.equal(leaseSize(10_000, 200, 2), 50);
    assert.equal(leaseSize(1, 1, 8), 1);
    assert.equal(LEASE_MS, 100);
  });
});
