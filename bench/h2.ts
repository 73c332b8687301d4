// HTTP/2 on the TLS listener: requests per second h2load gets through Signalbox's TLS listener,
// next to nginx and Caddy doing the same on this machine: TLS, HTTP/2 (ALPN h2), a reverse proxy
// to the same HTTP/1.1 upstream (nginx answering a fixed 200, keep-alive).
//   node dist/bench/h2.js [--duration 10] [--warmup 2] [--clients 50] [--streams 10]
//                         [--only signalbox,nginx,caddy]
// h2load (Debian's nghttp2-client; scripts/ensure-bench-peers.sh installs it) runs one thread
// with --clients connections and --streams concurrent streams on each. Every proxy is one process
// (nginx with master_process off; Caddy with GOMAXPROCS=1, so it runs Go code on one core at a
// time as the others do); they share this machine's cores with h2load and the upstream, nothing
// pinned, so the ratios say more than the absolute numbers.
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from './args.js';
import { freePort } from '../src/util/ports.js';
import { waitFor } from '../test/helpers/launch.js';
import { CERT_A, KEY_A } from '../test/unit/tls-fixtures.js';
import { cpuMeter } from './cpu.js';
import { findProgram, startNginx, startUpstream, tempDir, type Upstream } from './peers.js';
import { BenchStack, runBench, waitReady, type Children } from './stack.js';
import { cores, int, ms, perCore, printTargets, ratio } from './table.js';

const values = benchArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    clients: { type: 'string', default: '50' },
    streams: { type: 'string', default: '10' },
    only: { type: 'string' },
  },
});
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const CLIENTS = Number(values.clients);
const STREAMS = Number(values.streams);
const TARGETS = ['signalbox', 'nginx', 'caddy'];
const ONLY = values.only === undefined ? TARGETS : ['signalbox', ...values.only.split(',')];
for (const name of ONLY) if (!TARGETS.includes(name)) throw new Error(`--only ${name}: one of ${TARGETS.join(', ')}`);

/** The name the test certificate is for; h2load connects to 127.0.0.1 and sends it as SNI. */
const HOST = 'a.example.test';
const PATH = '/bench/items/42';

interface Result {
  rps: number;
  meanMs: number;
  succeeded: number;
  failed: number;
  non2xx: number;
  proxyCores: number | null;
}

interface Target {
  name: string;
  at: { port: number; pid: number } | { skipped: string };
  result?: Result;
}

/** A 200 over HTTPS from the proxy at `port` (certificate not checked: it is the test one). */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: PATH, servername: HOST, headers: { host: HOST }, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** h2load's summary lines. */
export function parseH2load(out: string): Omit<Result, 'proxyCores'> {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`h2load output without ${re}: ${out}`);
    return Number(m[1]);
  };
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
  if (!mean) throw new Error(`h2load output without its request times: ${out}`);
  const unit = { us: 0.001, ms: 1, s: 1000 }[mean[2] as 'us' | 'ms' | 's'];
  const non2xx = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  return {
    rps: num(/finished in [\d.]+s, ([\d.]+) req\/s/),
    meanMs: Number(mean[1]) * unit,
    succeeded: num(/requests: .*?(\d+) succeeded/),
    failed: num(/requests: .*?(\d+) failed/) + num(/requests: .*?(\d+) errored/),
    non2xx: non2xx ? non2xx.slice(1).reduce((s, n) => s + Number(n), 0) : 0,
  };
}

async function h2load(children: Children, port: number, seconds: number, warmup: number): Promise<Omit<Result, 'proxyCores'>> {
  const args = ['-t1', `-c${CLIENTS}`, `-m${STREAMS}`, `-D${seconds}`, `--warm-up-time=${warmup}`, `--connect-to=127.0.0.1:${port}`, `https://${HOST}:${port}${PATH}`];
  const p = children.spawn('h2load', args);
  const [code] = (await once(p.proc, 'close')) as [number | null];
  if (code !== 0) throw new Error(`h2load exited with ${code}: ${p.output()}`);
  if (!/application protocol: h2/i.test(p.output())) throw new Error(`h2load did not negotiate h2: ${p.output()}`);
  return parseH2load(p.output());
}

async function measure(children: Children, at: { port: number; pid: number }): Promise<Result> {
  const cpu = cpuMeter({ proxy: at.pid });
  const r = await h2load(children, at.port, DURATION, WARMUP);
  const used = cpu().proxy;
  // h2load keeps the same load through its warm-up, so CPU over both is the rate of the measured part.
  return { ...r, proxyCores: used === null ? null : used / (DURATION + WARMUP) };
}

async function startNginxH2(children: Children, nginx: string, dir: string, upstream: Upstream): Promise<Target['at']> {
  const port = await freePort();
  const servers = upstream.targets.map((t) => `server ${new URL(t).host};`).join(' ');
  const p = await startNginx(children, nginx, 'h2', [
    `  upstream up { ${servers} keepalive 64; }`,
    `  server { listen 127.0.0.1:${port} ssl http2; ssl_certificate ${join(dir, 'cert.pem')}; ssl_certificate_key ${join(dir, 'key.pem')};`,
    '    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }',
  ].join('\n'));
  await waitFor('nginx h2 proxy', () => answers(port));
  return { port, pid: p.proc.pid! };
}

async function startCaddyH2(children: Children, caddy: string, dir: string, upstream: Upstream): Promise<Target['at']> {
  const port = await freePort();
  const caddyfile = join(dir, 'Caddyfile');
  await writeFile(caddyfile, [
    '{',
    '  admin off',
    '  auto_https off',
    `  storage file_system ${join(dir, 'caddy')}`,
    '  servers {',
    '    protocols h1 h2',
    '  }',
    '  log {',
    '    level ERROR',
    '  }',
    '}',
    `https://${HOST}:${port} {`,
    '  bind 127.0.0.1',
    `  tls ${join(dir, 'cert.pem')} ${join(dir, 'key.pem')}`,
    `  reverse_proxy ${upstream.targets.map((t) => new URL(t).host).join(' ')}`,
    '}',
  ].join('\n'));
  const p = children.spawn(caddy, ['run', '--config', caddyfile, '--adapter', 'caddyfile'], { GOMAXPROCS: '1', XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir });
  await waitFor(`caddy (${p.output()})`, () => answers(port));
  return { port, pid: p.proc.pid! };
}

async function main(children: Children) {
  if (!findProgram('h2load')) throw new Error('h2load not installed: scripts/ensure-bench-peers.sh installs Debian\'s nghttp2-client');
  const nginx = findProgram('nginx');
  const caddy = findProgram('caddy');
  const upstream = await startUpstream(children, nginx);
  const dir = await tempDir(children, 'h2');
  await writeFile(join(dir, 'cert.pem'), CERT_A);
  await writeFile(join(dir, 'key.pem'), KEY_A);

  const stack = await BenchStack.start(children);
  await stack.putConfig({
    upstreams: [{ id: 'up', targets: upstream.targets.map((url) => ({ url })) }],
    routes: [{ id: 'bench', match: { paths: ['/bench/*'] }, upstream: 'up' }],
    certificates: [{ id: 'a', snis: [HOST], cert: CERT_A, key: KEY_A }],
  });
  const tlsPort = await freePort();
  const proxy = await stack.startProxy('bench-h2', undefined, ['--tls-listen', `127.0.0.1:${tlsPort}`]);
  await waitReady(proxy);
  await waitFor('signalbox TLS listener', () => answers(tlsPort));

  const targets: Target[] = [{ name: 'signalbox', at: { port: tlsPort, pid: proxy.pid } }];
  if (ONLY.includes('nginx')) targets.push({ name: 'nginx', at: nginx ? await startNginxH2(children, nginx, dir, upstream) : { skipped: 'not installed' } });
  if (ONLY.includes('caddy')) targets.push({ name: 'caddy', at: caddy ? await startCaddyH2(children, caddy, dir, upstream) : { skipped: 'not installed' } });

  console.log(`HTTP/2 over TLS, GET ${PATH}: h2load, 1 thread, ${CLIENTS} connections x ${STREAMS} streams, ${DURATION} s per target after ${WARMUP} s warm-up`);
  console.log(`  upstream: ${upstream.kind}, HTTP/1.1 keep-alive from every proxy; every proxy is one process`);
  console.log(`  ${availableParallelism()} cores shared by h2load, the proxy and the upstream, nothing pinned; load average at start ${loadavg()[0]!.toFixed(2)}`);
  for (const t of targets) {
    if ('port' in t.at) t.result = await measure(children, t.at);
  }

  console.log('');
  printTargets(['target', 'req/s', 'mean ms', 'succeeded', 'failed', 'non-2xx', 'proxy CPU (cores)', 'req/s per proxy core'], targets, (r) => [
    int(r.rps), ms(r.meanMs), int(r.succeeded), int(r.failed), int(r.non2xx), cores(r.proxyCores), perCore(r.rps, r.proxyCores),
  ]);
  const sb = targets[0]!.result!;
  const ratios: Record<string, number> = {};
  for (const t of targets.slice(1)) {
    if (!t.result) continue;
    ratios[t.name] = sb.rps / t.result.rps;
    console.log(`  signalbox / ${t.name}: req/s ${ratio(sb.rps, t.result.rps)}, mean latency ${ratio(sb.meanMs, t.result.meanMs)}`);
  }
  const results = Object.fromEntries(targets.map((t) => [t.name, t.result ?? t.at]));
  console.log(JSON.stringify({ bench: 'h2', node: process.version, cores: availableParallelism(), clients: CLIENTS, streams: STREAMS, durationS: DURATION, upstream: upstream.kind, results, ratios }));
}

await runBench(main);
