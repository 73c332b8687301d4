// How a pool's primary shows its workers as one proxy (--workers N): the status (a version is
// applied once every serving worker serves it), the Prometheus text (added up, with the gauges
// where a sum means nothing combined otherwise) and the traffic window (added up per bucket).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { latencySlot } from '../../src/proxy/latency-buckets.js';
import type { ProxyStatus } from '../../src/proxy/main.js';
import { mergeMetricsText } from '../../src/proxy/metrics-merge.js';
import { mergeTrafficSummaries, TRAFFIC_BUCKET_MS, TrafficRecorder } from '../../src/proxy/traffic.js';
import { poolStatus } from '../../src/proxy/worker-status.js';

function worker(pid: number, version: number, over: Partial<ProxyStatus> = {}): ProxyStatus {
  return {
    id: `w${pid}`,
    pid,
    version,
    hash: `h${version}`,
    revision: version * 10,
    etcd: 'connected',
    routes: version,
    ready: true,
    draining: false,
    lastError: null,
    resyncs: 0,
    configSource: 'etcd',
    startedAt: '2026-01-01T00:00:00.000Z',
    appliedAt: `2026-01-01T00:00:0${version}.${pid}00Z`,
    lastApplyMs: pid,
    propagationMs: pid * 10,
    recentApplies: Array.from({ length: version }, (_, i) => ({
      version: version - i,
      committedAt: '2026-01-01T00:00:00.000Z',
      appliedAt: `2026-01-01T00:00:0${version - i}.${pid}00Z`,
      propagationMs: pid * 10,
    })),
    listen: { http: 'http://127.0.0.1:8080', admin: '' },
    unhealthyTargets: [],
    unhealthyTargetCount: 0,
    ...over,
  };
}

const facts = { id: 'edge-1', pid: 1, startedAt: 'now', ready: true, draining: false, adminUrl: 'http://127.0.0.1:9901' };

describe('pool status', () => {
  it('serves a version once every serving worker does: the lagging worker decides, each version as the last worker applied it', () => {
    const s = poolStatus(facts, [
      { worker: 1, restarts: 0, status: worker(101, 3) },
      { worker: 2, restarts: 2, status: worker(102, 2) },
    ]);
    assert.equal(s.id, 'edge-1');
    assert.equal(s.pid, 1);
    assert.equal(s.version, 2, 'worker 2 still serves version 2');
    assert.equal(s.hash, 'h2');
    assert.equal(s.revision, 20);
    assert.deepEqual(s.recentApplies.map((a) => a.version), [2, 1], 'version 3 is not applied yet');
    // Version 2 reached the proxy when the last worker (102, later appliedAt) applied it.
    assert.equal(s.recentApplies[0]!.appliedAt, '2026-01-01T00:00:02.10200Z');
    assert.equal(s.recentApplies[0]!.propagationMs, 1020);
    assert.equal(s.listen.admin, 'http://127.0.0.1:9901');
    assert.deepEqual(s.workers.map((w) => [w.worker, w.pid, w.version, w.restarts]), [[1, 101, 3, 0], [2, 102, 2, 2]]);
    assert.equal(s.workerRestarts, 2);
  });

  it('counts only workers that serve: a replacement still starting does not hold the version back', () => {
    const s = poolStatus(facts, [
      { worker: 1, restarts: 0, status: worker(101, 3) },
      { worker: 2, restarts: 1, status: worker(103, 1, { ready: false }) },
      { worker: 3, restarts: 1, status: null },
    ]);
    assert.equal(s.version, 3);
    assert.equal(s.workers.length, 2, 'a slot whose worker has not reported yet has no detail');
  });

  it('is disconnected when any worker is, and names a worker\'s error', () => {
    const error = { at: 'now', revision: 40, errors: ['routes[0].upstream: unknown upstream "x"'] };
    const s = poolStatus(facts, [
      { worker: 1, restarts: 0, status: worker(101, 3) },
      { worker: 2, restarts: 0, status: worker(102, 3, { etcd: 'disconnected', lastError: error as ProxyStatus['lastError'] }) },
    ]);
    assert.equal(s.etcd, 'disconnected');
    assert.deepEqual(s.lastError, error);
    assert.equal(poolStatus(facts, []).version, null);
  });
});

describe('pool metrics', () => {
  const worker1 = [
    '# HELP signalbox_requests_total Requests.',
    '# TYPE signalbox_requests_total counter',
    'signalbox_requests_total{route="a",code="200"} 3',
    '# HELP signalbox_config_version Version.',
    '# TYPE signalbox_config_version gauge',
    'signalbox_config_version 7',
    '# HELP signalbox_request_duration_seconds Latency.',
    '# TYPE signalbox_request_duration_seconds histogram',
    'signalbox_request_duration_seconds_bucket{le="0.1",route="a"} 2',
    'signalbox_request_duration_seconds_bucket{le="+Inf",route="a"} 3',
    'signalbox_request_duration_seconds_sum{route="a"} 0.25',
    'signalbox_request_duration_seconds_count{route="a"} 3',
    '# TYPE signalbox_upstream_target_healthy gauge',
    'signalbox_upstream_target_healthy{upstream="u",target="t"} 1',
    '# TYPE signalbox_upstream_target_in_flight gauge',
    'signalbox_upstream_target_in_flight{upstream="u",target="t"} 2',
    '# TYPE nodejs_eventloop_lag_p99_seconds gauge',
    'nodejs_eventloop_lag_p99_seconds 0.02',
    '',
  ].join('\n');
  const worker2 = [
    '# HELP signalbox_requests_total Requests.',
    '# TYPE signalbox_requests_total counter',
    'signalbox_requests_total{route="a",code="200"} 4',
    'signalbox_requests_total{route="b",code="404"} 1',
    '# HELP signalbox_config_version Version.',
    '# TYPE signalbox_config_version gauge',
    'signalbox_config_version 6',
    '# HELP signalbox_request_duration_seconds Latency.',
    '# TYPE signalbox_request_duration_seconds histogram',
    'signalbox_request_duration_seconds_bucket{le="0.1",route="a"} 4',
    'signalbox_request_duration_seconds_bucket{le="+Inf",route="a"} 4',
    'signalbox_request_duration_seconds_sum{route="a"} 0.5',
    'signalbox_request_duration_seconds_count{route="a"} 4',
    '# TYPE signalbox_upstream_target_healthy gauge',
    'signalbox_upstream_target_healthy{upstream="u",target="t"} 0',
    '# TYPE signalbox_upstream_target_in_flight gauge',
    'signalbox_upstream_target_in_flight{upstream="u",target="t"} 1',
    '# TYPE nodejs_eventloop_lag_p99_seconds gauge',
    'nodejs_eventloop_lag_p99_seconds 0.05',
    '',
  ].join('\n');

  it('adds counters and histograms; the served version is the smallest, a target in rotation only where every worker has it, the lag the worst', () => {
    const merged = mergeMetricsText([worker1, worker2]);
    const sample = (series: string) => {
      const line = merged.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    assert.equal(sample('signalbox_requests_total{route="a",code="200"}'), 7);
    assert.equal(sample('signalbox_requests_total{route="b",code="404"}'), 1);
    assert.equal(sample('signalbox_request_duration_seconds_bucket{le="0.1",route="a"}'), 6);
    assert.equal(sample('signalbox_request_duration_seconds_count{route="a"}'), 7);
    assert.equal(sample('signalbox_request_duration_seconds_sum{route="a"}'), 0.75);
    assert.equal(sample('signalbox_config_version'), 6);
    assert.equal(sample('signalbox_upstream_target_healthy{upstream="u",target="t"}'), 0);
    assert.equal(sample('signalbox_upstream_target_in_flight{upstream="u",target="t"}'), 3);
    assert.equal(sample('nodejs_eventloop_lag_p99_seconds'), 0.05);
    // Each family once, its head before its samples.
    assert.equal(merged.match(/^# TYPE signalbox_requests_total counter$/gm)?.length, 1);
    assert.ok(merged.indexOf('# TYPE signalbox_requests_total counter') < merged.indexOf('signalbox_requests_total{route="b"'));
    assert.equal(mergeMetricsText([worker1]).split('\n').filter((l) => l && !l.startsWith('#')).length, worker1.split('\n').filter((l) => l && !l.startsWith('#')).length);
  });
});

describe('pool traffic', () => {
  it('adds the workers\' windows bucket by bucket and ranks the routes by their sum', () => {
    const start = 1_000_000 * TRAFFIC_BUCKET_MS;
    const clock = { ms: start };
    const a = new TrafficRecorder({ now: () => clock.ms, timer: false });
    const b = new TrafficRecorder({ now: () => clock.ms, timer: false });
    a.observe('x', 200, latencySlot(0.0004));
    a.observe('y', 200, latencySlot(0.0004));
    a.observe('y', 200, latencySlot(0.0004));
    b.observe('x', 502, latencySlot(0.003));
    b.observe('x', 200, latencySlot(0.003));
    // b's clock has moved one bucket on: its window starts one bucket later.
    clock.ms += TRAFFIC_BUCKET_MS;
    b.tick();
    b.observe('x', 200, latencySlot(0.0004));
    const merged = mergeTrafficSummaries([a.summary(), b.summary()], 1);
    const last = merged.total.requests.length - 1;
    assert.equal(merged.start, b.summary().start, "on the newest worker's window");
    assert.equal(merged.total.requests[last - 1], 5);
    assert.equal(merged.total.errors[last - 1], 1);
    assert.equal(merged.total.requests[last], 1);
    assert.deepEqual(merged.total.latency[last - 1], [3, 0, 2]);
    assert.deepEqual(merged.routes.map((r) => r.route), ['x'], 'x (4) is busier than y (2) across the workers');
    assert.equal(merged.routesWithTraffic, 2);
  });
});
