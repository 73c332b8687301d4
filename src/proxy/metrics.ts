// Prometheus metrics of one proxy, in their own registry (a test can run several proxies).
//
// The two per-request series (requests by route and status, latency by route) are plain numbers
// per route, written out as Prometheus text only when scraped. prom-client's labelled inc() and
// observe() build a label string, look it up as a property name and turn the bucket bound into
// a string on every call: ~0.6 µs a request in a loop (~25 ns here). In an A/B of 12 rounds the
// proxy forwarded a median ~8 % more per core without them (README, Benchmarks).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DURATION_BUCKETS, latencySlot } from './latency-buckets.js';
import { TrafficRecorder } from './traffic.js';

/** Route label of requests that matched no route (ids cannot contain parentheses). */
export const NO_ROUTE_LABEL = '(none)';
/**
 * Consumer label of a request a JWT's consumerClaim named with no consumer of that id in the
 * config: a claim can take as many values as the issuer has users, a label must not.
 */
export const OTHER_CONSUMER_LABEL = '(other)';

/** Commit → applied: a few milliseconds on one host, up to minutes for a proxy cut off from etcd. */
const PROPAGATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

const REQUESTS = 'signalbox_requests_total';
const DURATION = 'signalbox_request_duration_seconds';
const REQUESTS_HEAD = [
  `# HELP ${REQUESTS} Requests answered by the proxy, by route id and status code (499: client went away first).`,
  `# TYPE ${REQUESTS} counter`,
];
const CONSUMER_REQUESTS = 'signalbox_consumer_requests_total';
const CONSUMER_REQUESTS_HEAD = [
  `# HELP ${CONSUMER_REQUESTS} Requests an auth policy let through, by consumer id and status code.`,
  `# TYPE ${CONSUMER_REQUESTS} counter`,
];
const DURATION_HEAD = [
  `# HELP ${DURATION} Time from request start until the response ended, by route id.`,
  `# TYPE ${DURATION} histogram`,
];

/** The finished requests of one route id, across config versions. */
class RouteRequests {
  readonly byStatus = new Map<number, number>();
  /** Requests per latency bucket, not cumulative; those above every bound are only in count. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length);
  sum = 0;
  count = 0;

  /** `slot` is latencySlot(seconds). */
  observe(status: number, seconds: number, slot: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    if (slot < DURATION_BUCKETS.length) this.buckets[slot]!++;
    this.sum += seconds;
    this.count++;
  }

  /** The latency histogram in Prometheus text, its buckets cumulative as the format wants. */
  histogramLines(route: string): string[] {
    const lines: string[] = [];
    let cumulative = 0;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      cumulative += this.buckets[i]!;
      lines.push(`${DURATION}_bucket{le="${DURATION_BUCKETS[i]}",route="${route}"} ${cumulative}`);
    }
    lines.push(
      `${DURATION}_bucket{le="+Inf",route="${route}"} ${this.count}`,
      `${DURATION}_sum{route="${route}"} ${this.sum}`,
      `${DURATION}_count{route="${route}"} ${this.count}`,
    );
    return lines;
  }
}

export interface ProxyMetricsOptions {
  /** Node process metrics (CPU, memory, event loop, GC). Default true. */
  processMetrics?: boolean;
}

export class ProxyMetrics {
  private readonly registry = new Registry();
  private readonly version: Gauge;
  private readonly applies: Counter<'result'>;
  private readonly upgrades: Counter<'route'>;
  private readonly tunnels: Gauge;
  private readonly propagation: Histogram;
  private readonly byRoute = new Map<string, RouteRequests>();
  /** Consumer id (or OTHER_CONSUMER_LABEL) → status → requests. */
  private readonly byConsumer = new Map<string, Map<number, number>>();
  private readonly sources: (() => string)[] = [];
  /** The last minutes of requests per route, for the dashboard (GET /traffic on the admin port). */
  readonly traffic = new TrafficRecorder();

  constructor(opts: ProxyMetricsOptions = {}) {
    const registers = [this.registry];
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.version = new Gauge({
      name: 'signalbox_config_version',
      help: 'Config version currently served (0 before the first).',
      registers,
    });
    this.applies = new Counter({
      name: 'signalbox_config_applies_total',
      help: 'Config revisions applied (ok) or refused (invalid).',
      labelNames: ['result'],
      registers,
    });
    this.applies.inc({ result: 'ok' }, 0);
    this.applies.inc({ result: 'invalid' }, 0);
    this.upgrades = new Counter({
      name: 'signalbox_upgrades_total',
      help: 'Upgrade requests (WebSocket and others) switched to the upstream protocol (101), by route id.',
      labelNames: ['route'],
      registers,
    });
    this.tunnels = new Gauge({
      name: 'signalbox_upgraded_connections',
      help: 'Upgraded connections open now, across config versions.',
      registers,
    });
    this.propagation = new Histogram({
      name: 'signalbox_config_propagation_seconds',
      help: "From a version's commit (its version key's time, the control plane's clock) until this proxy served it (this host's clock; negative skew counts as 0).",
      buckets: PROPAGATION_BUCKETS,
      registers,
    });
  }

  /** An upgrade was switched (101): one more open upgraded connection. */
  upgraded(route: string): void {
    this.upgrades.inc({ route });
    this.tunnels.inc();
  }

  /** An upgraded connection closed. */
  upgradeClosed(): void {
    this.tunnels.dec();
  }

  /** One finished request. `route` is the route id, or NO_ROUTE_LABEL. */
  observeRequest(route: string, status: number, seconds: number): void {
    let requests = this.byRoute.get(route);
    if (requests === undefined) {
      requests = new RouteRequests();
      this.byRoute.set(route, requests);
    }
    const slot = latencySlot(seconds);
    requests.observe(status, seconds, slot);
    this.traffic.observe(route, status, slot);
  }

  /** One finished request an auth policy let through: `consumer` is a consumer id of the config, or OTHER_CONSUMER_LABEL. */
  observeConsumer(consumer: string, status: number): void {
    let byStatus = this.byConsumer.get(consumer);
    if (byStatus === undefined) this.byConsumer.set(consumer, (byStatus = new Map()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }

  /** Requests answered since the process started. */
  requestCount(): number {
    let n = 0;
    for (const requests of this.byRoute.values()) n += requests.count;
    return n;
  }

  /**
   * A config revision was applied (ok) or refused. `version` is the version now served: the new
   * one when ok, the one still served when refused.
   */
  configApplied(ok: boolean, version: number): void {
    this.applies.inc({ result: ok ? 'ok' : 'invalid' });
    this.version.set(version);
  }

  /** A version committed while this proxy watched reached it after `seconds`. */
  configPropagated(seconds: number): void {
    this.propagation.observe(seconds);
  }

  /** Stop the traffic recorder's clock. */
  close(): void {
    this.traffic.close();
  }

  /** Series another module renders as Prometheus text at scrape time (upstream-status.ts). */
  addSource(render: () => string): void {
    this.sources.push(render);
  }

  /** Prometheus text exposition: the registry's metrics, the per-request series, then the sources'. */
  async text(): Promise<string> {
    return `${await this.registry.metrics()}\n${this.requestsText()}${this.sources.map((render) => render()).join('')}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The per-request series. Route and consumer ids match [a-z0-9._-] or are the labels above: nothing to escape. */
  private requestsText(): string {
    const lines = [...REQUESTS_HEAD];
    for (const [route, requests] of this.byRoute) {
      for (const [code, n] of requests.byStatus) lines.push(`${REQUESTS}{route="${route}",code="${code}"} ${n}`);
    }
    lines.push('', ...DURATION_HEAD);
    for (const [route, requests] of this.byRoute) lines.push(...requests.histogramLines(route));
    lines.push('', ...CONSUMER_REQUESTS_HEAD);
    for (const [consumer, byStatus] of this.byConsumer) {
      for (const [code, n] of byStatus) lines.push(`${CONSUMER_REQUESTS}{consumer="${consumer}",code="${code}"} ${n}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
