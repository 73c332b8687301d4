// WebSocket: echoed messages per second through a Signalbox proxy, next to the echo server
// directly (the ceiling) and nginx proxying the same upgrade, under the same load.
//   node dist/bench/websocket.js [--duration 10] [--warmup 2] [--connections 50] [--size 64]
//                                [--in-flight 1] [--only signalbox,direct,nginx]
// Each of --connections WebSocket sessions keeps --in-flight messages of --size bytes out and
// sends the next when one comes back, so the count is of round trips. The load (`ws` clients)
// runs in this process, the echo server (`ws`) and each proxy in their own; all share this
// machine's cores and nothing is pinned, so the ratios say more than the absolute numbers.
import { fileURLToPath } from 'node:url';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { benchArgs } from './args.js';
import WebSocket from 'ws';
import { freePort } from '../src/util/ports.js';
import { cpuMeter } from './cpu.js';
import { findProgram, startNginxProxy, waitServing } from './peers.js';
import { BenchStack, runBench, waitReady, type Children } from './stack.js';
import { quantile } from './stats.js';
import { cores, int, ms, perCore, printTargets, ratio } from './table.js';

const values = benchArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    size: { type: 'string', default: '64' },
    'in-flight': { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const CONNECTIONS = Number(values.connections);
const SIZE = Number(values.size);
const IN_FLIGHT = Number(values['in-flight']);
const TARGETS = ['direct', 'signalbox', 'nginx'];
const ONLY = values.only === undefined ? TARGETS : ['signalbox', ...values.only.split(',')];
for (const name of ONLY) if (!TARGETS.includes(name)) throw new Error(`--only ${name}: one of ${TARGETS.join(', ')}`);

const NODE_SERVERS = fileURLToPath(new URL('./node-servers.js', import.meta.url));
const PATH = '/ws/echo';

interface Result {
  messages: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Sessions that failed to open or closed during the run. */
  failures: number;
  proxyCores: number | null;
}

interface Target {
  name: string;
  at: { url: string; pid?: number } | { skipped: string };
  result?: Result;
}

/** Open `n` sessions to `url` (ws://); each that fails to open counts. */
async function openAll(url: string, n: number): Promise<{ sessions: WebSocket[]; failed: number }> {
  const opened = await Promise.allSettled(
    Array.from({ length: n }, () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      }),
    ),
  );
  const sessions = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  return { sessions, failed: n - sessions.length };
}

/** Round trips on every session for `seconds`; latency of each from send to echo. */
async function run(url: string, seconds: number, pid: number | undefined): Promise<Result> {
  const { sessions, failed } = await openAll(url, CONNECTIONS);
  const payload = Buffer.alloc(SIZE, 0x61);
  const latencies: number[] = [];
  let messages = 0;
  let failures = failed;
  let running = true;
  const cpu = cpuMeter({ proxy: pid });
  const start = performance.now();
  for (const ws of sessions) {
    const sentAt: number[] = [];
    const send = () => {
      sentAt.push(performance.now());
      ws.send(payload, { binary: true });
    };
    ws.on('message', () => {
      latencies.push(performance.now() - sentAt.shift()!);
      messages++;
      if (running) send();
    });
    ws.once('close', () => running && failures++);
    for (let i = 0; i < IN_FLIGHT; i++) send();
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  running = false;
  const elapsed = (performance.now() - start) / 1000;
  const used = cpu().proxy;
  const counted = messages;
  for (const ws of sessions) ws.terminate();
  return {
    messages: counted,
    seconds: elapsed,
    perSecond: counted / elapsed,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    failures,
    proxyCores: used === null ? null : used / elapsed,
  };
}

async function measure(url: string, pid: number | undefined): Promise<Result> {
  await run(url, WARMUP, pid);
  return run(url, DURATION, pid);
}

/** nginx proxying WebSocket as its documentation shows (Upgrade and Connection set per hop). */
function nginxWebSocket(upstream: string) {
  return (port: number) =>
    [
      '  map $http_upgrade $connection_upgrade { default upgrade; "" close; }',
      `  upstream ws { server ${new URL(upstream).host}; keepalive 64; }`,
      `  server { listen 127.0.0.1:${port}; location / {`,
      '    proxy_pass http://ws; proxy_http_version 1.1;',
      '    proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;',
      '    proxy_read_timeout 1h; } }',
    ].join('\n');
}

async function main(children: Children) {
  const port = await freePort();
  const upstream = `http://127.0.0.1:${port}`;
  const echo = children.spawn(process.execPath, [NODE_SERVERS, 'ws-echo', String(port)]);
  await waitServing('ws echo server', upstream, echo);

  const stack = await BenchStack.start(children);
  await stack.putConfig({ upstreams: [{ id: 'ws', targets: [{ url: upstream }] }], routes: [{ id: 'ws', match: { paths: ['/ws/*'] }, upstream: 'ws' }] });
  const proxy = await stack.startProxy('bench-websocket');
  await waitReady(proxy);

  const nginx = findProgram('nginx');
  const targets: Target[] = [];
  if (ONLY.includes('direct')) targets.push({ name: 'direct', at: { url: upstream } });
  targets.push({ name: 'signalbox', at: proxy });
  if (ONLY.includes('nginx')) targets.push({ name: 'nginx', at: nginx ? await startNginxProxy(children, nginx, nginxWebSocket(upstream), PATH) : { skipped: 'not installed' } });

  console.log(`WebSocket echo round trips: ${CONNECTIONS} sessions, ${IN_FLIGHT} message(s) of ${SIZE} bytes in flight on each, ${DURATION} s per target after ${WARMUP} s warm-up`);
  console.log(`  load: ws clients in the bench process; upstream: ws echo server, 1 process; every proxy is one process`);
  console.log(`  ${availableParallelism()} cores shared by all of them, nothing pinned; load average at start ${loadavg()[0]!.toFixed(2)}`);
  for (const t of targets) {
    if ('url' in t.at) t.result = await measure(`${t.at.url.replace(/^http/, 'ws')}${PATH}`, t.at.pid);
  }

  console.log('');
  printTargets(['target', 'messages/s', 'p50 ms', 'p99 ms', 'failed sessions', 'proxy CPU (cores)', 'messages/s per proxy core'], targets, (r) => [
    int(r.perSecond), ms(r.p50Ms), ms(r.p99Ms), int(r.failures), cores(r.proxyCores), perCore(r.perSecond, r.proxyCores),
  ]);
  const sb = targets.find((t) => t.name === 'signalbox')!.result!;
  const ratios: Record<string, number> = {};
  for (const t of targets) {
    if (t.name === 'signalbox' || !t.result) continue;
    ratios[t.name] = sb.perSecond / t.result.perSecond;
    console.log(`  signalbox / ${t.name}: messages/s ${ratio(sb.perSecond, t.result.perSecond)}, p99 ${ratio(sb.p99Ms, t.result.p99Ms)}`);
  }
  const results = Object.fromEntries(targets.map((t) => [t.name, t.result ?? t.at]));
  console.log(JSON.stringify({
    bench: 'websocket', node: process.version, cores: availableParallelism(), connections: CONNECTIONS, inFlight: IN_FLIGHT, size: SIZE, durationS: DURATION, results, ratios,
  }));
}

await runBench(main);
