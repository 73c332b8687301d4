// Forwarding: requests/s and latency through a Signalbox proxy next to peers measured in the same
// run under the same load, then the product's claim: config changes applied under that load drop
// nothing.
//   npm run bench:forwarding -- [--duration 10] [--warmup 2] [--connections 50] [--routes 2000]
//                               [--changes 20] [--interval 250] [--loadgen wrk|undici]
//                               [--only signalbox,direct,traffic,policies,logged,nginx,node+undici,floor]
//                               [--profile DIR] [--workers N] [--rounds 1]
//   --only      measure these targets alone (Signalbox always); quicker while working on the proxy
//   traffic     the same Signalbox proxy through a route with a rewrite, retries and timeoutMs
//               (trafficRoute in routes.ts) against the bare route, measured bare, traffic, then
//               (after the peers) traffic, bare again, each row the mean of its two: what those
//               features cost, with drift over the run cancelled out
//   policies    the same, through a route with a policy chain (policyChainRoute in routes.ts:
//               key-auth + rate-limit per consumer refusing nothing + headers both ways)
//               against the bare route
//   logged      a second Signalbox proxy with `--access-log all` to a file, paired with the bare
//               proxy the same way: what writing every request costs
//   --rounds N  measures each of traffic, policies and logged against the bare route N times
//               (the first among the peers, the others alone, each as above), and the changes
//               scenario N times, and reports the median of the N ratios with the N beside it:
//               one 10 s window that the machine disturbs moves a single ratio by up to ±10 % here
//   --changes 0 skips the config-change scenario
//   --workers   Signalbox as `proxy --workers N`, nginx as a master with `worker_processes N`
//               and the floor as N node:cluster workers, the most any Node proxy gets from N
//               processes here (default 1: each one process); each proxy's CPU is its
//               processes' together. The load generator and the upstream share the same cores
//               with the N workers, so on 2 cores 2 workers cannot have a core each: compare
//               the ratio, not the req/s
//   --profile   run the Signalbox proxy under `node --cpu-prof`; its profile lands in DIR when
//               the bench ends (open it in Chrome DevTools or read it with a script); the
//               logged proxy's lands in DIR/logged
//
// Targets, one after the other: the upstream directly (the ceiling), a Signalbox proxy (real
// etcd and control plane, `--routes` routes with the measured one among them), nginx as a reverse
// proxy with the same routes and keep-alive upstreams, a hand-written node:http + undici proxy,
// and the floor: node:http + undici's dispatch API doing nothing but pass requests on, the least
// any Node proxy on these two spends, so what Signalbox spends above it is its own.
// Everything runs on 127.0.0.1 and shares this machine's cores: the load generator, the proxy
// under test and the upstream compete for them, so the ratios say more than the absolute numbers,
// and each proxy's own CPU time is reported beside its throughput.
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { join, resolve } from 'node:path';
import { benchArgs } from './args.js';
import { cpuMeter, groupCpuMeter } from './cpu.js';
import { childPids } from '../test/helpers/launch.js';
import { undiciLoop, wrk, type LoadGenerator, type LoadResult } from './load.js';
import { findProgram, startNginxProxy, startNodeProxy, startUpstream, type Upstream } from './peers.js';
import { POLICY_CHAIN_HEADERS, benchUpstream, measuredPath, nginxRoutes, policyChainPath, signalboxFeatureDoc, signalboxRoute, trafficPath, type RouteTable } from './routes.js';
import { median } from './stats.js';
import { BenchStack, runBench, waitReady, waitVersion, type BenchProxy, type Children } from './stack.js';
import { cores, int, ms, perCore, printTargets, ratio } from './table.js';

const values = benchArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    routes: { type: 'string', default: '2000' },
    changes: { type: 'string', default: '20' },
    interval: { type: 'string', default: '250' },
    loadgen: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'string' },
    workers: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '1' },
  },
});
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const CONNECTIONS = Number(values.connections);
const ROUTES = Number(values.routes);
const CHANGES = Number(values.changes);
const INTERVAL_MS = Number(values.interval);
const TARGETS = ['direct', 'signalbox', 'traffic', 'policies', 'logged', 'nginx', 'node+undici', 'floor'];
const ONLY = values.only === undefined ? TARGETS : ['signalbox', ...values.only.split(',')];
for (const name of ONLY) if (!TARGETS.includes(name)) throw new Error(`--only ${name}: one of ${TARGETS.join(', ')}`);
const WORKERS = Number(values.workers);
if (!Number.isInteger(WORKERS) || WORKERS < 1) throw new Error(`--workers ${values.workers}: a whole number of at least 1`);
const PROFILE_DIR = values.profile === undefined ? undefined : resolve(values.profile);
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds ${values.rounds}: a whole number of at least 1`);

interface Measured extends LoadResult {
  /** CPU the proxy under test used: CPU seconds per second of the run (null: no proxy, or no /proc). */
  proxyCores: number | null;
}

interface Target {
  name: string;
  /** Where the load goes (the direct target has no proxy process), or why the target is missing. */
  at: { url: string; pid?: number } | { skipped: string };
  /** The path requested; default: the measured route's. */
  path?: string;
  /** Sent with every request. */
  headers?: Record<string, string>;
  result?: Measured;
}

interface SwapResult {
  /** The same load for as long, right before the changes: what the window is compared with. */
  steady: LoadResult;
  load: LoadResult;
  /** Config applies the proxy counted during the window (one per change expected). */
  applied: number;
  /** CPU seconds each Signalbox process used during the window. */
  cpu: Record<'proxy' | 'control plane' | 'etcd', number | null>;
}

function pickLoadGenerator(children: Children): LoadGenerator {
  const wanted = values.loadgen ?? (findProgram('wrk') ? 'wrk' : 'undici');
  if (wanted === 'wrk' && !findProgram('wrk')) throw new Error('--loadgen wrk: wrk not installed (scripts/ensure-bench-peers.sh)');
  if (wanted !== 'wrk' && wanted !== 'undici') throw new Error(`--loadgen ${wanted}: wrk or undici`);
  return wanted === 'wrk' ? wrk(children) : undiciLoop;
}

/** Two measurements of one target as one: counts added, rates and latencies averaged. */
function mean(a: Measured, b: Measured): Measured {
  const avg = (x: number, y: number) => (x + y) / 2;
  return {
    requests: a.requests + b.requests,
    seconds: a.seconds + b.seconds,
    rps: avg(a.rps, b.rps),
    p50Ms: avg(a.p50Ms, b.p50Ms),
    p99Ms: avg(a.p99Ms, b.p99Ms),
    badStatus: a.badStatus + b.badStatus,
    socketErrors: a.socketErrors + b.socketErrors,
    proxyCores: a.proxyCores === null || b.proxyCores === null ? null : avg(a.proxyCores, b.proxyCores),
  };
}

/** CPU of a proxy and the worker processes it started (none when it is one process). */
function proxyCpuMeter(pid: number | undefined): () => number | null {
  return pid === undefined ? () => null : groupCpuMeter([pid, ...childPids(pid)]);
}

async function measure(load: LoadGenerator, url: string, pid: number | undefined, headers?: Record<string, string>): Promise<Measured> {
  await load.run({ url, connections: CONNECTIONS, seconds: WARMUP, headers });
  const cpu = proxyCpuMeter(pid);
  const result = await load.run({ url, connections: CONNECTIONS, seconds: DURATION, headers });
  const used = cpu();
  return { ...result, proxyCores: used === null ? null : used / result.seconds };
}

/** Change `c` of the swap scenario, cycling through the edits teams make all day. */
function applyChange(stack: BenchStack, table: RouteTable, c: number): Promise<number> {
  switch (c % 3) {
    case 0: // shift weight between the measured upstream's targets: a new connection pool
      return stack.write('PATCH', '/upstreams/bench', { targets: benchUpstream(table, [1 + (c % 5), 1]).targets });
    case 1: // a different extra path on the measured route
      return stack.write('PUT', `/routes/r${table.measured}`, signalboxRoute(table.measured, 'bench', [`/svc${table.measured}/v${c}`]));
    default: // a new route
      return stack.write('PUT', `/routes/added-${c}`, { ...signalboxRoute(table.routes + c, 'bench'), id: `added-${c}` });
  }
}

async function configApplies(proxy: BenchProxy): Promise<number> {
  const text = await (await fetch(`${proxy.admin}/metrics`)).text();
  return Number(/^signalbox_config_applies_total\{result="ok"\} (\d+)/m.exec(text)?.[1] ?? NaN);
}

/**
 * Steady load through the proxy while CHANGES writes go through the control plane, one per
 * INTERVAL_MS; the window ends one interval after the proxy has applied the last one. Right
 * before it, the same load for as long without changes: the steady rows above were measured
 * minutes earlier, and on these 2 cores a proxy's req/s drifts by more than a change costs.
 * `round` numbers the changes on from the rounds before (new routes keep new ids).
 */
async function swapScenario(stack: BenchStack, proxy: BenchProxy, table: RouteTable, load: LoadGenerator, round: number): Promise<SwapResult> {
  const steady = await load.run({ url: `${proxy.url}${measuredPath(table)}`, connections: CONNECTIONS, seconds: ((CHANGES + 1) * INTERVAL_MS) / 1000 });
  const before = await configApplies(proxy);
  const cpu = cpuMeter({ 'control plane': stack.controlPlanePid, etcd: stack.etcd.pid });
  const proxyCpu = proxyCpuMeter(proxy.pid);
  let endWindow!: () => void;
  const stop = new Promise<void>((resolve) => (endWindow = resolve));
  // A bound far above the window, so a slow machine still gets every change inside it.
  const run = load.run({ url: `${proxy.url}${measuredPath(table)}`, connections: CONNECTIONS, seconds: 30 + (4 * CHANGES * INTERVAL_MS) / 1000, stop });
  run.catch(() => {}); // awaited below; this only keeps a failure from being unhandled meanwhile
  const start = performance.now();
  let version = 0;
  for (let c = 1; c <= CHANGES; c++) {
    await sleep(Math.max(0, start + c * INTERVAL_MS - performance.now()));
    version = await applyChange(stack, table, round * CHANGES + c);
  }
  await waitVersion(proxy, version);
  await sleep(INTERVAL_MS);
  endWindow();
  const result = await run;
  return { steady, load: result, applied: (await configApplies(proxy)) - before, cpu: { proxy: proxyCpu(), ...cpu() } };
}

function printResults(targets: Target[]): void {
  printTargets(['target', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx/3xx', 'socket errors', 'proxy CPU (cores)', 'req/s per proxy core'], targets, (r) => [
    int(r.rps), ms(r.p50Ms), ms(r.p99Ms), int(r.badStatus), int(r.socketErrors), cores(r.proxyCores), perCore(r.rps, r.proxyCores),
  ]);
}

function printRatios(sb: Measured, peers: Target[]): Record<string, { rps: number; p99: number }> {
  const ratios: Record<string, { rps: number; p99: number }> = {};
  for (const peer of peers) {
    if (!peer.result) continue;
    ratios[peer.name] = { rps: sb.rps / peer.result.rps, p99: sb.p99Ms / peer.result.p99Ms };
    console.log(`  signalbox / ${peer.name}: req/s ${ratio(sb.rps, peer.result.rps)}, p99 latency ${ratio(sb.p99Ms, peer.result.p99Ms)}`);
  }
  return ratios;
}

/** During the changes over steady right before, req/s and p99, of each round and their medians. */
function swapRatios(rounds: SwapResult[]): { rps: number[]; p99: number[]; medianRps: number; medianP99: number } {
  const rps = rounds.map((r) => r.load.rps / r.steady.rps);
  const p99 = rounds.map((r) => r.load.p99Ms / r.steady.p99Ms);
  return { rps, p99, medianRps: median(rps), medianP99: median(p99) };
}

function printSwaps(rounds: SwapResult[]): void {
  console.log(`\nConfig changes under the same load: ${CHANGES} writes through the control plane's REST API, one per ${INTERVAL_MS} ms`);
  console.log('(upstream weights: a new connection pool; another path on the measured route; new routes), each a new version of all routes,');
  console.log(`against the same load for as long right before (steady)${rounds.length > 1 ? `, ${rounds.length} rounds` : ''}:`);
  for (const s of rounds) {
    const l = s.load;
    console.log(`  window ${l.seconds.toFixed(1)} s: ${int(l.requests)} requests served, non-2xx/3xx ${l.badStatus}, socket errors ${l.socketErrors} (expected 0 and 0); swaps applied ${s.applied} of ${CHANGES}`);
    console.log(`    during swaps vs steady: req/s ${int(l.rps)} vs ${int(s.steady.rps)} (${ratio(l.rps, s.steady.rps)}), p99 ${ms(l.p99Ms)} vs ${ms(s.steady.p99Ms)} ms (${ratio(l.p99Ms, s.steady.p99Ms)})`);
    const used = Object.entries(s.cpu).map(([name, t]) => `${name} ${cores(t === null ? null : t / l.seconds)}`).join(', ');
    console.log(`    CPU in the window (cores): ${used}`);
  }
  if (rounds.length > 1) {
    const r = swapRatios(rounds);
    console.log(`  medians of ${rounds.length} rounds: req/s ${r.medianRps.toFixed(2)}x, p99 ${r.medianP99.toFixed(2)}x`);
  }
}

/** The peers --only selected, started; nginx's row says why it is missing when it is not installed. */
async function startPeers(children: Children, nginx: string | null, upstream: Upstream, table: RouteTable): Promise<Target[]> {
  const path = measuredPath(table);
  const peers: Target[] = [];
  if (ONLY.includes('direct')) peers.push({ name: 'direct', at: { url: upstream.targets[0]! } });
  if (ONLY.includes('nginx')) {
    peers.push({ name: 'nginx', at: nginx ? await startNginxProxy(children, nginx, (port) => nginxRoutes(table, port), path, WORKERS) : { skipped: 'not installed' } });
  }
  if (ONLY.includes('node+undici')) peers.push({ name: 'node+undici', at: await startNodeProxy(children, 'proxy', upstream.targets, path) });
  if (ONLY.includes('floor')) peers.push({ name: 'floor', at: await startNodeProxy(children, 'floor', upstream.targets, path, WORKERS) });
  return peers;
}

async function main(children: Children) {
  const load = pickLoadGenerator(children);
  const nginx = findProgram('nginx');
  const upstream = await startUpstream(children, nginx);
  // The measured route sits inside the table, neither first nor last in any order.
  const table: RouteTable = { routes: ROUTES, measured: Math.floor(ROUTES * 0.617), targets: upstream.targets };
  const path = measuredPath(table);

  const stack = await BenchStack.start(children);
  const traffic = ONLY.includes('traffic');
  const policies = ONLY.includes('policies');
  await stack.putConfig(signalboxFeatureDoc(table, { traffic, policies }));
  const workerArgs = WORKERS > 1 ? ['--workers', String(WORKERS)] : [];
  const proxy = await stack.startProxy('bench-forwarding', PROFILE_DIR, workerArgs);
  await waitReady(proxy);
  const signalbox: Target = { name: 'signalbox', at: proxy };
  // The same proxy through routes with features, and a proxy writing an access log, each
  // against the bare route (see the top).
  const paired: Target[] = [
    ...(traffic ? [{ name: 'traffic', at: proxy, path: trafficPath(table) }] : []),
    ...(policies ? [{ name: 'policies', at: proxy, path: policyChainPath(table), headers: POLICY_CHAIN_HEADERS }] : []),
  ];
  // What the swap scenario does not measure is stopped before it (see there): from here on.
  const unmeasuredBySwaps = children.mark();
  if (ONLY.includes('logged')) {
    const logDir = await mkdtemp(join(tmpdir(), 'signalbox-bench-log-'));
    children.add(() => rm(logDir, { recursive: true, force: true }));
    const logged = await stack.startProxy('bench-forwarding-logged', PROFILE_DIR === undefined ? undefined : join(PROFILE_DIR, 'logged'), [...workerArgs, '--access-log', 'all', '--access-log-file', join(logDir, 'access.log')]);
    await waitReady(logged);
    paired.push({ name: 'logged', at: logged });
  }
  const peers = await startPeers(children, nginx, upstream, table);
  // Signalbox second, after the ceiling when that is measured, as the table has always shown it.
  const targets = peers[0]?.name === 'direct' ? [peers[0], signalbox, ...paired, ...peers.slice(1)] : [signalbox, ...paired, ...peers];

  console.log(`Forwarding GET ${path} (${ROUTES.toLocaleString('en-US')} routes), ${CONNECTIONS} connections, ${DURATION} s per target after ${WARMUP} s warm-up`);
  const processes = WORKERS === 1 ? 'every proxy is one process' : `signalbox --workers ${WORKERS} and nginx worker_processes ${WORKERS} and the floor as ${WORKERS} node:cluster workers (CPU: all their processes); node+undici stays one process`;
  console.log(`  load: ${load.name}${findProgram('wrk') ? '' : ' (wrk not installed)'}; upstream: ${upstream.kind}; ${processes}`);
  console.log(`  ${availableParallelism()} cores shared by the load generator, the proxy and the upstream, nothing pinned; load average at start ${loadavg()[0]!.toFixed(2)}`);
  for (const t of targets) {
    if ('url' in t.at) t.result = await measure(load, `${t.at.url}${t.path ?? path}`, t.at.pid, t.headers);
  }
  const measurePaired = async (t: Target) => measure(load, `${(t.at as BenchProxy).url}${t.path ?? path}`, (t.at as BenchProxy).pid, t.headers);
  for (const t of [...paired].reverse()) t.result = mean(t.result!, await measurePaired(t));
  if (paired.length > 0) signalbox.result = mean(signalbox.result!, await measure(load, `${proxy.url}${path}`, proxy.pid));
  const sb = signalbox.result!;
  // Each paired target's req/s over the bare route's, round by round; the first round is above.
  const rounds = new Map(paired.map((t) => [t.name, [t.result!.rps / sb.rps]]));
  for (let round = 1; round < ROUNDS && paired.length > 0; round++) {
    const first = await measure(load, `${proxy.url}${path}`, proxy.pid);
    const once: Measured[] = [];
    for (const t of paired) once.push(await measurePaired(t));
    const twice: Measured[] = [];
    for (const t of [...paired].reverse()) twice.unshift(await measurePaired(t));
    const bare = mean(first, await measure(load, `${proxy.url}${path}`, proxy.pid));
    paired.forEach((t, i) => rounds.get(t.name)!.push(mean(once[i]!, twice[i]!).rps / bare.rps));
  }
  // The logged proxy would apply every change too, and the peers have had their turn: on 2 cores
  // their CPU is the measured proxy's.
  await children.stopSince(unmeasuredBySwaps);
  const swaps: SwapResult[] = [];
  for (let round = 0; round < (CHANGES > 0 ? ROUNDS : 0); round++) swaps.push(await swapScenario(stack, proxy, table, load, round));

  console.log('');
  printResults(targets);
  const ratios = printRatios(sb, peers);
  const what: Record<string, string> = {
    traffic: 'rewrite + retries + timeoutMs / bare route',
    policies: 'policy chain (key-auth + rate-limit + headers) / bare route',
    logged: 'access log of every request / none',
  };
  for (const t of paired) {
    const r = t.result!;
    // Per proxy core too: on a shared machine the proxy's CPU share moves more than its cost does.
    const perProxyCore = r.proxyCores && sb.proxyCores ? `, req/s per proxy core ${ratio(r.rps / r.proxyCores, sb.rps / sb.proxyCores)}` : '';
    console.log(`  ${what[t.name]}: req/s ${ratio(r.rps, sb.rps)}, p50 ${ratio(r.p50Ms, sb.p50Ms)}, p99 ${ratio(r.p99Ms, sb.p99Ms)}${perProxyCore}`);
    const each = rounds.get(t.name)!;
    if (each.length > 1) console.log(`    req/s over ${each.length} rounds: median ${median(each).toFixed(2)}x (${each.map((x) => x.toFixed(2)).join(', ')})`);
  }
  if (swaps.length > 0) printSwaps(swaps);
  if (PROFILE_DIR !== undefined) console.log(`\nThe proxy's CPU profile is written to ${PROFILE_DIR} as it exits, now.`);
  const results = Object.fromEntries(targets.map((t) => [t.name, t.result ?? t.at]));
  console.log(JSON.stringify({
    bench: 'forwarding', node: process.version, cores: availableParallelism(), loadgen: load.name, upstream: upstream.kind,
    routes: ROUTES, connections: CONNECTIONS, durationS: DURATION, workers: WORKERS, results, ratios,
    featureRps: Object.fromEntries(paired.map((t) => [t.name, median(rounds.get(t.name)!)])), featureRounds: Object.fromEntries(rounds), swaps: swaps.length === 0 ? null : { changes: CHANGES, intervalMs: INTERVAL_MS, ...swapRatios(swaps), rounds: swaps },
  }));
}

await runBench(main);
