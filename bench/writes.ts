// The write path, in one run: how long a per-object PUT takes on a large live config, and how long
// a whole-config PUT of 2,000 routes takes to be served by a proxy, beside Caddy's own hot reload
// (`POST /load` on its admin API) of the same 2,000 routes.
//   scripts/ensure-bench-peers.sh && npm run build && node dist/bench/writes.js
//       [--routes 2000,10000] [--puts 200] [--whole 2000] [--changes 20] [--compare DIR] [--only signalbox,caddy]
//   --compare  also run another build (its dist/src/cli/main.js under DIR) in the same run: "before"
//
// Per-object PUT: the live config has `--routes` routes; `--puts` PUT /routes/<id>, one after the
// other, each moving a different route to the other upstream (a new version each), timed from the
// request to its answer (at most 60 s of PUTs per size: the slow builds stop early, and say how
// many they made).
// Whole-config PUT, change → serving: a proxy serves `--whole` routes; `--changes` PUT /config of
// the whole document (after 3 not counted), each moving one route to the other upstream. Timed from the request to the
// proxy's swap (its /status appliedAt: all processes share this machine's clock), also split at
// the commit answer. Then Caddy 2 (Debian's package) with the same routes as `reverse_proxy`
// handlers to the same two upstreams: `--changes` POST /load of the whole config with the same
// change; /load answers once Caddy serves the new config, and a request through the moved route
// checks that it does. Every process is on 127.0.0.1 and shares this machine's cores.
import { execFile } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { benchArgs } from './args.js';
import { rssMb } from './cpu.js';
import { freePort } from '../src/util/ports.js';
import { CLI, waitFor } from '../test/helpers/launch.js';
import { findProgram } from './peers.js';
import { oneRouteChangeDoc, signalboxRoute } from './routes.js';
import { BenchStack, runBench, waitReady, waitVersion, type Children } from './stack.js';
import { quantile } from './stats.js';

const values = benchArgs({
  options: {
    routes: { type: 'string', default: '2000,10000' },
    puts: { type: 'string', default: '200' },
    whole: { type: 'string', default: '2000' },
    changes: { type: 'string', default: '20' },
    compare: { type: 'string' },
    only: { type: 'string', default: 'signalbox,caddy' },
  },
});
const SIZES = values.routes.split(',').map(Number);
const PUTS = Number(values.puts);
const WHOLE = Number(values.whole);
const CHANGES = Number(values.changes);
const ONLY = values.only.split(',');
const PUTS_FOR_MS = 60_000;
/** Changes made first and not counted, on either side: the first ones warm up code paths and caches. */
const WARMUP_CHANGES = 3;
const TOKEN = 'bench-token';
const run = promisify(execFile);

interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const summary = (xs: number[]): Summary => ({
  n: xs.length,
  p50: round(quantile(xs, 0.5)),
  p90: round(quantile(xs, 0.9)),
  p99: round(quantile(xs, 0.99)),
  max: round(Math.max(...xs)),
});
const round = (x: number) => Math.round(x * 10) / 10;
const show = (s: Summary) => `p50 ${s.p50} ms  p90 ${s.p90} ms  p99 ${s.p99} ms  max ${s.max} ms  (n=${s.n})`;
const now = () => performance.timeOrigin + performance.now();

/** Two upstreams answering which one they are, so a request tells which upstream a route went to. */
async function namedUpstreams(children: Children): Promise<[string, string]> {
  const urls: string[] = [];
  for (const name of ['u0', 'u1']) {
    const server: Server = createServer((_req, res) => res.end(name));
    const port = await freePort();
    await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
    children.add(() => new Promise((ok) => server.close(() => ok())));
    urls.push(`http://127.0.0.1:${port}`);
  }
  return urls as [string, string];
}

async function api(stack: BenchStack, method: string, path: string, body: unknown): Promise<{ version: number }> {
  const res = await fetch(`${stack.api}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (JSON.parse(text) as { version: { version: number } }).version;
}

/** PUT /routes/<id> on a live config of `routes` routes, one after the other. */
async function perObject(stack: BenchStack, routes: number, targets: [string, string]): Promise<Summary> {
  await api(stack, 'PUT', '/config', oneRouteChangeDoc(routes, 0, targets));
  const ms: number[] = [];
  const until = performance.now() + PUTS_FOR_MS;
  // Three PUTs first, not counted: the first ones after an import warm up the control plane.
  for (let i = -3; i < PUTS && performance.now() < until; i++) {
    const k = (i + 3) % routes;
    const t = performance.now();
    await api(stack, 'PUT', `/routes/r${k}`, signalboxRoute(k, 'u1'));
    if (i >= 0) ms.push(performance.now() - t);
  }
  return summary(ms);
}

interface WholeResult {
  /** Request → commit answer. */
  answer: Summary;
  /** Commit answer → the proxy swapped (its appliedAt; 0 when it swapped first). */
  applied: Summary;
  /** Request → the proxy swapped: change → serving. */
  serving: Summary;
}

/** PUT /config of the whole document, one route moved each time, until a proxy serves it. */
async function wholeConfig(stack: BenchStack, targets: [string, string]): Promise<WholeResult> {
  await api(stack, 'PUT', '/config', oneRouteChangeDoc(WHOLE, 0, targets));
  const proxy = await stack.startProxy('bench-writes');
  await waitReady(proxy);
  const answer: number[] = [];
  const applied: number[] = [];
  const serving: number[] = [];
  for (let c = 1 - WARMUP_CHANGES; c <= CHANGES; c++) {
    const sent = now();
    const { version } = await api(stack, 'PUT', '/config', oneRouteChangeDoc(WHOLE, c + WARMUP_CHANGES, targets));
    const answered = now();
    const at = await waitVersion(proxy, version);
    if (c < 1) continue;
    answer.push(answered - sent);
    applied.push(Math.max(0, at - answered));
    serving.push(Math.max(at, answered) - sent);
  }
  return { answer: summary(answer), applied: summary(applied), serving: summary(serving) };
}

/** Caddy's JSON config: the same routes as oneRouteChangeDoc(routes, c), as reverse_proxy handlers. */
function caddyConfig(routes: number, c: number, targets: [string, string], listen: number, admin: number) {
  const doc = oneRouteChangeDoc(routes, c, targets);
  const dial = new Map(doc.upstreams.map((u) => [u.id, new URL(u.targets[0]!.url).host]));
  return {
    admin: { listen: `127.0.0.1:${admin}` },
    logging: { logs: { default: { level: 'ERROR' } } },
    apps: {
      http: {
        servers: {
          bench: {
            listen: [`127.0.0.1:${listen}`],
            automatic_https: { disable: true },
            routes: doc.routes.map((r) => ({
              match: [{ path: r.match.paths.map((p) => p.replace(/:id$/, '*')), method: r.match.methods }],
              handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: dial.get(r.upstream) }] }],
              terminal: true,
            })),
          },
        },
      },
    },
  };
}

/** Which upstream route k goes to after change c of oneRouteChangeDoc. */
function movedRoute(c: number): { route: number; upstream: string } {
  return c % 2 === 1 ? { route: c % WHOLE, upstream: 'u1' } : { route: (c - 1) % WHOLE, upstream: 'u0' };
}

/**
 * One request on a connection of its own: Caddy restarts its admin server on /load and closes
 * idle keep-alive connections as it swaps, and a pooled connection closed under a request is a
 * client's failure, not Caddy's.
 */
function fresh(url: string, method = 'GET', body?: string): Promise<{ status: number; text: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { method, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** POST /load of the whole config, one route moved each time; a request checks each is served. */
async function caddy(children: Children, caddyBin: string, targets: [string, string]): Promise<{ load: Summary; seen: Summary; version: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-bench-caddy-'));
  children.add(() => rm(dir, { recursive: true, force: true }));
  const [listen, admin] = [await freePort(), await freePort()];
  const file = join(dir, 'caddy.json');
  await writeFile(file, JSON.stringify(caddyConfig(WHOLE, 0, targets, listen, admin)));
  // Its own config and data folders: /load autosaves the config there, as it would in production.
  const env = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') };
  const p = children.spawn(caddyBin, ['run', '--config', file], env);
  const base = `http://127.0.0.1:${listen}`;
  await waitFor(`caddy (${p.output()})`, async () => (await fresh(`${base}/svc1/items`)).status === 200);
  const version = (await run(caddyBin, ['version'])).stdout.trim().split(' ')[0] ?? '';
  const load: number[] = [];
  const seen: number[] = [];
  for (let c = 1 - WARMUP_CHANGES; c <= CHANGES; c++) {
    const change = c + WARMUP_CHANGES;
    const body = JSON.stringify(caddyConfig(WHOLE, change, targets, listen, admin));
    const t = performance.now();
    const res = await fresh(`http://127.0.0.1:${admin}/load`, 'POST', body);
    if (res.status !== 200) throw new Error(`caddy /load: ${res.status} ${res.text}`);
    const loaded = performance.now() - t;
    const { route, upstream } = movedRoute(change);
    const answer = (await fresh(`${base}/svc${route}/items`)).text;
    if (answer !== upstream) throw new Error(`caddy after /load ${change}: /svc${route}/items answered by ${answer}, not ${upstream}`);
    if (c < 1) continue;
    load.push(loaded);
    seen.push(performance.now() - t);
  }
  return { load: summary(load), seen: summary(seen), version };
}

interface BuildResult {
  build: string;
  perObject: Record<number, Summary>;
  /** The control plane's resident memory (MB) with each size live, after its PUTs. */
  controlPlaneRssMb: Record<number, number | null>;
  whole: WholeResult;
}

async function measureBuild(children: Children, name: string, cli: string, targets: [string, string]): Promise<BuildResult> {
  const stack = await BenchStack.start(children, cli);
  const perObjectResults: Record<number, Summary> = {};
  const rss: Record<number, number | null> = {};
  for (const routes of SIZES) {
    perObjectResults[routes] = await perObject(stack, routes, targets);
    rss[routes] = rssMb(stack.controlPlanePid);
    console.log(`${name}: PUT /routes/<id>, ${routes.toLocaleString('en-US')} routes live: ${show(perObjectResults[routes])}; control plane RSS ${rss[routes] ?? '-'} MB`);
  }
  const whole = await wholeConfig(stack, targets);
  console.log(`${name}: PUT /config of ${WHOLE.toLocaleString('en-US')} routes (one moved), ${CHANGES} times:`);
  console.log(`  request → answer:            ${show(whole.answer)}`);
  console.log(`  answer → proxy swapped:      ${show(whole.applied)}`);
  console.log(`  request → proxy swapped:     ${show(whole.serving)}   (change → serving)`);
  return { build: name, perObject: perObjectResults, controlPlaneRssMb: rss, whole };
}

async function main(children: Children) {
  const load = [loadavg()[0]!];
  console.log(`${availableParallelism()} cores shared by etcd, the control plane, the proxy, Caddy and this bench; load average at start ${load[0]!.toFixed(2)}`);
  const targets = await namedUpstreams(children);
  const builds: BuildResult[] = [];
  if (ONLY.includes('signalbox')) {
    const list: [string, string][] = [['this build', CLI]];
    if (values.compare) list.push([`compare (${values.compare})`, resolve(values.compare, 'dist/src/cli/main.js')]);
    for (const [name, cli] of list) {
      const mark = children.mark();
      builds.push(await measureBuild(children, name, cli, targets));
      await children.stopSince(mark);
    }
  }
  let peer: Awaited<ReturnType<typeof caddy>> | { skipped: string } = { skipped: 'not measured' };
  if (ONLY.includes('caddy')) {
    const bin = findProgram('caddy');
    peer = bin ? await caddy(children, bin, targets) : { skipped: 'caddy not installed (scripts/ensure-bench-peers.sh)' };
    if ('load' in peer) {
      console.log(`Caddy${peer.version ? ` ${peer.version}` : ''}: POST /load of the same ${WHOLE.toLocaleString('en-US')} routes (one moved), ${CHANGES} times:`);
      console.log(`  request → /load answered:    ${show(peer.load)}   (change → serving)`);
      console.log(`  request → change seen:       ${show(peer.seen)}   (a request through the moved route)`);
    } else {
      console.log(`Caddy: ${peer.skipped}`);
    }
  }
  const ours = builds[0];
  if (ours && 'load' in peer) {
    console.log(`change → serving, p50 / p90: Signalbox ${ours.whole.serving.p50} / ${ours.whole.serving.p90} ms, Caddy ${peer.load.p50} / ${peer.load.p90} ms`);
  }
  load.push(loadavg()[0]!);
  console.log(`load average at end ${load[1]!.toFixed(2)}`);
  console.log(JSON.stringify({ sizes: SIZES, puts: PUTS, whole: WHOLE, changes: CHANGES, loadavg: load, builds, caddy: peer }));
}

await runBench(main);
