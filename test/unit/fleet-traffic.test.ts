// Adding up the proxies' traffic summaries: by wall-clock bucket, rates from counts, p99 from the
// summed latency histograms, proxies that did not answer listed with why.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TrafficSummary } from '../../src/api/schemas.js';
import { mergeTraffic, quantileMs } from '../../src/control-plane/fleet-traffic.js';

const BOUNDS = [1, 2.5, 5, 10, 25, 50, 100];
const N = 4;
const B = 10_000;
const T = 1_000_000 * B;

/** A summary whose buckets start at `start`, taken `intoLastMs` into its newest bucket. */
function summary(start: number, intoLastMs: number, total: Partial<TrafficSummary['total']>, routes: TrafficSummary['routes'] = []): TrafficSummary {
  const empty = { requests: new Array<number>(N).fill(0), errors: new Array<number>(N).fill(0), latency: Array.from({ length: N }, () => []) };
  return { bucketMs: B, start, now: start + (N - 1) * B + intoLastMs, latencyBoundsMs: BOUNDS, total: { ...empty, ...total }, routes, routesWithTraffic: routes.length };
}

describe('fleet traffic', () => {
  it('p99 interpolates within its latency slot, as histogram_quantile does', () => {
    assert.equal(quantileMs([], BOUNDS, 0.99), null);
    assert.equal(quantileMs([100], BOUNDS, 0.99), 0.99, '0 to 1 ms');
    assert.equal(quantileMs([90, 0, 0, 10], BOUNDS, 0.99), 9.5, 'rank 99 is the 9th of the 10 in 5–10 ms');
    assert.equal(quantileMs([0, 0, 0, 0, 0, 0, 0, 3], BOUNDS, 0.99), 100, 'above every bound reads as the last');
  });

  it('adds the same wall-clock bucket of every proxy; the newest bucket is a rate over the time it ran', () => {
    const a = summary(T, 5_000, { requests: [10, 20, 0, 10], errors: [0, 2, 0, 1], latency: [[10], [10, 10], [], [2, 8]] }, [
      { route: 'users', requests: [10, 20, 0, 10], errors: [0, 2, 0, 1], latency: [[10], [10, 10], [], [2, 8]] },
    ]);
    // One bucket ahead (its summary was taken after the next boundary): its buckets land one earlier.
    const b = summary(T + B, 2_000, { requests: [0, 0, 30, 4], errors: [0, 0, 3, 0], latency: [[], [], [0, 0, 0, 30], [4]] }, [
      { route: 'orders', requests: [0, 0, 30, 4], errors: [0, 0, 3, 0], latency: [[], [], [0, 0, 0, 30], [4]] },
    ]);
    const t = mergeTraffic([{ id: 'a', summary: a }, { id: 'b', summary: b }, { id: 'c', error: 'no answer' }], 20, 0);
    assert.equal(t.start, T + B);
    assert.equal(t.now, b.now);
    // Fleet buckets: a's 2nd to 4th, and b's 3rd and 4th on a's 4th and after it. a's 4th ran 5 s
    // (10 requests: 2/s), b's 4th 2 s (4 requests: 2/s).
    assert.deepEqual(t.fleet.requestsPerSecond, [2, 0, 2 + 3, 2]);
    assert.deepEqual(t.fleet.errorRate, [0.1, null, (1 + 3) / 40, 0]);
    assert.equal(t.fleet.requests, 20 + 10 + 30 + 4);
    assert.equal(t.fleet.errors, 2 + 1 + 3);
    // Bucket 3: a's [2, 8] and b's [0, 0, 0, 30] make 10 up to 2.5 ms and 30 in 5–10 ms.
    assert.deepEqual(t.fleet.p99Ms, [2.47, null, 9.93, 0.99]);
    assert.deepEqual(t.proxies[0], { id: 'a', requestsPerSecond: [2, 0, 2, 0], errorRate: [0.1, null, 0.1, null], p99Ms: [2.47, null, 2.48, null], requests: 30, errors: 3 });
    assert.deepEqual(t.proxies[2], { id: 'c', error: 'no answer' });
    assert.deepEqual(t.routes.map((r) => [r.route, r.proxies, r.requests]), [['orders', 1, 34], ['users', 1, 30]]);
    assert.deepEqual(mergeTraffic([{ id: 'a', summary: a }, { id: 'b', summary: b }], 1, 0).routes.map((r) => r.route), ['orders']);
  });

  it('a proxy whose buckets differ from the others is listed with why, not added', () => {
    const a = summary(T, 5_000, { requests: [1, 1, 1, 1] });
    const other = { ...summary(T, 5_000, { requests: [9, 9, 9, 9] }), bucketMs: 5_000 };
    const t = mergeTraffic([{ id: 'a', summary: a }, { id: 'new', summary: other }], 20, 0);
    assert.equal(t.fleet.requests, 4);
    assert.match((t.proxies[1] as { error: string }).error, /^its buckets \(5000\/4\/.*\) differ from the other proxies' \(10000\/4\/.*\): a different Signalbox version$/);
  });

  it('no proxy answering: empty series, each proxy with its reason', () => {
    const t = mergeTraffic([{ id: 'a', error: 'no answer' }], 20, 42);
    assert.deepEqual(t, { bucketMs: 10_000, start: 42, now: 42, fleet: { requestsPerSecond: [], errorRate: [], p99Ms: [], requests: 0, errors: 0 }, proxies: [{ id: 'a', error: 'no answer' }], routes: [] });
  });
});
