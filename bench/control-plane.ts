// The control plane under one heavy caller: how long /healthz takes to answer while big documents
// are validated and written and a big live config is read, and what the big documents weigh.
// Real etcd, a real control plane process.
//   npm run build && node dist/bench/control-plane.js [--routes 50000]
//
// A prober asks /healthz every 10 ms, one request at a time, while each scenario's request is in
// flight; its slowest answer is how long the control plane's event loop was unavailable. The last
// line is the whole result as JSON.
import { get } from 'node:http';
import { gzipSync } from 'node:zlib';
import { benchArgs } from './args.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { configToYaml } from '../src/config/yaml.js';
import { BenchStack, runBench, type Children } from './stack.js';

const values = benchArgs({ options: { routes: { type: 'string', default: '50000' } } });
const ROUTES = Number(values.routes);
/** BenchStack's control plane token. */
const TOKEN = 'bench-token';

/**
 * Routes as a large installation writes them: hosts, three paths, methods, some header matches, a
 * policy. At 50,000 of them the config is too large for etcd to record (its history entry must
 * fit one 1 MiB transaction after gzip): it sizes the body limit, and is only validated here.
 */
export function richConfig(routes: number) {
  const upstreams = Math.ceil(routes / 10);
  return {
    upstreams: Array.from({ length: upstreams }, (_, i) => ({
      id: `svc-${i}`,
      targets: [{ url: `http://10.0.${(i >> 8) & 255}.${i & 255}:8080`, weight: 2 }, { url: `http://10.1.${(i >> 8) & 255}.${i & 255}:8080` }],
      connectTimeoutMs: 2000,
    })),
    routes: Array.from({ length: routes }, (_, i) => ({
      id: `route-${i}`,
      match: {
        hosts: [`team-${i % 200}.example.com`],
        paths: [`/api/v1/svc-${i}`, `/api/v1/svc-${i}/:id`, `/api/v1/svc-${i}/:id/*`],
        methods: ['GET', 'POST', 'PUT'],
        ...(i % 10 === 0 ? { headers: { 'x-canary': '1' } } : {}),
      },
      upstream: `svc-${i % upstreams}`,
      policies: ['rl-default'],
    })),
    policies: [{ id: 'rl-default', type: 'rate-limit', requestsPerSecond: 100, burst: 200 }],
  };
}

/** Two paths a route and nothing else: 50,000 of them are a config etcd can record. `variant` moves one route. */
export function leanConfig(routes: number, variant = 0) {
  const upstreams = Math.ceil(routes / 10);
  return {
    upstreams: Array.from({ length: upstreams }, (_, i) => ({ id: `svc-${i}`, targets: [{ url: `http://10.0.${(i >> 8) & 255}.${i & 255}:8080` }] })),
    routes: Array.from({ length: routes }, (_, i) => ({ id: `r${i}`, match: { paths: [`/svc${i}`, `/svc${i}/*`] }, upstream: `svc-${(i + (i === variant ? 1 : 0)) % upstreams}` })),
  };
}

const MiB = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;

interface Probe {
  samples: number[];
  stop(): Promise<void>;
}

/** One GET /healthz on a connection of its own (an idle keep-alive one may be closed under it). */
function healthz(api: string): Promise<void> {
  return new Promise((resolve, reject) => {
    get(`${api}/healthz`, { agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
}

function probe(api: string): Probe {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      // A control plane that stopped answering is a result too, not a reason to leave its processes behind.
      const ok = await healthz(api).then(() => true, () => false);
      samples.push(ok ? performance.now() - t : Infinity);
      await sleep(10);
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await loop;
    },
  };
}

interface Result {
  scenario: string;
  bodyBytes: number;
  status: number;
  ms: number;
  healthz: { count: number; p50: number; max: number };
}

async function measure(api: string, scenario: string, method: string, path: string, body: string | undefined, contentType: string): Promise<Result> {
  const p = probe(api);
  await sleep(50);
  const t = performance.now();
  const res = await fetch(`${api}/api/v1${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': contentType }, body });
  const text = await res.text();
  const ms = performance.now() - t;
  await p.stop();
  const sorted = [...p.samples].sort((a, b) => a - b);
  const r: Result = {
    scenario,
    bodyBytes: body === undefined ? 0 : Buffer.byteLength(body),
    status: res.status,
    ms: Math.round(ms),
    healthz: { count: sorted.length, p50: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0), max: Math.round(sorted[sorted.length - 1] ?? 0) },
  };
  const said = res.ok ? '' : ` ${text.slice(0, 120).replace(/\s+/g, ' ')}`;
  console.log(`${scenario.padEnd(44)} ${MiB(r.bodyBytes).padStart(10)}  ${r.status}${said}  in ${r.ms} ms; /healthz: ${r.healthz.count} answers, p50 ${r.healthz.p50} ms, max ${r.healthz.max} ms`);
  return r;
}

function sizes(name: string, doc: object) {
  const json = JSON.stringify(doc);
  const bytes = { json: Buffer.byteLength(json), jsonIndented: Buffer.byteLength(JSON.stringify(doc, null, 2)), yaml: Buffer.byteLength(configToYaml(doc as never)) };
  // What the writer records as the version's history entry: gzip, then base64.
  const history = gzipSync(json).toString('base64').length;
  console.log(`${name}: JSON ${MiB(bytes.json)}, JSON indented ${MiB(bytes.jsonIndented)}, YAML ${MiB(bytes.yaml)}; history entry ${MiB(history)} (etcd takes 1 MiB)`);
  return { ...bytes, history };
}

/**
 * What a small document costs: 200 validations of a one-route config, one after the other, against
 * a small live config (the price of checking it away from the event loop, if any).
 */
async function smallDocuments(api: string) {
  const doc = JSON.stringify({ upstreams: [{ id: 'u', targets: [{ url: 'http://127.0.0.1:9' }] }], routes: [{ id: 'r', match: { paths: ['/r'] }, upstream: 'u' }] });
  await fetch(`${api}/api/v1/config`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: doc });
  const samples: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    const res = await fetch(`${api}/api/v1/config/validate`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: doc });
    await res.arrayBuffer();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const result = { p50: Number(samples[100]!.toFixed(2)), p90: Number(samples[180]!.toFixed(2)) };
  console.log(`POST /config/validate of a one-route document, 200 times: p50 ${result.p50} ms, p90 ${result.p90} ms`);
  return result;
}

async function main(children: Children) {
  const rich = richConfig(ROUTES);
  const lean = leanConfig(ROUTES);
  const sized = { rich: sizes(`${ROUTES} routes with hosts, 3 paths, methods, a policy`, rich), lean: sizes(`${ROUTES} routes with 2 paths`, lean) };

  const stack = await BenchStack.start(children);
  const results: Result[] = [];
  const run = async (...args: Parameters<typeof measure> extends [string, ...infer R] ? R : never) => results.push(await measure(stack.api, ...args));
  const json = 'application/json';
  const small = await smallDocuments(stack.api);
  await run('POST /config/validate, 100k {} routes', 'POST', '/config/validate', JSON.stringify({ routes: Array.from({ length: 100_000 }, () => ({})) }), json);
  await run('POST /config/validate, rich, YAML', 'POST', '/config/validate', configToYaml(rich as never), 'application/yaml');
  await run('POST /config/validate, rich, JSON', 'POST', '/config/validate', JSON.stringify(rich), json);
  await run('PUT /config, lean, JSON, first import', 'PUT', '/config', JSON.stringify(lean), json);
  await run('POST /config/validate, lean, JSON, 1 change', 'POST', '/config/validate', JSON.stringify(leanConfig(ROUTES, 1)), json);
  await run('PUT /config, lean, JSON, 1 change', 'PUT', '/config', JSON.stringify(leanConfig(ROUTES, 2)), json);
  await run('PUT /config, lean, YAML, 1 change', 'PUT', '/config', configToYaml(leanConfig(ROUTES, 3) as never), 'application/yaml');
  await run('PUT /routes/r1 (live: the lean config)', 'PUT', '/routes/r1', JSON.stringify({ id: 'r1', match: { paths: ['/one'] }, upstream: 'svc-0' }), json);
  await run('GET /config (live: the lean config)', 'GET', '/config', undefined, json);
  await run('GET /proxies (live: the lean config)', 'GET', '/proxies', undefined, json);
  await run('PUT /config, rich, JSON indented', 'PUT', '/config', JSON.stringify(rich, null, 2), json);
  const over = `{"routes":[${Array.from({ length: 2_000_000 }, (_, i) => `{"id":"r${i}"}`).join(',')}]}`;
  await run('POST /config/validate, 33 MiB', 'POST', '/config/validate', over, json);
  console.log(JSON.stringify({ routes: ROUTES, sizes: sized, results, small }));
}

await runBench(main);
