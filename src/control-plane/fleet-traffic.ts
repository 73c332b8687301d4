// Live traffic of the fleet (GET /traffic): asked from every registered proxy's admin port when
// someone looks, never written to etcd. Each proxy keeps the last minutes in wall-clock buckets
// (src/proxy/traffic.ts); here the same bucket of every proxy is added up: requests/s exactly,
// error rates from the summed counts, p99 from the summed latency histograms (exact to the bounds
// of /metrics). A route counts on a proxy only where it is among that proxy's busiest `top`.
//
// A proxy that does not answer in time, answers something else or is too large is listed with
// the reason and left out; one answer per proxy at most every CACHE_MS per control plane, however
// many dashboards poll.
import type { Traffic, TrafficSummary } from '../api/schemas.js';
import { trafficSummarySchema } from '../api/schemas.js';
import { errorMessage } from '../util/errors.js';

const TIMEOUT_MS = 1_500;
/** A summary of 200 routes is ~130 KB. */
const MAX_BYTES = 1024 * 1024;
const CACHE_MS = 2_000;

export interface Reachable {
  id: string;
  /** The proxy's admin URL, as it registered it (`listen.admin`). */
  admin: string | undefined;
}

type Fetched = { id: string; summary: TrafficSummary } | { id: string; error: string };

/** Sums of one series over the fleet's buckets. */
class Sums {
  readonly rps: number[];
  readonly requests: number[];
  readonly errors: number[];
  readonly latency: number[][];
  proxies = 0;

  constructor(n: number) {
    this.rps = new Array<number>(n).fill(0);
    this.requests = new Array<number>(n).fill(0);
    this.errors = new Array<number>(n).fill(0);
    this.latency = Array.from({ length: n }, () => []);
  }

  add(i: number, requests: number, errors: number, latency: readonly number[], seconds: number): void {
    this.rps[i]! += requests / seconds;
    this.requests[i]! += requests;
    this.errors[i]! += errors;
    const sum = this.latency[i]!;
    for (let s = 0; s < latency.length; s++) sum[s] = (sum[s] ?? 0) + latency[s]!;
  }

  rates(boundsMs: readonly number[]): Traffic['fleet'] {
    const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    return {
      requestsPerSecond: this.rps.map((r) => Math.round(r * 100) / 100),
      errorRate: this.requests.map((n, i) => (n === 0 ? null : Math.round((this.errors[i]! / n) * 1e4) / 1e4)),
      p99Ms: this.latency.map((counts) => quantileMs(counts, boundsMs, 0.99)),
      requests: total(this.requests),
      errors: total(this.errors),
    };
  }
}

/**
 * The q-quantile of a histogram (counts per slot; the slot after the last bound is above it),
 * interpolated linearly within its slot as Prometheus' histogram_quantile does; what is above
 * every bound reads as the last bound. Null without requests.
 */
export function quantileMs(counts: readonly number[], boundsMs: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c > 0 && seen + c >= rank) {
      if (i >= boundsMs.length) break;
      const lo = i === 0 ? 0 : boundsMs[i - 1]!;
      return Math.round((lo + ((boundsMs[i]! - lo) * (rank - seen)) / c) * 100) / 100;
    }
    seen += c;
  }
  return boundsMs[boundsMs.length - 1]!;
}

/**
 * Add up the proxies' summaries by wall-clock bucket: the fleet's window ends with the newest
 * bucket any proxy reported (a proxy whose clock is behind lands its buckets that much earlier).
 * The newest bucket of each proxy is partial: its rate is over the time it has run.
 */
export function mergeTraffic(fetched: readonly Fetched[], top: number, nowMs: number): Traffic {
  const ok = fetched.filter((f): f is Extract<Fetched, { summary: unknown }> => 'summary' in f);
  const first = ok[0]?.summary;
  const shape = (s: TrafficSummary) => `${s.bucketMs}/${s.total.requests.length}/${s.latencyBoundsMs.join(',')}`;
  const mismatch = (s: TrafficSummary) => first !== undefined && shape(s) !== shape(first);
  const usable = ok.filter((f) => !mismatch(f.summary));
  const bucketMs = first?.bucketMs ?? 10_000;
  const n = first?.total.requests.length ?? 0;
  const boundsMs = first?.latencyBoundsMs ?? [];
  const start = usable.length ? Math.max(...usable.map((f) => f.summary.start)) : nowMs;

  const fleet = new Sums(n);
  const routes = new Map<string, Sums>();
  const proxies = new Map<string, Traffic['proxies'][number]>();
  for (const { id, summary: s } of usable) {
    const offset = Math.round((start - s.start) / bucketMs);
    const lastStart = s.start + (n - 1) * bucketMs;
    const seconds = (j: number) => (j < n - 1 ? bucketMs / 1000 : Math.min(Math.max((s.now - lastStart) / 1000, 1), bucketMs / 1000));
    const own = new Sums(n);
    const addSeries = (to: Sums, series: TrafficSummary['total']) => {
      for (let j = offset; j < n; j++) to.add(j - offset, series.requests[j] ?? 0, series.errors[j] ?? 0, series.latency[j] ?? [], seconds(j));
    };
    addSeries(own, s.total);
    addSeries(fleet, s.total);
    for (const r of s.routes) {
      let sums = routes.get(r.route);
      if (sums === undefined) {
        sums = new Sums(n);
        routes.set(r.route, sums);
      }
      sums.proxies++;
      addSeries(sums, r);
    }
    proxies.set(id, { id, ...own.rates(boundsMs) });
  }
  for (const f of fetched) {
    if ('error' in f) proxies.set(f.id, { id: f.id, error: f.error });
    else if (mismatch(f.summary)) proxies.set(f.id, { id: f.id, error: `its buckets (${shape(f.summary)}) differ from the other proxies' (${shape(first!)}): a different Signalbox version` });
  }
  const busiest = [...routes].map(([route, sums]) => ({ route, proxies: sums.proxies, ...sums.rates(boundsMs) }));
  busiest.sort((a, b) => b.requests - a.requests || (a.route < b.route ? -1 : 1));
  return {
    bucketMs,
    start,
    now: usable.length ? Math.max(...usable.map((f) => f.summary.now)) : nowMs,
    fleet: fleet.rates(boundsMs),
    proxies: fetched.map((f) => proxies.get(f.id)!),
    routes: busiest.slice(0, top),
  };
}

/** One proxy's summary, or why there is none. */
async function fetchSummary({ id, admin }: Reachable, top: number): Promise<Fetched> {
  let url: URL;
  try {
    url = new URL(`/traffic?top=${top}`, admin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    return { id, error: `no admin URL to ask (registered ${JSON.stringify(admin ?? null)})` };
  }
  // Asking 0.0.0.0 would reach whatever listens on this host, maybe another proxy.
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') {
    return { id, error: `its admin port listens on every interface (${url.host}), which does not say where to reach it: give --admin-listen the address the control plane can reach` };
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
    if (!res.ok) {
      await res.body?.cancel();
      return { id, error: `its admin port answered ${res.status} to GET /traffic${res.status === 404 ? ' (a Signalbox version without it)' : ''}` };
    }
    let body: unknown;
    try {
      body = JSON.parse(await boundedText(res, MAX_BYTES));
    } catch (err) {
      if (err instanceof SyntaxError) return { id, error: 'its admin port answered GET /traffic with something that is not JSON' };
      throw err;
    }
    const parsed = trafficSummarySchema.safeParse(body);
    return parsed.success ? { id, summary: parsed.data } : { id, error: 'its admin port answered GET /traffic with something that is not a traffic summary' };
  } catch (err) {
    const e = err as Error;
    if (e.name === 'TimeoutError') return { id, error: `no answer from ${url.origin} within ${TIMEOUT_MS} ms` };
    return { id, error: `asking ${url.origin} failed: ${errorMessage((e as Error & { cause?: Error }).cause ?? e)}` };
  }
}

async function boundedText(res: Response, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new Error(`its answer is over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Every proxy's summary, asked at once, added up. */
export async function askFleet(proxies: readonly Reachable[], top: number): Promise<Traffic> {
  const fetched = await Promise.all(proxies.map((p) => fetchSummary(p, top)));
  return mergeTraffic(fetched, top, Date.now());
}

/** Asks the proxies at most once per CACHE_MS per `top`; callers meanwhile share the answer. */
export class FleetTraffic {
  private readonly cache = new Map<number, { at: number; answer: Promise<Traffic> }>();

  constructor(private readonly proxies: () => Promise<Reachable[]>) {}

  get(top: number): Promise<Traffic> {
    const now = Date.now();
    for (const [key, { at }] of this.cache) if (now - at >= CACHE_MS) this.cache.delete(key);
    const cached = this.cache.get(top);
    if (cached) return cached.answer;
    const entry = { at: now, answer: this.ask(top) };
    this.cache.set(top, entry);
    // A failure is not kept: the next caller asks again.
    entry.answer.catch(() => {
      if (this.cache.get(top) === entry) this.cache.delete(top);
    });
    return entry.answer;
  }

  private async ask(top: number): Promise<Traffic> {
    return askFleet(await this.proxies(), top);
  }
}
