// Watch fan-out: N light watchers (the proxy's ConfigWatcher on an etcd client of its own, no HTTP,
// no compile) follow one etcd, directly and through `etcd grpc-proxy`, while one-route changes
// are written to etcd as the control plane writes them.
//   npm run bench:fanout -- [--watchers 100,500,1000] [--via direct,grpc-proxy] [--procs 4]
//                           [--changes 20] [--routes 200] [--pause-ms 200] [--workers 8]
//
// `--via relay` is how a `proxy --workers N` follows etcd (src/proxy/relayed-watch.ts): one
// watch in a primary process, each state's changed entries passed on over IPC to --workers
// follower processes that fold them into a state of their own (bench/watch-fanout-child.ts),
// measured beside the way before it, a watch per worker. It starts a relay process per --workers
// watchers, each with its followers; compare it with `direct` at one watcher per process, e.g.
// `--via direct,relay --watchers 8,32 --procs 32 --workers 8`: a fleet of 1 and 4 proxies at 8
// workers, each worker with a watch of its own, against one watch per proxy. Propagation then
// ends when a follower has the state, and the watchers' CPU is the relays' and the followers'.
//
// Per fleet size and path: propagation (commit answer → a watcher emitted the state; a watcher
// that got it before the answer counts 0) p50/p99 over every watcher and change, and the whole
// fleet's (slowest watcher per change); CPU seconds per change of etcd, of the grpc-proxy and of
// the watcher processes (from /proc/<pid>/stat before and after the changes), and the same for
// the start, when every watcher reads the whole config once.
//
// The watchers run in --procs child processes (default 4), so one Node event loop working through
// hundreds of watch responses is not what is measured; more processes than that buys nothing on a
// 2-core machine but memory. Each process reports its event-loop delay p99 over the changes: when
// that is near the propagation p99, the watcher processes, not etcd, set the tail. Every process
// here (etcd, the grpc-proxy, the watchers) shares this machine's cores; on a real fleet each
// proxy has its own, so the propagation numbers are upper bounds and etcd's CPU is the figure that
// carries over. Everything started is ended by PID, also on Ctrl-C; a case that does not start
// within START_TIMEOUT_MS or a change no watcher reports within CHANGE_TIMEOUT_MS is cut short
// and says so. The last line of the output is the whole result as JSON.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchArgs } from './args.js';
import type { Config } from '../src/config/schema.js';
import { validateDocument } from '../src/config/validate.js';
import { ManagedEtcd } from '../src/dev/managed-etcd.js';
import { createEtcdClient } from '../src/store/client.js';
import { ConfigWriter } from '../src/store/config-writer.js';
import { Keys } from '../src/store/keys.js';
import { GrpcProxy } from '../test/helpers/grpc-proxy.js';
import { childPids, type Spawned } from '../test/helpers/launch.js';
import { cpuMeter } from './cpu.js';
import { IpcPeer } from './ipc-peer.js';
import { oneRouteChangeDoc } from './routes.js';
import { runBench, type Children } from './stack.js';
import { quantile } from './stats.js';

const VIA = ['direct', 'grpc-proxy', 'relay'] as const;
type Via = (typeof VIA)[number];

const values = benchArgs({
  options: {
    watchers: { type: 'string', default: '100,500,1000' },
    via: { type: 'string', default: 'direct,grpc-proxy' },
    procs: { type: 'string', default: '4' },
    changes: { type: 'string', default: '20' },
    routes: { type: 'string', default: '200' },
    'pause-ms': { type: 'string', default: '200' },
    workers: { type: 'string', default: '8' },
  },
});
const SIZES = values.watchers.split(',').map(Number);
const VIAS = values.via.split(',') as Via[];
const PROCS = Number(values.procs);
const CHANGES = Number(values.changes);
const ROUTES = Number(values.routes);
const PAUSE_MS = Number(values['pause-ms']);
const WORKERS = Number(values.workers);
const START_TIMEOUT_MS = 300_000;
const CHANGE_TIMEOUT_MS = 15_000;
for (const via of VIAS) if (!VIA.includes(via)) throw new Error(`--via: "${via}" is none of ${VIA.join(', ')}`);
if ([...SIZES, PROCS, CHANGES, ROUTES, WORKERS].some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--watchers, --procs, --changes, --routes and --workers take positive integers');

const CHILD = fileURLToPath(new URL('./watch-fanout-child.js', import.meta.url));
const keys = new Keys('/fanout');
const meta = { author: 'bench', message: 'fan-out', source: 'bench' };

/** The config after change c (one route moved to the other upstream), validated as the control plane would. */
function config(c: number): Config {
  const result = validateDocument(oneRouteChangeDoc(ROUTES, c));
  if (!result.ok) throw new Error(`the bench's config is invalid: ${JSON.stringify(result.issues)}`);
  return result.config;
}

/** A watcher process and its IPC: one request at a time, answered by the next message of its type. */
class WatcherProcess extends IpcPeer {
  readonly ready: Promise<{ rssMb: number; entries: number[] }>;

  constructor(
    readonly spawned: Spawned,
    readonly count: number,
  ) {
    super(spawned.proc, () => spawned.output().slice(-500));
    this.ready = this.next('ready') as unknown as Promise<{ rssMb: number; entries: number[] }>;
  }
}

interface CaseResult {
  watchers: number;
  via: string;
  procs: number;
  startS: number;
  startCpuS: Record<string, number | null>;
  changes: number;
  propagationMs: { p50: number; p99: number; max: number };
  fleetMs: { p50: number; p99: number; max: number };
  beforeAnswer: number;
  missed: number;
  cpuPerChangeMs: Record<string, number | null>;
  loopDelayP99Ms: number;
  watcherRssMb: number;
  note?: string;
}

/** The processes whose CPU is counted besides the watchers (undefined: not running). */
type Pids = { etcd: number | undefined; proxy: number | undefined };

async function runCase(children: Children, endpoint: string, pids: Pids, writer: ConfigWriter, n: number, via: Via, firstChange: number): Promise<CaseResult> {
  const relay = via === 'relay';
  const procs = relay ? Math.ceil(n / WORKERS) : Math.min(PROCS, n);
  const started = performance.now();
  const startMeter = cpuMeter(pids);
  const workers: WatcherProcess[] = [];
  for (let i = 0; i < procs; i++) {
    const count = relay ? Math.min(WORKERS, n - i * WORKERS) : Math.floor(n / procs) + (i < n % procs ? 1 : 0);
    const args = [CHILD, '--etcd', endpoint, '--prefix', keys.root, '--count', String(count), ...(relay ? ['--relay'] : [])];
    workers.push(new WatcherProcess(children.spawn(process.execPath, args, {}, { ipc: true }), count));
  }
  const stopWorkers = () => Promise.all(workers.map((w) => w.spawned.stop()));
  const ready = await Promise.race([Promise.all(workers.map((w) => w.ready)), sleep(START_TIMEOUT_MS, null, { ref: false })]);
  if (!ready || ready.some((r) => 'exited' in r)) {
    const why = ready ? ready.map((r) => (r as { exited?: string }).exited).filter(Boolean).join('; ') : `not ready within ${START_TIMEOUT_MS / 1000} s`;
    await stopWorkers();
    throw new Error(`${n} watchers via ${via}: ${why}`);
  }
  const short = ready.flatMap((r) => r.entries).filter((size) => size !== ROUTES + 2).length;
  if (short > 0) {
    await stopWorkers();
    throw new Error(`${n} watchers via ${via}: ${short} started with a state other than the ${ROUTES + 2} objects written`);
  }
  const startS = (performance.now() - started) / 1000;
  const startCpuS = startMeter();
  // A relay's followers are its children.
  const watcherPids = workers.flatMap((w) => [w.spawned.proc.pid!, ...(relay ? childPids(w.spawned.proc.pid!) : [])]);
  const workerPids = Object.fromEntries(watcherPids.map((pid, i) => [`w${i}`, pid]));
  const meter = cpuMeter<string>({ ...pids, ...workerPids });
  await Promise.all(workers.map((w) => w.request({ type: 'stats' }, 'stats'))); // resets the loop-delay histograms

  const samples: number[] = [];
  const slowest: number[] = [];
  let beforeAnswer = 0;
  let missed = 0;
  let note: string | undefined;
  for (let c = firstChange; c < firstChange + CHANGES; c++) {
    const res = await writer.write(config(c), meta);
    const answeredAt = performance.timeOrigin + performance.now();
    const seen = await Promise.all(workers.map((w) => w.request<{ times: (number | null)[] }>({ type: 'wait', rev: res.revision, timeoutMs: CHANGE_TIMEOUT_MS }, 'seen')));
    const times = seen.flatMap((s) => s.times ?? []);
    const got = times.filter((t): t is number => t !== null);
    missed += n - got.length;
    beforeAnswer += got.filter((t) => t < answeredAt).length;
    const delays = got.map((t) => Math.max(0, t - answeredAt));
    samples.push(...delays);
    if (delays.length > 0) slowest.push(Math.max(...delays));
    if (got.length === 0) {
      note = `change ${c - firstChange + 1}: no watcher reported it within ${CHANGE_TIMEOUT_MS / 1000} s; stopped this case`;
      break;
    }
    await sleep(PAUSE_MS);
  }
  const cpu = meter();
  const stats = await Promise.all(workers.map((w) => w.request<{ loopDelayP99Ms: number; rssMb: number }>({ type: 'stats' }, 'stats')));
  await stopWorkers();

  const done = slowest.length;
  const perChange = (s: number | null) => (s === null ? null : (s * 1000) / done);
  const watcherCpu = Object.keys(workerPids).reduce((sum, k) => sum + (cpu[k] ?? 0), 0);
  const stat = (xs: number[]) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: xs.length ? Math.max(...xs) : NaN });
  return {
    watchers: n,
    via,
    procs,
    startS,
    startCpuS,
    changes: done,
    propagationMs: stat(samples),
    fleetMs: stat(slowest),
    beforeAnswer,
    missed,
    cpuPerChangeMs: { etcd: perChange(cpu.etcd ?? null), proxy: pids.proxy === undefined ? null : perChange(cpu.proxy ?? null), watchers: perChange(watcherCpu) },
    loopDelayP99Ms: Math.max(...stats.map((s) => s.loopDelayP99Ms ?? NaN)),
    watcherRssMb: stats.reduce((sum, s) => sum + (s.rssMb ?? 0), 0),
    ...(note ? { note } : {}),
  };
}

const fmt = (x: number | null, digits = 1) => (x === null || Number.isNaN(x) ? '-' : x.toFixed(digits));

/** The table: header, width, cell. */
const COLUMNS: [string, number, (r: CaseResult) => string][] = [
  ['watchers', 8, (r) => String(r.watchers)],
  ['via', 11, (r) => r.via],
  ['p50', 7, (r) => fmt(r.propagationMs.p50)],
  ['p99', 7, (r) => fmt(r.propagationMs.p99)],
  ['fleet p50', 10, (r) => fmt(r.fleetMs.p50)],
  ['fleet p99', 10, (r) => fmt(r.fleetMs.p99)],
  ['early', 6, (r) => `${Math.round((100 * r.beforeAnswer) / Math.max(1, r.watchers * r.changes))}%`],
  ['etcd', 7, (r) => fmt(r.cpuPerChangeMs.etcd)],
  ['proxy', 7, (r) => fmt(r.cpuPerChangeMs.proxy)],
  ['watchers', 9, (r) => fmt(r.cpuPerChangeMs.watchers)],
  ['loop p99', 9, (r) => fmt(r.loopDelayP99Ms)],
  ['start s', 8, (r) => fmt(r.startS)],
  ['etcd s', 7, (r) => fmt(r.startCpuS.etcd ?? null, 2)],
  ['proxy s', 8, (r) => fmt(r.startCpuS.proxy ?? null, 2)],
];
const row = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padEnd(COLUMNS[i]![1]) : c.padStart(COLUMNS[i]![1]))).join(' ');

function printCase(r: CaseResult): void {
  console.log(row(COLUMNS.map(([, , cell]) => cell(r))));
  if (r.missed > 0) console.log(`  ${r.missed} watcher×change samples missing (not seen within ${CHANGE_TIMEOUT_MS / 1000} s)`);
  if (r.note) console.log(`  ${r.note}`);
}

/** etcd's CPU per change with nobody watching: what the write itself costs it (the writer reads the prefix, then commits). */
async function writeCostMs(writer: ConfigWriter, etcdPid: number | undefined, firstChange: number): Promise<number | null> {
  const meter = cpuMeter({ etcd: etcdPid });
  for (let c = firstChange; c < firstChange + CHANGES; c++) {
    await writer.write(config(c), meta);
    await sleep(PAUSE_MS);
  }
  const { etcd } = meter();
  return etcd === null ? null : (etcd * 1000) / CHANGES;
}

async function main(children: Children) {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-fanout-'));
  children.add(() => rm(dir, { recursive: true, force: true }));
  const etcd = new ManagedEtcd({ dataDir: join(dir, 'etcd') });
  children.add(() => etcd.stop());
  await etcd.start();
  const client = createEtcdClient(etcd.endpoint);
  children.add(async () => client.close());
  const writer = new ConfigWriter(client, keys);
  await writer.write(config(0), meta);

  console.log(`watch fan-out: ${CHANGES} one-route changes on ${ROUTES} routes, watchers in ${PROCS} processes, ${PAUSE_MS} ms between changes (Node ${process.version})`);
  if (VIAS.includes('relay')) console.log(`relay: one watcher per ${WORKERS} watchers, passing each state on to them over IPC (each of those a process)`);
  const writeCost = await writeCostMs(writer, etcd.pid, 1);
  let change = 1 + CHANGES;
  console.log(`etcd CPU per change with no watcher (the write itself): ${fmt(writeCost)} ms`);
  console.log('propagation (ms): commit answer → the watcher emitted the state, per watcher and per change (fleet: the slowest of each change);');
  console.log('early: share of those emitted before the answer reached the writer (counted as 0); CPU: ms per change; loop p99: worst watcher process');
  console.log(row(COLUMNS.map(([header]) => header)));
  const results: CaseResult[] = [];
  for (const via of VIAS) {
    let proxy: GrpcProxy | null = null;
    if (via === 'grpc-proxy') {
      const started = new GrpcProxy(etcd.clientPort, join(dir, 'grpc-proxy'));
      children.add(() => started.stop());
      await started.start();
      proxy = started;
    }
    for (const n of SIZES) {
      const r = await runCase(children, proxy?.endpoint ?? etcd.endpoint, { etcd: etcd.pid, proxy: proxy?.pid }, writer, n, via, change);
      change += CHANGES;
      results.push(r);
      printCase(r);
    }
    await proxy?.stop();
  }
  console.log('start s: until every watcher had read the config and opened its watch; etcd s, proxy s: CPU seconds they used meanwhile');
  console.log(JSON.stringify({ node: process.version, procs: PROCS, workers: WORKERS, routes: ROUTES, changes: CHANGES, writeCostMs: writeCost, results }));
}

await runBench(main);
