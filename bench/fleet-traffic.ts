// How the dashboard's live traffic should travel: pushed by every proxy into its registry entry in
// etcd every 10 s, or pulled by the control plane from the proxies' admin ports when someone looks.
//   npm run build && node --expose-gc dist/bench/fleet-traffic.js [--proxies 100] [--routes 2000] [--seconds 60]
//
// 1. The summary: memory of a proxy's traffic window with every route busy, the time to summarize
//    it, and its size with the busiest 20 and 200 routes, and with all of them.
// 2. Push: a real etcd; `--proxies` registries (each its own client and lease, as proxies have)
//    put an entry with the summary every 10 s, staggered, for `--seconds`; measured against the
//    same time idle: etcd's CPU, revisions, database size, and the latency of a small put (the
//    config writes and lease renewals etcd must still serve promptly). Twice: the whole window
//    (what the charts draw) and the newest bucket only (the least a push could carry).
// 3. Pull: `--proxies` admin ports (HTTP servers in this process, each serving a real summary)
//    asked at once by the control plane's own code: time, bytes and CPU of one ask.
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from './args.js';
import { pino } from 'pino';
import { askFleet } from '../src/control-plane/fleet-traffic.js';
import { ManagedEtcd } from '../src/dev/managed-etcd.js';
import { LATENCY_SLOTS } from '../src/proxy/latency-buckets.js';
import { TRAFFIC_BUCKETS, TRAFFIC_BUCKET_MS, TrafficRecorder } from '../src/proxy/traffic.js';
import { createEtcdClient } from '../src/store/client.js';
import { Keys } from '../src/store/keys.js';
import { ProxyRegistry } from '../src/store/proxy-registry.js';
import { cpuMeter } from './cpu.js';
import { runBench, type Children } from './stack.js';
import { quantile } from './stats.js';

const values = benchArgs({
  options: { proxies: { type: 'string', default: '100' }, routes: { type: 'string', default: '2000' }, seconds: { type: 'string', default: '60' } },
});
const PROXIES = Number(values.proxies);
const ROUTES = Number(values.routes);
const SECONDS = Number(values.seconds);
const REQUESTS_PER_SECOND = 500;
const INTERVAL_MS = 10_000;

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** A proxy's window with `routes` routes, every bucket full: Zipf-like shares of the load, 1 % 5xx. */
function busyRecorder(routes: number, seed: number): TrafficRecorder {
  let clock = 1_000_000 * TRAFFIC_BUCKET_MS;
  const recorder = new TrafficRecorder({ now: () => clock, timer: false });
  let x = seed;
  const random = () => ((x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const weights = Array.from({ length: routes }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  for (let b = 0; b < TRAFFIC_BUCKETS; b++) {
    if (b > 0) {
      clock += TRAFFIC_BUCKET_MS;
      recorder.tick();
    }
    for (let r = 0; r < routes; r++) {
      // At least one request per route and bucket: every route busy is the window's largest.
      const n = Math.max(1, Math.round((REQUESTS_PER_SECOND * (TRAFFIC_BUCKET_MS / 1000) * weights[r]!) / total));
      for (let i = 0; i < n; i++) recorder.observe(`route-${r}`, random() < 0.01 ? 502 : 200, Math.min(LATENCY_SLOTS - 1, Math.floor(random() * random() * 8)));
    }
  }
  return recorder;
}

function summaryNumbers() {
  const gc = (globalThis as { gc?: () => void }).gc;
  // The rings are typed arrays: their bytes are outside the JS heap.
  const used = () => {
    gc?.();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  const recorder = busyRecorder(ROUTES, 1);
  const heap = used() - before;
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    recorder.summary(20);
    times.push(performance.now() - t);
  }
  const size = (top: number) => Buffer.byteLength(JSON.stringify(recorder.summary(top)));
  return { heapBytes: gc ? heap : null, summaryMs: quantile(times, 0.5), top20Bytes: size(20), top200Bytes: size(200), allBytes: size(ROUTES) };
}

/** The newest bucket only: what a push would carry at the least. */
function newestOnly(summary: ReturnType<TrafficRecorder['summary']>) {
  const last = <T extends { requests: number[]; errors: number[]; latency: number[][] }>(s: T) => ({ ...s, requests: s.requests.slice(-1), errors: s.errors.slice(-1), latency: s.latency.slice(-1) });
  return { ...summary, total: last(summary.total), routes: summary.routes.map(last) };
}

/** etcd while the registries put `entry` every INTERVAL_MS (or, with null, while nothing does). */
async function etcdUnder(etcd: ManagedEtcd, entry: object | null) {
  const keys = new Keys('/bench-fleet');
  const probe = createEtcdClient(etcd.endpoint);
  const clients = entry ? Array.from({ length: PROXIES }, () => createEtcdClient(etcd.endpoint)) : [];
  const logger = pino({ level: 'silent' });
  const registries = clients.map((c, i) => new ProxyRegistry(c, keys, `proxy-${i}`, logger));
  const status = async () => {
    const s = await probe.maintenance.status();
    return { revision: Number(s.header.revision), dbSize: Number(s.dbSize) };
  };
  // Leases and first puts before measuring: the steady state is what counts.
  for (const r of registries) r.report({ ...entry, reportedAt: Date.now() });
  await Promise.all(registries.map((r) => r.flushed()));
  const start = await status();
  const cpu = cpuMeter({ etcd: etcd.pid });
  const until = Date.now() + SECONDS * 1000;
  let puts = 0;
  let bytes = 0;
  const timers = registries.map((r) => {
    const tick = () => {
      const value = { ...entry, reportedAt: Date.now() };
      bytes += Buffer.byteLength(JSON.stringify(value));
      puts++;
      r.report(value);
    };
    // Staggered across the interval, as proxies started at different times are.
    let interval: NodeJS.Timeout | undefined;
    const first = setTimeout(() => {
      tick();
      interval = setInterval(tick, INTERVAL_MS);
    }, Math.random() * INTERVAL_MS);
    return () => {
      clearTimeout(first);
      clearInterval(interval);
    };
  });
  const latencies: number[] = [];
  // The probe's own puts are revisions too; they are not the registries'.
  while (Date.now() < until) {
    const t = performance.now();
    await probe.put('/bench-fleet/probe').value(String(t));
    latencies.push(performance.now() - t);
    await sleep(100);
  }
  for (const stop of timers) stop();
  await Promise.all(registries.map((r) => r.flushed()));
  const end = await status();
  const used = cpu().etcd;
  await Promise.all(registries.map((r) => r.stop()));
  for (const c of [probe, ...clients]) c.close();
  const perDay = 86_400 / SECONDS;
  const revisions = end.revision - start.revision - latencies.length;
  return {
    puts,
    putsPerSecond: puts / SECONDS,
    valueBytes: entry ? Buffer.byteLength(JSON.stringify(entry)) : 0,
    bytesPerSecond: bytes / SECONDS,
    etcdCpuShare: used === null ? null : used / SECONDS,
    revisions,
    dbGrowthBytes: end.dbSize - start.dbSize,
    historyPerDayBytes: bytes * perDay,
    revisionsPerDay: revisions * perDay,
    putP50Ms: quantile(latencies, 0.5),
    putP99Ms: quantile(latencies, 0.99),
  };
}

async function pull(children: Children, summaries: string[]) {
  const servers: Server[] = [];
  const proxies = [];
  let served = 0;
  for (let i = 0; i < PROXIES; i++) {
    const body = summaries[i % summaries.length]!;
    const server = createServer((_req, res) => {
      served += body.length;
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    proxies.push({ id: `proxy-${i}`, admin: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
  }
  children.add(async () => {
    for (const s of servers) s.close();
  });
  await askFleet(proxies, 20); // connections and JIT warm
  const times: number[] = [];
  const cpu = process.cpuUsage();
  served = 0;
  const asks = 20;
  let answer = 0;
  for (let i = 0; i < asks; i++) {
    const t = performance.now();
    const traffic = await askFleet(proxies, 20);
    times.push(performance.now() - t);
    answer = Buffer.byteLength(JSON.stringify(traffic));
    if (traffic.proxies.some((p) => 'error' in p)) throw new Error(`a proxy was not counted: ${JSON.stringify(traffic.proxies.find((p) => 'error' in p))}`);
  }
  const used = process.cpuUsage(cpu);
  return { askP50Ms: quantile(times, 0.5), askP99Ms: quantile(times, 0.99), bytesPerAsk: served / asks, answerBytes: answer, cpuMsPerAsk: (used.user + used.system) / 1000 / asks };
}

async function main(children: Children) {
  console.log(`${PROXIES} proxies, ${ROUTES} routes each, ${REQUESTS_PER_SECOND} requests/s per proxy spread Zipf-like over the routes (every route busy)`);
  const s = summaryNumbers();
  console.log('\nsummary of one proxy:');
  console.log(`  traffic window in memory: ${s.heapBytes === null ? 'run with --expose-gc to measure' : `${mb(s.heapBytes)} (${(s.heapBytes / ROUTES).toFixed(0)} bytes per route)`}`);
  console.log(`  summarizing it: ${s.summaryMs.toFixed(2)} ms (p50 of 20)`);
  console.log(`  as JSON: busiest 20 routes ${kb(s.top20Bytes)}, busiest 200 ${kb(s.top200Bytes)}, all ${ROUTES} ${kb(s.allBytes)}`);

  const seeds = [1, 2, 3, 4].map((seed) => busyRecorder(ROUTES, seed).summary(20));
  const status = { id: 'proxy-0', pid: 1, version: 42, hash: 'f'.repeat(64), revision: 1234, etcd: 'connected', routes: ROUTES, ready: true, draining: false, lastError: null, resyncs: 0, configSource: 'etcd', startedAt: new Date().toISOString(), appliedAt: new Date().toISOString(), lastApplyMs: 3.1, propagationMs: 25, recentApplies: Array.from({ length: 10 }, (_, i) => ({ version: 42 - i, committedAt: new Date().toISOString(), appliedAt: new Date().toISOString(), propagationMs: 20 + i })), listen: { http: 'http://10.0.0.1:8080', admin: 'http://10.0.0.1:9901' }, unhealthyTargets: [], unhealthyTargetCount: 0 };

  const dir = await mkdtemp(join(tmpdir(), 'signalbox-bench-fleet-'));
  const etcd = new ManagedEtcd({ dataDir: join(dir, 'etcd') });
  children.add(async () => {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await etcd.start();
  console.log(`\npush: ${PROXIES} registry entries put every ${INTERVAL_MS / 1000} s for ${SECONDS} s (one etcd, this machine):`);
  const rows: [string, Awaited<ReturnType<typeof etcdUnder>>][] = [];
  rows.push(['idle (entries written on change only, as now)', await etcdUnder(etcd, null)]);
  rows.push(['status + newest bucket of the busiest 20', await etcdUnder(etcd, { ...status, traffic: newestOnly(seeds[0]!) })]);
  rows.push(['status + 5-minute window of the busiest 20', await etcdUnder(etcd, { ...status, traffic: seeds[0] })]);
  for (const [name, r] of rows) {
    console.log(`  ${name}: entry ${kb(r.valueBytes)}, ${r.putsPerSecond.toFixed(1)} puts/s, ${kb(r.bytesPerSecond)}/s; etcd CPU ${r.etcdCpuShare === null ? '?' : `${(r.etcdCpuShare * 100).toFixed(1)} %`} of a core; ` +
      `${r.revisions} revisions, database +${mb(Math.max(0, r.dbGrowthBytes))}; a 1-key put every 100 ms took p50 ${r.putP50Ms.toFixed(1)} ms, p99 ${r.putP99Ms.toFixed(1)} ms; ` +
      `a day: ${(r.revisionsPerDay / 1e6).toFixed(2)} M revisions, ${(r.historyPerDayBytes / 1024 ** 3).toFixed(2)} GiB of values kept until compaction`);
  }

  const p = await pull(children, seeds.map((x) => JSON.stringify(x)));
  console.log(`\npull: the control plane asks ${PROXIES} admin ports at once (20 asks; servers in this process):`);
  console.log(`  one ask: p50 ${p.askP50Ms.toFixed(0)} ms, p99 ${p.askP99Ms.toFixed(0)} ms, ${mb(p.bytesPerAsk)} read, ${p.cpuMsPerAsk.toFixed(0)} ms CPU (serving included); answer ${kb(p.answerBytes)}; etcd: one range read of the registry`);
  console.log(JSON.stringify({ proxies: PROXIES, routes: ROUTES, seconds: SECONDS, summary: s, push: Object.fromEntries(rows), pull: p }));
}

await runBench(main);
