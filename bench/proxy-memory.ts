// The resident memory of a real `signalbox proxy` process serving --routes routes: its etcd watch,
// registry entry, admin port and runtime, as a deployment runs it (bench:apply measures the
// proxy's runtime alone, fed over IPC).
//   npm run bench:memory -- [--routes 10000] [--runs 3] [--quiet-ms 10000]
//
// etcd and a control plane (BenchStack); the routes PUT once through the API; then --runs proxies
// one after the other, each stopped before the next starts. Per run: RSS (VmRSS from /proc) once
// the proxy is ready, and again after --quiet-ms with no requests and no change; heapUsed from its
// /metrics at the first reading. Each proxy runs through bin/signalbox as a deployment does (its
// young generation at 2 × 8 MB); a semi-space size in the bench's NODE_OPTIONS replaces that, e.g.
// `NODE_OPTIONS=--max-semi-space-size=16 node dist/bench/proxy-memory.js` for V8's default.
import { setTimeout as sleep } from 'node:timers/promises';
import { benchArgs } from './args.js';
import { rssMb } from './cpu.js';
import { oneRouteChangeDoc } from './routes.js';
import { BenchStack, runBench, waitReady, type Children } from './stack.js';

const values = benchArgs({
  options: {
    routes: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    'quiet-ms': { type: 'string', default: '10000' },
  },
});
const ROUTES = Number(values.routes);
const RUNS = Number(values.runs);
const QUIET_MS = Number(values['quiet-ms']);
if ([ROUTES, RUNS].some((n) => !Number.isInteger(n) || n < 1) || !(QUIET_MS >= 0)) throw new Error('--routes and --runs take positive integers, --quiet-ms a number of ms');

async function heapUsedMb(admin: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\d+)/m.exec(text)?.[1]) / 2 ** 20;
}

async function main(children: Children) {
  const stack = await BenchStack.start(children);
  await stack.putConfig(oneRouteChangeDoc(ROUTES, 0));
  console.log(`a signalbox proxy serving ${ROUTES.toLocaleString('en-US')} routes, ${RUNS} runs (Node ${process.version}${process.env.NODE_OPTIONS ? `, NODE_OPTIONS=${process.env.NODE_OPTIONS}` : ''})`);
  const runs: { rssReadyMb: number | null; rssQuietMb: number | null; heapUsedMb: number }[] = [];
  for (let r = 1; r <= RUNS; r++) {
    const mark = children.mark();
    const proxy = await stack.startProxy(`memory-${r}`);
    await waitReady(proxy);
    const run = { rssReadyMb: rssMb(proxy.pid), heapUsedMb: await heapUsedMb(proxy.admin), rssQuietMb: null as number | null };
    await sleep(QUIET_MS);
    run.rssQuietMb = rssMb(proxy.pid);
    await children.stopSince(mark);
    runs.push(run);
    console.log(`  run ${r}: RSS ${run.rssReadyMb ?? '-'} MB ready, ${run.rssQuietMb ?? '-'} MB ${QUIET_MS / 1000} s later; heapUsed ${run.heapUsedMb.toFixed(1)} MB`);
  }
  console.log(JSON.stringify({ bench: 'proxy-memory', node: process.version, nodeOptions: process.env.NODE_OPTIONS ?? null, routes: ROUTES, runs }));
}

await runBench(main);
