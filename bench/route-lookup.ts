// Route lookup cost as the number of routes grows: lookups per second and ns per lookup at 10,
// 1,000 and 10,000 routes, for a mix a gateway sees.
//   npm run bench:routes [-- --ms 1000 --runs 5 --sizes 10,1000,10000]
//
// The mix (per route, by its index): static paths, ":param" paths, "*" prefixes; a third bound to
// exact hosts and a tenth to wildcard hosts; methods on some; one in ten with a header or query
// condition; one in a hundred (at least one) matched by pathRegex, and a few with a priority.
// Requests: one that hits each route (with a query string on some), plus one miss for every ten
// hits. Every hit is checked to land on its route before anything is timed. Reported: the median
// of `runs` timed loops of `ms` each over all requests; the same for the first ten requests only
// ("hot": the same work per lookup, but in cache, which separates the cost of the lookup from
// the cost of touching more memory as the table grows); and how many regexes a lookup ran on
// average (the router tries a regex only under its literal start, so this stays at the share of
// requests meant for a regex route, whatever the number of routes).
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { benchArgs } from './args.js';
import { validateDocument } from '../src/config/validate.js';
import { compileRuntime, type Runtime } from '../src/proxy/runtime.js';
import { LinearRegex } from '../src/util/linear-regex.js';

const values = benchArgs({
  options: {
    ms: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '5' },
    sizes: { type: 'string', default: '10,1000,10000' },
  },
});
const LOOP_MS = Number(values.ms);
const RUNS = Number(values.runs);
const SIZES = values.sizes.split(',').map(Number);

interface Request {
  host: string;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The route it must land on; null for a miss. */
  expect: string | null;
}

function buildDoc(routeCount: number) {
  const routes: Record<string, unknown>[] = [];
  const requests: Request[] = [];
  for (let i = 0; i < routeCount; i++) {
    const id = `route-${String(i).padStart(6, '0')}`;
    const svc = `svc${i}`;
    const match: Record<string, unknown> = {};
    const route: Record<string, unknown> = { id, match, upstream: 'up' };
    let host = 'gateway.example.org';
    if (i % 3 === 0) {
      host = `${svc}.example.com`;
      match.hosts = [host];
    } else if (i % 10 === 1) {
      match.hosts = [`*.tenant${i % 50}.example.net`];
      host = `t${i}.tenant${i % 50}.example.net`;
    }
    const headers: IncomingHttpHeaders = { 'user-agent': 'bench', accept: '*/*' };
    let method = 'GET';
    let path: string;
    if (i % 100 === 99 || (routeCount < 100 && i === routeCount - 1)) {
      match.pathRegex = `^/${svc}/v[0-9]+/items/[0-9]+$`;
      path = `/${svc}/v2/items/42`;
    } else {
      switch (i % 4) {
        case 0:
          match.paths = [`/api/v${i % 3}/${svc}/items`, `/api/v${i % 3}/${svc}/items/:id`];
          path = `/api/v${i % 3}/${svc}/items/42?fields=name`;
          break;
        case 1:
          match.paths = [`/static/${svc}/*`];
          path = `/static/${svc}/css/site.css`;
          break;
        case 2:
          match.paths = [`/users/:id/${svc}`, `/orgs/:org/${svc}/:id`];
          match.methods = ['GET', 'POST'];
          method = 'POST';
          path = `/orgs/acme/${svc}/7`;
          break;
        default:
          match.paths = [`/api/v1/${svc}`];
          path = `/api/v1/${svc}?page=2`;
      }
      if (i % 10 === 5) {
        match.headers = { 'x-canary': '1' };
        headers['x-canary'] = '1';
      } else if (i % 10 === 7) {
        match.query = { v: '2' };
        path += path.includes('?') ? '&v=2' : '?v=2';
      }
    }
    if (i % 250 === 0) route.priority = 1;
    routes.push(route);
    requests.push({ host, method, path, headers, expect: id });
  }
  const misses = Math.max(1, Math.floor(routeCount / 10));
  for (let i = 0; i < misses; i++) {
    requests.push({ host: i % 2 ? `svc${i}.example.com` : 'nowhere.test', method: 'GET', path: `/nope/${i}/x`, headers: {}, expect: null });
  }
  return { doc: { upstreams: [{ id: 'up', targets: [{ url: 'http://127.0.0.1:9' }] }], routes }, requests };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timedLoop(rt: Runtime, requests: Request[]): number {
  let n = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < LOOP_MS) {
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      rt.match(r.host, r.method, r.path, r.headers);
    }
    n += requests.length;
    elapsed = performance.now() - t0;
  }
  return n / (elapsed / 1000);
}

/** Regexes run per lookup, averaged over one pass of the requests. */
function regexRunsPerLookup(rt: Runtime, requests: Request[]): number {
  const original = LinearRegex.prototype.test;
  let runs = 0;
  LinearRegex.prototype.test = function (this: LinearRegex, ...args: Parameters<LinearRegex['test']>) {
    runs++;
    return original.apply(this, args);
  };
  try {
    for (const r of requests) rt.match(r.host, r.method, r.path, r.headers);
  } finally {
    LinearRegex.prototype.test = original;
  }
  return runs / requests.length;
}

interface Row {
  routes: number;
  regexRoutes: number;
  requests: number;
  lookupsPerSec: number;
  nsPerLookup: number;
  hotNsPerLookup: number;
  regexRunsPerLookup: number;
}

function medianRate(rt: Runtime, requests: Request[]): number {
  timedLoop(rt, requests); // warm-up
  const rates: number[] = [];
  for (let i = 0; i < RUNS; i++) rates.push(timedLoop(rt, requests));
  return median(rates);
}

function bench(routeCount: number): Row {
  const { doc, requests } = buildDoc(routeCount);
  const v = validateDocument(doc);
  if (!v.ok) throw new Error(JSON.stringify(v.issues.slice(0, 3)));
  const rt = compileRuntime(v.config, { version: 1, hash: 'bench', revision: 1 });
  for (const r of requests) {
    const got = rt.match(r.host, r.method, r.path, r.headers)?.id ?? null;
    if (got !== r.expect) throw new Error(`${r.method} ${r.host}${r.path}: expected ${r.expect}, got ${got}`);
  }
  const perSec = medianRate(rt, requests);
  const hot = medianRate(rt, requests.slice(0, 10));
  return {
    routes: routeCount,
    regexRoutes: doc.routes.filter((r) => (r.match as { pathRegex?: string }).pathRegex !== undefined).length,
    requests: requests.length,
    lookupsPerSec: Math.round(perSec),
    nsPerLookup: Math.round(1e9 / perSec),
    hotNsPerLookup: Math.round(1e9 / hot),
    regexRunsPerLookup: Number(regexRunsPerLookup(rt, requests).toFixed(4)),
  };
}

console.log(`node ${process.version}; median of ${RUNS} loops of ${LOOP_MS} ms over all requests`);
console.log('routes   regex routes   requests   lookups/s      ns/lookup   hot ns/lookup   regexes run per lookup');
const rows: Row[] = [];
for (const n of SIZES) {
  const row = bench(n);
  rows.push(row);
  console.log(
    [
      String(row.routes).padStart(6),
      String(row.regexRoutes).padStart(14),
      String(row.requests).padStart(10),
      row.lookupsPerSec.toLocaleString('en-US').padStart(11),
      String(row.nsPerLookup).padStart(14),
      String(row.hotNsPerLookup).padStart(15),
      String(row.regexRunsPerLookup).padStart(24),
    ].join(' '),
  );
}
console.log(JSON.stringify({ bench: 'route-lookup', node: process.version, loopMs: LOOP_MS, runs: RUNS, rows }));
