import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { NO_ROUTE_LABEL, OTHER_CONSUMER_LABEL, ProxyMetrics } from '../../src/proxy/metrics.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Route, status, seconds, and the consumer an auth policy let through, if any. */
type Observation = [string, number, number, string?];

/** The same observations through prom-client's own Counters and Histogram, as the proxy once did. */
async function viaPromClient(observations: Observation[]): Promise<string> {
  const registry = new Registry();
  const requests = new Counter({
    name: 'signalbox_requests_total',
    help: 'Requests answered by the proxy, by route id and status code (499: client went away first).',
    labelNames: ['route', 'code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'signalbox_request_duration_seconds',
    help: 'Time from request start until the response ended, by route id.',
    labelNames: ['route'],
    buckets: BUCKETS,
    registers: [registry],
  });
  const consumers = new Counter({
    name: 'signalbox_consumer_requests_total',
    help: 'Requests an auth policy let through, by consumer id and status code.',
    labelNames: ['consumer', 'code'],
    registers: [registry],
  });
  for (const [route, status, seconds, consumer] of observations) {
    requests.labels(route, String(status)).inc();
    duration.labels(route).observe(seconds);
    if (consumer !== undefined) consumers.labels(consumer, String(status)).inc();
  }
  return registry.metrics();
}

describe('proxy metrics', () => {
  it('writes the request series exactly as prom-client would', async () => {
    const observations: Observation[] = [
      ['main', 200, 0.0005, 'alice'],
      ['main', 200, 0.001, 'alice'], // on a bound: counted in that bucket
      ['main', 502, 0.003, OTHER_CONSUMER_LABEL],
      [NO_ROUTE_LABEL, 404, 0.0002],
      ['main', 499, 75], // above every bound: only +Inf
    ];
    const m = new ProxyMetrics({ processMetrics: false });
    for (const [route, status, seconds, consumer] of observations) {
      m.observeRequest(route, status, seconds);
      if (consumer !== undefined) m.observeConsumer(consumer, status);
    }
    const text = await m.text();
    // The same lines; series order within a metric carries no meaning in the text format.
    const expected = (await viaPromClient(observations)).split('\n');
    const ours = text.split('\n').slice(-expected.length);
    assert.deepEqual(ours.slice(0, 2), expected.slice(0, 2), 'the counter first, with its HELP and TYPE');
    assert.deepEqual([...ours].sort(), [...expected].sort());
    assert.match(text, /^signalbox_config_applies_total\{result="ok"\} 0$/m);
  });

  it('has the headers of the request series before the first request', async () => {
    const text = await new ProxyMetrics({ processMetrics: false }).text();
    assert.match(text, /^# TYPE signalbox_requests_total counter$/m);
    assert.match(text, /^# TYPE signalbox_request_duration_seconds histogram$/m);
    assert.match(text, /^# TYPE signalbox_consumer_requests_total counter$/m);
  });
});
