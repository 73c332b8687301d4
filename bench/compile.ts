// Cost of compiling a config into a runtime, and of matching against it.
//   npm run bench:compile
// For 2,000 and 10,000 routes (varied hosts, paths, methods, headers): validation time, one
// compileRuntime from scratch and one against the previous runtime (median of RUNS), and
// router match() throughput over a mix of hits and misses.
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Config } from '../src/config/schema.js';
import { validateDocument } from '../src/config/validate.js';
import { compileRuntime, type Runtime } from '../src/proxy/runtime.js';

const RUNS = 7;
const MATCH_MS = 1000;

interface Sample {
  host: string;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

function buildDoc(routeCount: number) {
  const upstreamCount = Math.max(1, Math.floor(routeCount / 10));
  const upstreams = Array.from({ length: upstreamCount }, (_, i) => ({
    id: `up-${i}`,
    targets: [{ url: `http://10.0.${i % 250}.${1 + (i % 200)}:8080`, weight: 2 }, { url: `http://10.1.${i % 250}.${1 + (i % 200)}:8080` }],
  }));
  const policies = Array.from({ length: 10 }, (_, i) => ({ id: `rl-${i}`, type: 'rate-limit' as const, requestsPerSecond: 100 + i }));
  const routes = [];
  const samples: Sample[] = [];
  for (let i = 0; i < routeCount; i++) {
    const svc = `svc${i}`;
    const kind = i % 10;
    const match: Record<string, unknown> = {};
    let host = 'anything.test';
    if (kind < 3) {
      host = `${svc}.example.com`;
      match.hosts = [host];
    } else if (kind === 3) {
      match.hosts = [`*.tenant${i % 50}.example.net`];
      host = `t${i}.tenant${i % 50}.example.net`;
    }
    const headers: IncomingHttpHeaders = {};
    switch (i % 4) {
      case 0:
        match.paths = [`/api/v${i % 3}/${svc}/items`, `/api/v${i % 3}/${svc}/items/:id`];
        samples.push({ host, method: 'GET', path: `/api/v${i % 3}/${svc}/items/42?x=1`, headers });
        break;
      case 1:
        match.paths = [`/static/${svc}/*`];
        samples.push({ host, method: 'GET', path: `/static/${svc}/css/site.css`, headers });
        break;
      case 2:
        match.paths = [`/users/:id/${svc}`];
        match.methods = ['GET', 'POST'];
        samples.push({ host, method: 'POST', path: `/users/7/${svc}`, headers });
        break;
      default:
        match.paths = [`/api/v1/${svc}`];
        match.headers = { 'x-canary': String(i % 2) };
        headers['x-canary'] = String(i % 2);
        samples.push({ host, method: 'GET', path: `/api/v1/${svc}`, headers });
    }
    routes.push({
      id: `route-${String(i).padStart(6, '0')}`,
      match,
      upstream: `up-${i % upstreamCount}`,
      ...(i % 5 === 0 ? { policies: [`rl-${i % 10}`] } : {}),
    });
  }
  // Misses: one per ten hits, unknown path on a known host and on an unknown one.
  const misses = Math.floor(samples.length / 10);
  for (let i = 0; i < misses; i++) {
    samples.push({ host: i % 2 ? `svc${i}.example.com` : 'nowhere.test', method: 'GET', path: `/nope/${i}/x`, headers: {} });
  }
  return { doc: { upstreams, routes, policies }, samples };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function bench(routeCount: number): void {
  const { doc, samples } = buildDoc(routeCount);
  let config!: Config;
  const validateMs = time(() => {
    const r = validateDocument(doc);
    if (!r.ok) throw new Error(JSON.stringify(r.issues.slice(0, 3)));
    config = r.config;
  });

  const meta = { version: 1, hash: 'bench', revision: 1 };
  let rt!: Runtime;
  compileRuntime(config, meta); // warm-up
  const fresh: number[] = [];
  for (let i = 0; i < RUNS; i++) fresh.push(time(() => (rt = compileRuntime(config, meta))));
  const incremental: number[] = [];
  for (let i = 0; i < RUNS; i++) incremental.push(time(() => compileRuntime(config, meta, rt)));

  let hits = 0;
  for (const s of samples) if (rt.match(s.host, s.method, s.path, s.headers) !== null) hits++;
  const expectedHits = routeCount;
  if (hits !== expectedHits) throw new Error(`expected ${expectedHits} hits, got ${hits}`);

  let n = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < MATCH_MS) {
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      rt.match(s.host, s.method, s.path, s.headers);
    }
    n += samples.length;
    elapsed = performance.now() - t0;
  }
  const perSec = n / (elapsed / 1000);

  console.log(
    [
      `routes ${String(routeCount).padStart(6)}`,
      `validate ${validateMs.toFixed(1).padStart(7)} ms`,
      `compile ${median(fresh).toFixed(1).padStart(6)} ms`,
      `compile-reuse ${median(incremental).toFixed(1).padStart(6)} ms`,
      `match ${(perSec / 1e6).toFixed(2)} M/s (${samples.length} samples, ${Math.round((hits / samples.length) * 100)}% hits)`,
    ].join('  '),
  );
}

console.log(`node ${process.version}, median of ${RUNS} compiles, match loop ${MATCH_MS} ms`);
for (const n of [2_000, 10_000]) bench(n);
