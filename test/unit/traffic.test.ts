// The proxy's live traffic window: requests counted into wall-clock buckets per route, read back
// as the summary the admin port serves; bounded memory (a fixed ring per route, idle routes
// dropped). The clock is driven by hand here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { latencySlot } from '../../src/proxy/latency-buckets.js';
import { ProxyMetrics } from '../../src/proxy/metrics.js';
import { TRAFFIC_BUCKETS, TRAFFIC_BUCKET_MS, TrafficRecorder } from '../../src/proxy/traffic.js';

function recorder(startMs = 1_000_000 * TRAFFIC_BUCKET_MS) {
  const clock = { ms: startMs };
  const traffic = new TrafficRecorder({ now: () => clock.ms, timer: false });
  const advance = (buckets: number) => {
    clock.ms += buckets * TRAFFIC_BUCKET_MS;
    traffic.tick();
  };
  const observe = (route: string, status: number, seconds: number, times = 1) => {
    for (let i = 0; i < times; i++) traffic.observe(route, status, latencySlot(seconds));
  };
  return { clock, traffic, advance, observe };
}

const zeros = (n: number) => new Array<number>(n).fill(0);

describe('proxy traffic window', () => {
  it('counts requests, 5xx answers and latency per bucket, oldest bucket first, per route and in total', () => {
    const { clock, traffic, advance, observe } = recorder();
    observe('users', 200, 0.0004, 3); // slot 0 (≤ 1 ms)
    observe('users', 502, 0.003); // slot 2 (≤ 5 ms), an error
    observe('orders', 404, 0.02); // slot 4, not an error
    advance(1);
    clock.ms += 4_000; // 4 s into the newest bucket
    observe('users', 499, 0.2); // the client went away: not an error
    observe('users', 503, 90); // above every bound: the last slot
    const s = traffic.summary();

    const n = TRAFFIC_BUCKETS;
    assert.equal(s.bucketMs, TRAFFIC_BUCKET_MS);
    assert.equal(s.start, clock.ms - 4_000 - (n - 1) * TRAFFIC_BUCKET_MS);
    assert.equal(s.now, clock.ms);
    assert.deepEqual(s.latencyBoundsMs, [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000]);
    assert.deepEqual(s.total.requests, [...zeros(n - 2), 5, 2]);
    assert.deepEqual(s.total.errors, [...zeros(n - 2), 1, 1]);
    assert.deepEqual(s.total.latency.slice(-2), [[3, 0, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]]);
    assert.deepEqual(s.total.latency.slice(0, -2), Array.from({ length: n - 2 }, () => []), 'empty buckets carry no zeros');
    assert.deepEqual(s.routes.map((r) => [r.route, r.requests.slice(-2), r.errors.slice(-2)]), [
      ['users', [4, 2], [1, 1]],
      ['orders', [1, 0], [0, 0]],
    ]);
    assert.equal(s.routesWithTraffic, 2);
  });

  it('lists the busiest routes first, up to top; the rest count in the total only', () => {
    const { traffic, observe } = recorder();
    observe('a', 200, 0.001, 2);
    observe('b', 200, 0.001, 5);
    observe('c', 200, 0.001, 3);
    const s = traffic.summary(2);
    assert.deepEqual(s.routes.map((r) => r.route), ['b', 'c']);
    assert.equal(s.routesWithTraffic, 3);
    assert.equal(s.total.requests.at(-1), 10);
  });

  it('keeps one window per route: old buckets leave it, and a route idle for a whole window is dropped', () => {
    const { traffic, advance, observe } = recorder();
    observe('gone', 200, 0.001, 7);
    observe('steady', 200, 0.001);
    advance(TRAFFIC_BUCKETS - 1);
    observe('steady', 200, 0.001);
    assert.equal(traffic.summary().routes.find((r) => r.route === 'gone')!.requests[0], 7, 'still in the window');
    advance(1);
    // The bucket of the first requests left the window; 'gone' had nothing since.
    assert.equal(traffic.routeCount, 1);
    const s = traffic.summary();
    assert.deepEqual(s.routes.map((r) => r.route), ['steady']);
    assert.deepEqual(s.routes[0]!.requests, [...zeros(TRAFFIC_BUCKETS - 2), 1, 0]);
    assert.deepEqual(s.total.requests, [...zeros(TRAFFIC_BUCKETS - 2), 1, 0], "the total's ring drops old buckets too");

    // Requests after a long pause: buckets from before the pause do not come back.
    observe('steady', 200, 0.001, 2);
    advance(TRAFFIC_BUCKETS + 5);
    observe('steady', 200, 0.001, 4);
    assert.deepEqual(traffic.summary().routes[0]!.requests, [...zeros(TRAFFIC_BUCKETS - 1), 4]);
  });

  it('never moves back when the wall clock steps back', () => {
    const { clock, traffic, observe } = recorder();
    observe('r', 200, 0.001);
    clock.ms -= 5 * TRAFFIC_BUCKET_MS;
    traffic.tick();
    observe('r', 200, 0.001);
    assert.deepEqual(traffic.summary().routes[0]!.requests.slice(-1), [2]);
  });

  it('is fed by every request the metrics see, per route id', () => {
    const metrics = new ProxyMetrics({ processMetrics: false });
    try {
      metrics.observeRequest('users', 200, 0.002);
      metrics.observeRequest('users', 500, 0.002);
      const s = metrics.traffic.summary();
      assert.equal(s.routes[0]!.route, 'users');
      assert.equal(s.routes[0]!.requests.at(-1), 2);
      assert.equal(s.routes[0]!.errors.at(-1), 1);
    } finally {
      metrics.close();
    }
  });
});
