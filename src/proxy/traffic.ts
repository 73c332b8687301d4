// The last few minutes of a proxy's requests, for the dashboard's charts: per route and in total,
// a ring of TRAFFIC_BUCKETS buckets of TRAFFIC_BUCKET_MS each holding the requests answered, how
// many were 5xx, and their latency by the bounds /metrics uses. Memory is fixed per route (~2 KB)
// and a route without a request for a whole window is dropped, so routes that are gone age out.
//
// Buckets are wall-clock periods (period n covers [n·bucketMs, (n+1)·bucketMs)), so the control
// plane can add up the same bucket of every proxy. A timer moves to the next period at each
// boundary: a request reads no clock, it only counts into the bucket of the current period.
import { DEFAULT_TOP_ROUTES, type TrafficSummary } from '../api/schemas.js';
import { DURATION_BUCKETS, LATENCY_SLOTS } from './latency-buckets.js';

export const TRAFFIC_BUCKET_MS = 10_000;
/** Five minutes. */
export const TRAFFIC_BUCKETS = 30;

/** Per bucket: answers with a 5xx status, then requests per latency slot (their sum is the requests). */
const STRIDE = 1 + LATENCY_SLOTS;

/** Oldest bucket first: requests, how many were 5xx (the proxy's own 502/503/504 too; 499 is
 * not), and per bucket the requests per latency slot, trailing zeros left out. */
export type TrafficSeries = TrafficSummary['total'];

const LATENCY_BOUNDS_MS = DURATION_BUCKETS.map((s) => Math.round(s * 1e4) / 10);

/** One route's (or the total's) ring of buckets. */
export class RouteTraffic {
  /** The newest period counted; its bucket is newest % TRAFFIC_BUCKETS. */
  private newest: number;
  private readonly counts = new Uint32Array(TRAFFIC_BUCKETS * STRIDE);

  constructor(period: number) {
    this.newest = period;
  }

  add(period: number, error: boolean, slot: number): void {
    if (period > this.newest) this.moveTo(period);
    const base = (this.newest % TRAFFIC_BUCKETS) * STRIDE;
    if (error) this.counts[base]!++;
    this.counts[base + 1 + slot]!++;
  }

  /** No request in the window that ends with `period`. */
  idle(period: number): boolean {
    return this.newest <= period - TRAFFIC_BUCKETS;
  }

  /** Requests in the window that ends with `end`. */
  requests(end: number): number {
    let n = 0;
    for (let p = end - TRAFFIC_BUCKETS + 1; p <= end; p++) {
      const base = this.base(p);
      if (base < 0) continue;
      for (let s = 1; s < STRIDE; s++) n += this.counts[base + s]!;
    }
    return n;
  }

  /** The window that ends with `end`, oldest bucket first. */
  series(end: number): TrafficSeries {
    const out: TrafficSeries = { requests: [], errors: [], latency: [] };
    for (let p = end - TRAFFIC_BUCKETS + 1; p <= end; p++) {
      const base = this.base(p);
      const latency = base < 0 ? [] : Array.from(this.counts.subarray(base + 1, base + STRIDE));
      while (latency.length > 0 && latency[latency.length - 1] === 0) latency.pop();
      out.requests.push(latency.reduce((a, b) => a + b, 0));
      out.errors.push(base < 0 ? 0 : this.counts[base]!);
      out.latency.push(latency);
    }
    return out;
  }

  /** Where period p's counts are; -1 when it had none (after the newest, or overwritten since). */
  private base(p: number): number {
    return p > this.newest || p <= this.newest - TRAFFIC_BUCKETS ? -1 : (p % TRAFFIC_BUCKETS) * STRIDE;
  }

  /** Clear the buckets of the periods after the newest, up to `period`, which becomes the newest. */
  private moveTo(period: number): void {
    const skipped = Math.min(period - this.newest, TRAFFIC_BUCKETS);
    for (let i = 1; i <= skipped; i++) {
      const base = ((this.newest + i) % TRAFFIC_BUCKETS) * STRIDE;
      this.counts.fill(0, base, base + STRIDE);
    }
    this.newest = period;
  }
}

export interface TrafficRecorderOptions {
  /** The wall clock, in ms; for tests. */
  now?: () => number;
  /** Advance by a timer at each bucket boundary (default); false: only when tick() is called. */
  timer?: boolean;
}

export class TrafficRecorder {
  private period: number;
  private readonly total: RouteTraffic;
  private readonly routes = new Map<string, RouteTraffic>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: TrafficRecorderOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.period = Math.floor(this.now() / TRAFFIC_BUCKET_MS);
    this.total = new RouteTraffic(this.period);
    if (opts.timer !== false) this.schedule();
  }

  /** One request answered. `slot` is latencySlot() of its duration. */
  observe(route: string, status: number, slot: number): void {
    const error = status >= 500;
    this.total.add(this.period, error, slot);
    let traffic = this.routes.get(route);
    if (traffic === undefined) {
      traffic = new RouteTraffic(this.period);
      this.routes.set(route, traffic);
    }
    traffic.add(this.period, error, slot);
  }

  /** Move to the clock's period (never back, should the clock step back) and drop idle routes. */
  tick(): void {
    this.period = Math.max(this.period, Math.floor(this.now() / TRAFFIC_BUCKET_MS));
    for (const [route, traffic] of this.routes) if (traffic.idle(this.period)) this.routes.delete(route);
  }

  /** Routes counted at the moment (with a request in the window, or not yet dropped). */
  get routeCount(): number {
    return this.routes.size;
  }

  summary(top = DEFAULT_TOP_ROUTES): TrafficSummary {
    const end = this.period;
    const busy = [...this.routes].map(([route, traffic]) => ({ route, traffic, requests: traffic.requests(end) })).filter((r) => r.requests > 0);
    busy.sort((a, b) => b.requests - a.requests || (a.route < b.route ? -1 : 1));
    return {
      bucketMs: TRAFFIC_BUCKET_MS,
      start: (end - TRAFFIC_BUCKETS + 1) * TRAFFIC_BUCKET_MS,
      now: this.now(),
      latencyBoundsMs: LATENCY_BOUNDS_MS,
      total: this.total.series(end),
      routes: busy.slice(0, top).map(({ route, traffic }) => ({ route, ...traffic.series(end) })),
      routesWithTraffic: busy.length,
    };
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    // A millisecond past the boundary, so the clock reads the new period.
    this.timer = setTimeout(() => {
      this.tick();
      this.schedule();
    }, TRAFFIC_BUCKET_MS - (this.now() % TRAFFIC_BUCKET_MS) + 1);
    this.timer.unref();
  }
}

/** b's counts added into a, bucket by bucket; `shift`: how many buckets b's window starts later. */
function addSeries(a: TrafficSeries, b: TrafficSeries, shift: number): void {
  for (let i = 0; i < a.requests.length; i++) {
    const j = i - shift;
    if (j < 0 || j >= b.requests.length) continue;
    a.requests[i]! += b.requests[j]!;
    a.errors[i]! += b.errors[j]!;
    const into = a.latency[i]!;
    b.latency[j]!.forEach((n, slot) => (into[slot] = (into[slot] ?? 0) + n));
  }
}

const copySeries = (s: TrafficSeries): TrafficSeries => ({ requests: [...s.requests], errors: [...s.errors], latency: s.latency.map((l) => [...l]) });

/**
 * One proxy's traffic from its workers' summaries (--workers N), on the newest worker's window.
 * Each worker lists its own busiest routes, so a route busy only across workers may be missing:
 * ask the workers for more routes than `top`.
 */
export function mergeTrafficSummaries(summaries: readonly TrafficSummary[], top: number): TrafficSummary {
  const newest = summaries.reduce((a, b) => (b.start > a.start ? b : a));
  const total = copySeries(newest.total);
  for (const s of summaries) if (s !== newest) addSeries(total, s.total, (s.start - newest.start) / newest.bucketMs);
  const routes = new Map<string, TrafficSeries>();
  for (const s of summaries) {
    for (const { route, ...series } of s.routes) {
      const into = routes.get(route) ?? { requests: total.requests.map(() => 0), errors: total.errors.map(() => 0), latency: total.latency.map(() => []) };
      addSeries(into, series, (s.start - newest.start) / newest.bucketMs);
      routes.set(route, into);
    }
  }
  const count = (s: TrafficSeries) => s.requests.reduce((a, b) => a + b, 0);
  const busy = [...routes].map(([route, series]) => ({ route, series, n: count(series) }));
  busy.sort((a, b) => b.n - a.n || (a.route < b.route ? -1 : 1));
  return {
    ...newest,
    total,
    routes: busy.slice(0, top).map(({ route, series }) => ({ route, ...series })),
    routesWithTraffic: Math.max(busy.length, ...summaries.map((s) => s.routesWithTraffic)),
  };
}
