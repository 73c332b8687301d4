// The control plane under one heavy caller: how long /healthz takes to answer while big documents
// are validated and written, and what the big documents weigh. Real etcd, a real control plane.
//   npm run build && node dist/bench/control-plane.js [--routes 50000]
//
// A prober asks /healthz every 10 ms, one request at a time, while each scenario's request is in
// flight; its slowest answer is how long the control plane's event loop was unavailable.
import { get } from 'node:http';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { configToYaml } from '../src/config/yaml.js';
import { BenchStack, runBench, type Children } from './stack.js';

const { values } = parseArgs({ options: { routes: { type: 'string', default: '50000' } } });
const ROUTES = Number(values.routes);
const TOKEN = 'bench-token';

/** Routes as a large installation writes them: hosts, three paths, methods, some header matches, a policy. */
export function bigConfig(routes: number, variant = 0) {
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
      // Each variant moves one route to another upstream: the usual day-to-day edit.
      upstream: `svc-${(i + (i === variant ? 1 : 0)) % upstreams}`,
      policies: ['rl-default'],
    })),
    policies: [{ id: 'rl-default', type: 'rate-limit', requestsPerSecond: 100, burst: 200 }],
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
      await healthz(api);
      samples.push(performance.now() - t);
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

async function main(children: Children) {
  const doc = bigConfig(ROUTES);
  const json = JSON.stringify(doc);
  const pretty = JSON.stringify(doc, null, 2);
  const yaml = configToYaml(doc as never);
  console.log(`${ROUTES} routes, ${doc.upstreams.length} upstreams: JSON ${MiB(Buffer.byteLength(json))}, JSON indented ${MiB(Buffer.byteLength(pretty))}, ` +
    `YAML ${MiB(Buffer.byteLength(yaml))}; its history entry (gzip) ${MiB(gzipSync(json).length)}`);

  const stack = await BenchStack.start(children);
  const results: Result[] = [];
  const run = async (...args: Parameters<typeof measure> extends [string, ...infer R] ? R : never) => results.push(await measure(stack.api, ...args));
  const empties = JSON.stringify({ routes: Array.from({ length: 100_000 }, () => ({})) });
  await run('POST /config/validate, 100k {} routes', 'POST', '/config/validate', empties, 'application/json');
  await run(`POST /config/validate, YAML, empty live`, 'POST', '/config/validate', yaml, 'application/yaml');
  await run(`PUT /config, JSON, first import`, 'PUT', '/config', json, 'application/json');
  await run(`POST /config/validate, JSON, against live`, 'POST', '/config/validate', JSON.stringify(bigConfig(ROUTES, 1)), 'application/json');
  await run(`PUT /config, JSON, one route changed`, 'PUT', '/config', JSON.stringify(bigConfig(ROUTES, 2)), 'application/json');
  await run(`GET /config`, 'GET', '/config', undefined, 'application/json');
  await run(`PUT /config, JSON indented, 3 routes changed`, 'PUT', '/config', JSON.stringify(bigConfig(ROUTES, 3), null, 2), 'application/json');
  const over = `{"routes":[${Array.from({ length: 2_000_000 }, (_, i) => `{"id":"r${i}"}`).join(',')}]}`;
  await run('POST /config/validate, over the limit', 'POST', '/config/validate', over, 'application/json');
  console.log(JSON.stringify({ routes: ROUTES, sizes: { json: Buffer.byteLength(json), jsonIndented: Buffer.byteLength(pretty), yaml: Buffer.byteLength(yaml) }, results }));
}

await runBench(main);
