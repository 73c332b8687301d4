// What a one-route change costs a proxy serving 10,000 routes, whole compile against incremental,
// in one run; and what the large applies (a state compiled whole; a change to every route)
// do to requests, applied in slices against in one pass.
//   npm run bench:apply -- [--routes 10000] [--changes 20] [--interval 250] [--large 3]
// Each way runs in a child process of its own that is the proxy and nothing else, so its RSS is a
// proxy's: the proxy's listeners, handler and ConfigApplier on 127.0.0.1, fed the states the
// watcher's RevisionFolder folds from watch events (no etcd: what is measured is the proxy's
// side). The parent makes the config's entries and each change's watch events (as the control
// plane and etcd would) and sends them over IPC, so the child holds the values as a watcher does;
// the parent also runs the upstream and a trickle client (one request at a time, every
// TRICKLE_MS, through the proxy) on its own event loop, so the latencies show what the proxy's
// event loop did to requests.
// Per way: CPU of the fold and apply of one change (process.cpuUsage around both), the event
// loop's delay (monitorEventLoopDelay, resolution 1 ms) and the trickle's latencies while
// nothing changes and while a change lands every --interval ms, and RSS and heapUsed after a GC
// with the config loaded and after the changes. `--whole` on the child forces whole compiles.
// Then --large states compiled whole (as the first one, or one after a refused state) and
// --large changes that move every route to the other upstream (a whole-config PUT replacing every
// route: a delta of every route), each waited for, with 300 ms between: the loop's longest stall
// (monitorEventLoopDelay max, with the longest GC pause among it) and the trickle's worst latency
// while they run. `--slice-ms Infinity` on the child applies in one pass, as before slicing.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchArgs } from './args.js';
import { pino } from 'pino';
import { validateDocument } from '../src/config/validate.js';
import { ConfigApplier } from '../src/proxy/config-applier.js';
import { createProxyHandler } from '../src/proxy/handler.js';
import { startListeners } from '../src/proxy/listeners.js';
import { ProxyMetrics } from '../src/proxy/metrics.js';
import { RuntimeHolder } from '../src/proxy/runtime.js';
import { configEntries, countsOf, parseVersionInfo } from '../src/store/decode.js';
import { Keys } from '../src/store/keys.js';
import { RevisionFolder, type CommittedState, type WatchEvent } from '../src/store/revision-folder.js';
import { oneRouteChangeDoc } from './routes.js';
import { quantile } from './stats.js';
import { ms, printTable } from './table.js';

const TRICKLE_MS = 5;
const STEADY_MS = 3_000;

const values = benchArgs({
  options: {
    routes: { type: 'string', default: '10000' },
    changes: { type: 'string', default: '20' },
    interval: { type: 'string', default: '250' },
    child: { type: 'boolean', default: false },
    whole: { type: 'boolean', default: false },
    large: { type: 'string', default: '3' },
    'slice-ms': { type: 'string' },
  },
});
const ROUTES = Number(values.routes);
const CHANGES = Number(values.changes);
const INTERVAL = Number(values.interval);
const LARGE = Number(values.large);
const LARGE_GAP_MS = 300;

interface Latencies {
  /** Each request's start (performance.timeOrigin + now) and latency, ms. */
  samples: [number, number][];
}

interface Phase {
  loopP99: number;
  loopMax: number;
  trickleP50: number;
  trickleP99: number;
  trickleMax: number;
  requests: number;
  failed: number;
}

/**
 * What the parent sends the proxy: the entries of its first state, each change's watch events,
 * and the entries of the config with every route on u0 and on u1 (the large changes).
 */
interface Feed {
  entries: [string, string][];
  versionRaw: string;
  events: WatchEvent[][];
  allTo: [string, string][][];
}

/** One kind of large apply, as the proxy saw it: each one's wall time, the loop while they ran. */
interface LargeRun {
  walls: number[];
  loopP99: number;
  loopMax: number;
  /** The longest GC pause among them: part of the loop's stall that no slicing removes. */
  gcMax: number;
  window: [number, number];
}

/** A kind of large apply with the trickle's latencies while it ran. */
interface Large {
  wallP50: number;
  wallMax: number;
  loopP99: number;
  loopMax: number;
  gcMax: number;
  trickleP99: number;
  trickleMax: number;
}

/** The proxy's own figures; the phases' bounds (wall clock, ms) for the trickle's latencies. */
interface ProxyResult {
  firstApplyMs: number;
  cpuP50: number;
  cpuMax: number;
  applyP50: number;
  rssLoaded: number;
  heapLoaded: number;
  rssEnd: number;
  heapEnd: number;
  loop: { steady: LoopDelay; changing: LoopDelay };
  steady: [number, number];
  changing: [number, number];
  whole: LargeRun;
  everyRoute: LargeRun;
}

interface LoopDelay {
  p99: number;
  max: number;
}

interface Result extends Omit<ProxyResult, 'whole' | 'everyRoute'> {
  way: string;
  trickle: { steady: Phase; changing: Phase };
  whole: Large;
  everyRoute: Large;
}

const now = () => performance.timeOrigin + performance.now();

/** The trickle through the proxy, one request at a time, until `stop` resolves. */
async function trickle(url: string, stop: Promise<unknown>): Promise<Latencies & { failed: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: [number, number][] = [];
  let failed = 0;
  let stopped = false;
  void stop.then(() => (stopped = true));
  while (!stopped) {
    const t0 = now();
    const ok = await new Promise<boolean>((resolve) => {
      const req = request(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    const t1 = now();
    if (ok) samples.push([t0, t1 - t0]);
    else failed++;
    await sleep(Math.max(0, TRICKLE_MS - (t1 - t0)));
  }
  agent.destroy();
  return { samples, failed };
}

/** One phase: the loop delay histogram's p99 and max, and the trickle's requests that started in it. */
function phase(loop: LoopDelay, lat: Latencies, [from, to]: [number, number], failed: number): Phase {
  const xs = lat.samples.filter(([t]) => t >= from && t < to).map(([, l]) => l);
  return {
    loopP99: loop.p99,
    loopMax: loop.max,
    trickleP50: quantile(xs, 0.5),
    trickleP99: quantile(xs, 0.99),
    trickleMax: Math.max(...xs),
    requests: xs.length,
    failed,
  };
}

function large(run: LargeRun, lat: Latencies): Large {
  const [from, to] = run.window;
  const xs = lat.samples.filter(([t]) => t >= from && t < to).map(([, l]) => l);
  return { wallP50: quantile(run.walls, 0.5), wallMax: Math.max(...run.walls), loopP99: run.loopP99, loopMax: run.loopMax, gcMax: run.gcMax, trickleP99: quantile(xs, 0.99), trickleMax: Math.max(...xs) };
}

/** The config's entries and each change's events, as the control plane would write them into etcd. */
function feed(keys: Keys, upstream: string): Feed {
  const docOf = (c: number) => oneRouteChangeDoc(ROUTES, c, [upstream, upstream]);
  const valid = (doc: unknown) => {
    const v = validateDocument(doc);
    if (!v.ok) throw new Error(JSON.stringify(v.issues.slice(0, 3)));
    return v.config;
  };
  const config = valid(docOf(0));
  // With the counts of a real write: the proxy then takes the version's hash (versionExact) as it does from etcd.
  const versionRaw = (n: number) => JSON.stringify({ version: n, hash: `h${n}`, author: 'bench', message: '', source: 'api', at: '', counts: countsOf(config) });
  // Change c moves route c to the other upstream (and route c - 1 back): its events, made
  // before anything is measured (validating two routes, as the control plane would).
  const events: WatchEvent[][] = [];
  for (let c = 1; c <= CHANGES; c++) {
    const before = docOf(c - 1);
    const after = docOf(c);
    const pick = (d: typeof before) => ({ ...d, routes: [d.routes[c - 1]!, d.routes[c % ROUTES]!] });
    const was = configEntries(keys, valid(pick(before)));
    const rev = c + 1;
    const ev: WatchEvent[] = [];
    for (const [key, value] of configEntries(keys, valid(pick(after)))) if (was.get(key) !== value) ev.push({ revision: rev, key, value });
    ev.push({ revision: rev, key: keys.version, value: versionRaw(rev) });
    events.push(ev);
  }
  const allTo = [0, 1].map((u) => [...configEntries(keys, valid({ ...config, routes: config.routes.map((r) => ({ ...r, upstream: `u${u}` })) }))]);
  return { entries: [...configEntries(keys, config)], versionRaw: versionRaw(1), events, allTo };
}

const loopDelay = (h: ReturnType<typeof monitorEventLoopDelay>): LoopDelay => ({ p99: h.percentile(99) / 1e6, max: h.max / 1e6 });

/** The proxy: takes the feed, serves, tells the parent where, runs the phases, reports. */
async function child(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const keys = new Keys('/bench');
  const [{ entries: list, versionRaw, events, allTo }] = (await once(process, 'message')) as [Feed];
  const folder = new RevisionFolder(keys);
  /** The version key at `revision`, as the parent's versionRaw makes it. */
  const versionAt = (revision: number) => JSON.stringify({ ...JSON.parse(versionRaw), version: revision, hash: `h${revision}` });
  /** The state the watcher makes from a snapshot read of `at` at `revision` (a resync when `resync`). */
  const snapshot = (at: ReadonlyMap<string, string>, revision: number, resync: boolean): CommittedState => {
    const raw = versionAt(revision);
    const current = new Map([...at].map(([k, value]) => [k, { value, modRevision: revision }]));
    return folder.restart({ version: parseVersionInfo(raw), versionRaw: raw, revision, entries: new Map(at), headRevision: revision, current, unfinished: 0, stateRevision: revision, source: 'head' }, resync);
  };
  const first = snapshot(new Map(list), 1, false);

  const logger = pino({ level: 'silent' });
  const metrics = new ProxyMetrics({ processMetrics: false });
  const holder = new RuntimeHolder();
  const sliceMs = values['slice-ms'] === undefined ? undefined : Number(values['slice-ms']);
  const applier = new ConfigApplier(keys, holder, metrics, logger, {}, values.whole, sliceMs);
  const t0 = performance.now();
  if (!(await applier.apply(first)).ok) throw new Error('the first state was refused');
  const firstApplyMs = performance.now() - t0;
  const listeners = await startListeners(createProxyHandler(holder, { logger, metrics }), holder, { http: { host: '127.0.0.1', port: 0 }, https: null });
  gc();
  const loaded = process.memoryUsage();

  process.send!({ proxy: `${listeners.urls.http}/svc0/items/1` });
  await sleep(500); // the trickle's connection and the JIT settle

  const h = monitorEventLoopDelay({ resolution: 1 });
  const steadyFrom = now();
  h.enable();
  await sleep(STEADY_MS);
  h.disable();
  const steadyTo = now();
  const h2 = monitorEventLoopDelay({ resolution: 1 });

  const cpu: number[] = [];
  const wall: number[] = [];
  const changingFrom = now();
  h2.enable();
  for (const ev of events) {
    await sleep(INTERVAL);
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const { state } = folder.fold(ev, ev[0]!.revision);
    if (!(await applier.apply(state as CommittedState)).ok) throw new Error(`change at revision ${ev[0]!.revision} was refused`);
    wall.push(performance.now() - w0);
    const used = process.cpuUsage(c0);
    cpu.push((used.user + used.system) / 1000);
  }
  await sleep(INTERVAL);
  h2.disable();
  const changingTo = now();
  // The trickle's request under way finishes before gc() blocks the loop: it counts as changing.
  await sleep(50);
  gc();
  const end = process.memoryUsage();

  // The large applies, made before they are measured: states compiled whole (as the first one,
  // or one after a refused state, is: no delta), then changes that move every route to the
  // other upstream (as a whole-config PUT replacing every route: a delta of every route).
  let rev = CHANGES + 1;
  const wholes: CommittedState[] = [];
  for (let i = 0; i < LARGE; i++) wholes.push({ ...snapshot(folder.state!.entries, ++rev, true), delta: null });
  const everyRoutes: CommittedState[] = [];
  for (let i = 0; i < LARGE; i++) {
    const ev: WatchEvent[] = [];
    rev++;
    for (const [key, value] of allTo[(i + 1) % 2]!) if (folder.state!.entries.get(key) !== value) ev.push({ revision: rev, key, value });
    ev.push({ revision: rev, key: keys.version, value: versionAt(rev) });
    everyRoutes.push(folder.fold(ev, rev).state!);
  }
  gc();
  const largeApplies = async (states: CommittedState[]): Promise<LargeRun> => {
    const h3 = monitorEventLoopDelay({ resolution: 1 });
    const from = now();
    const walls: number[] = [];
    let gcMax = 0;
    const gcs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcMax = Math.max(gcMax, e.duration);
    });
    gcs.observe({ entryTypes: ['gc'] });
    h3.enable();
    for (const state of states) {
      await sleep(LARGE_GAP_MS);
      const w0 = performance.now();
      if (!(await applier.apply(state)).ok) throw new Error(`the large apply at revision ${state.revision} was refused`);
      walls.push(performance.now() - w0);
    }
    await sleep(LARGE_GAP_MS);
    h3.disable();
    gcs.disconnect();
    return { walls, loopP99: h3.percentile(99) / 1e6, loopMax: h3.max / 1e6, gcMax, window: [from, now()] };
  };
  const whole = await largeApplies(wholes);
  const everyRoute = await largeApplies(everyRoutes);
  const result: ProxyResult = {
    firstApplyMs,
    cpuP50: quantile(cpu, 0.5),
    cpuMax: Math.max(...cpu),
    applyP50: quantile(wall, 0.5),
    rssLoaded: loaded.rss,
    heapLoaded: loaded.heapUsed,
    rssEnd: end.rss,
    heapEnd: end.heapUsed,
    loop: { steady: loopDelay(h), changing: loopDelay(h2) },
    steady: [steadyFrom, steadyTo],
    changing: [changingFrom, changingTo],
    whole,
    everyRoute,
  };
  // Serving until the parent's trickle has stopped: no request of it fails on a closed listener.
  const stopped = once(process, 'message');
  process.send!(result);
  await stopped;
  await listeners.close(0);
  await holder.close();
  process.disconnect();
}

/** One way in a proxy process of its own, with the trickle through it from here. */
async function measure(proxy: ChildProcess, way: string, data: Feed): Promise<Result> {
  proxy.send(data);
  const [{ proxy: url }] = (await once(proxy, 'message')) as [{ proxy: string }];
  const reported = once(proxy, 'message') as Promise<[ProxyResult]>;
  const lat = await trickle(url, reported);
  const [r] = await reported;
  proxy.send('stopped');
  await once(proxy, 'exit');
  return {
    ...r,
    way,
    trickle: { steady: phase(r.loop.steady, lat, r.steady, 0), changing: phase(r.loop.changing, lat, r.changing, lat.failed) },
    whole: large(r.whole, lat),
    everyRoute: large(r.everyRoute, lat),
  };
}

async function main(): Promise<void> {
  const upstream = createServer((_req, res) => res.end('ok'));
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const data = feed(new Keys('/bench'), `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  const results: Result[] = [];
  for (const [whole, onePass] of [[true, false], [false, false], [false, true]]) {
    const args = ['--routes', String(ROUTES), '--changes', String(CHANGES), '--interval', String(INTERVAL), '--large', String(LARGE), '--child'];
    if (whole) args.push('--whole');
    if (onePass) args.push('--slice-ms', 'Infinity');
    const proc = fork(new URL(import.meta.url), args, { execArgv: ['--expose-gc'] });
    results.push(await measure(proc, `${whole ? 'whole compile' : 'incremental'}${onePass ? ', one pass' : ''}`, data));
  }
  upstream.close();
  const mb = (n: number) => (n / 1e6).toFixed(0);
  console.log(`node ${process.version}; ${ROUTES} routes; ${CHANGES} one-route changes, one every ${INTERVAL} ms; trickle: 1 request / ${TRICKLE_MS} ms`);
  printTable([
    ['way', 'first load ms', 'change CPU p50 / max ms', 'change wall p50 ms', 'loop delay p99 / max ms (steady → changing)', 'trickle p50 / p99 / max ms (steady → changing)', 'failed', 'RSS loaded / end MB', 'heapUsed loaded / end MB'],
    ...results.map(({ trickle: { steady, changing }, ...r }) => [
      r.way,
      ms(r.firstApplyMs),
      `${ms(r.cpuP50)} / ${ms(r.cpuMax)}`,
      ms(r.applyP50),
      `${ms(steady.loopP99)} / ${ms(steady.loopMax)} → ${ms(changing.loopP99)} / ${ms(changing.loopMax)}`,
      `${ms(steady.trickleP50)} / ${ms(steady.trickleP99)} / ${ms(steady.trickleMax)} → ${ms(changing.trickleP50)} / ${ms(changing.trickleP99)} / ${ms(changing.trickleMax)}`,
      String(changing.failed),
      `${mb(r.rssLoaded)} / ${mb(r.rssEnd)}`,
      `${mb(r.heapLoaded)} / ${mb(r.heapEnd)}`,
    ]),
  ]);
  if (LARGE === 0) return;
  console.log(`\nlarge applies, ${LARGE} of each, ${LARGE_GAP_MS} ms apart (a one-pass row is how every apply ran before slicing)`);
  const cells = (l: Large) => [`${ms(l.wallP50)} / ${ms(l.wallMax)}`, `${ms(l.loopP99)} / ${ms(l.loopMax)} (${ms(l.gcMax)})`, `${ms(l.trickleP99)} / ${ms(l.trickleMax)}`];
  printTable([
    ['way', 'compiled whole: apply wall p50 / max ms', 'loop delay p99 / max (GC pause max) ms', 'trickle p99 / max ms', 'every route changed: apply wall p50 / max ms', 'loop delay p99 / max (GC pause max) ms', 'trickle p99 / max ms'],
    ...results.map((r) => [r.way, ...cells(r.whole), ...cells(r.everyRoute)]),
  ]);
}

if (values.child) await child();
else await main();
