// Prometheus metrics of one proxy, in their own registry (a test can run several proxies).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Route label of requests that matched no route (ids cannot contain parentheses). */
export const NO_ROUTE_LABEL = '(none)';

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface Inc {
  inc(): void;
}
interface Observe {
  observe(v: number): void;
}

export interface ProxyMetricsOptions {
  /** Node process metrics (CPU, memory, event loop, GC). Default true. */
  processMetrics?: boolean;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'code'>;
  private readonly duration: Histogram<'route'>;
  private readonly version: Gauge;
  private readonly applies: Counter<'result'>;
  // prom-client hashes the label set on every call; the per-request path looks children up by
  // one string instead.
  private readonly requestChildren = new Map<string, Inc>();
  private readonly durationChildren = new Map<string, Observe>();

  constructor(opts: ProxyMetricsOptions = {}) {
    const registers = [this.registry];
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'signalbox_requests_total',
      help: 'Requests answered by the proxy, by route id and status code (499: client went away first).',
      labelNames: ['route', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'signalbox_request_duration_seconds',
      help: 'Time from request start until the response ended, by route id.',
      labelNames: ['route'],
      buckets: DURATION_BUCKETS,
      registers,
    });
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
  }

  /** One finished request. `route` is the route id, or NO_ROUTE_LABEL. */
  observeRequest(route: string, status: number, seconds: number): void {
    const key = `${route} ${status}`;
    let counter = this.requestChildren.get(key);
    if (counter === undefined) {
      counter = this.requests.labels(route, String(status));
      this.requestChildren.set(key, counter);
    }
    counter.inc();
    let hist = this.durationChildren.get(route);
    if (hist === undefined) {
      hist = this.duration.labels(route);
      this.durationChildren.set(route, hist);
    }
    hist.observe(seconds);
  }

  /**
   * A config revision was applied (ok) or refused. `version` is the version now served: the new
   * one when ok, the one still served when refused.
   */
  configApplied(ok: boolean, version: number): void {
    this.applies.inc({ result: ok ? 'ok' : 'invalid' });
    this.version.set(version);
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
