// Propagation: from the control plane's answer to a write until every proxy reports the new
// version in /status. Real etcd, a real control plane and N real proxy processes on loopback.
//   npm run bench:propagation -- [--proxies 8] [--routes 2000] [--changes 20] [--workers 1]
//   --workers   each proxy as `proxy --workers N`: a version counts once every worker serves it
//
// Each proxy stamps appliedAt (wall clock, ms) when it swaps; all processes share this machine's
// clock, so appliedAt minus the wall time of the commit answer is the propagation delay, without
// the bench's own polling (which would load the same 2 cores) shaping the number. A proxy can
// apply before the answer reaches the bench: that counts as 0.
import { benchArgs } from './args.js';
import { oneRouteChangeDoc as config } from './routes.js';
import { BenchStack, runBench, waitReady, waitVersion, type Children } from './stack.js';
import { quantile } from './stats.js';

const values = benchArgs({
  options: {
    proxies: { type: 'string', default: '8' },
    routes: { type: 'string', default: '2000' },
    changes: { type: 'string', default: '20' },
    workers: { type: 'string', default: '1' },
  },
});
const WORKERS = Number(values.workers);
const N = Number(values.proxies);
const R = Number(values.routes);
const CHANGES = Number(values.changes);


async function main(children: Children) {
  const stack = await BenchStack.start(children);
  let t = performance.now();
  const first = await stack.putConfig(config(R, 0));
  console.log(`import of ${R} routes: version ${first} committed in ${(performance.now() - t).toFixed(0)} ms`);

  const proxies = [];
  for (let i = 0; i < N; i++) proxies.push(await stack.startProxy(`bench-${i}`, undefined, WORKERS > 1 ? ['--workers', String(WORKERS)] : []));
  t = performance.now();
  await Promise.all(proxies.map((p) => waitReady(p)));
  console.log(`${N} proxies${WORKERS > 1 ? ` of ${WORKERS} workers each` : ''} started and ready with ${R} routes in ${(performance.now() - t).toFixed(0)} ms`);

  const samples: number[] = [];
  const slowest: number[] = [];
  for (let c = 1; c <= CHANGES; c++) {
    const version = await stack.putConfig(config(R, c));
    const answeredAt = performance.timeOrigin + performance.now();
    const done = await Promise.all(proxies.map(async (p) => Math.max(0, (await waitVersion(p, version)) - answeredAt)));
    samples.push(...done);
    slowest.push(Math.max(...done));
  }
  const fmt = (x: number) => `${x.toFixed(1)} ms`;
  console.log(`propagation over ${CHANGES} changes x ${N} proxies (${R} routes; commit answer → the proxy swapped to it, by its /status appliedAt):`);
  console.log(`  per proxy:   p50 ${fmt(quantile(samples, 0.5))}  p90 ${fmt(quantile(samples, 0.9))}  max ${fmt(Math.max(...samples))}`);
  console.log(`  whole fleet: p50 ${fmt(quantile(slowest, 0.5))}  p90 ${fmt(quantile(slowest, 0.9))}  max ${fmt(Math.max(...slowest))}`);
}

await runBench(main);
