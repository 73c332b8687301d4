// What a rate-limit lease costs with --workers N: a worker asking the primary for tokens over
// node:cluster IPC, as PrimaryLink and ProxyPool do (LeaseBank on the primary's side).
//   npm run bench:leases -- [--leases 20000]
// One worker process; each lease for a key of its own (what a flood of new client addresses
// makes happen). Reports µs per lease asked one at a time (the wait a request sees) and asked
// all at once (how many the primary answers per second, its one core being the limit).
import cluster from 'node:cluster';
import { LeaseBank, type LeaseGrant, type LeaseRequest } from '../src/proxy/policies/rate-limit-leases.js';
import { benchArgs } from './args.js';

const { leases } = benchArgs({ options: { leases: { type: 'string', default: '20000' } } });
const N = Number(leases);

type Ask = { id: number; request: LeaseRequest };
type Answer = { id: number; grant: LeaseGrant } | { done: string };

if (cluster.isPrimary) {
  const bank = new LeaseBank(100_000);
  const worker = cluster.fork();
  worker.on('message', (m: Ask | Answer) => {
    if ('request' in m) worker.send({ id: m.id, grant: bank.grant(m.request, performance.now()) } satisfies Answer);
    else if ('done' in m) {
      console.log(m.done);
      worker.kill();
    }
  });
} else {
  const pending = new Map<number, () => void>();
  let next = 0;
  process.on('message', (m: { id: number }) => {
    pending.get(m.id)!();
    pending.delete(m.id);
  });
  const lease = (key: string) =>
    new Promise<void>((resolve) => {
      pending.set(++next, resolve);
      process.send!({ id: next, request: { bucket: '["rl",100,200,"ip"]', key, want: 10, requestsPerSecond: 100, burst: 200 } } satisfies Ask);
    });
  for (let i = 0; i < 2_000; i++) await lease(`warm-${i}`);
  let t = performance.now();
  for (let i = 0; i < N; i++) await lease(`one-${i}`);
  const oneAtATime = ((performance.now() - t) * 1000) / N;
  t = performance.now();
  await Promise.all(Array.from({ length: N }, (_, i) => lease(`all-${i}`)));
  const allAtOnce = ((performance.now() - t) * 1000) / N;
  process.send!({
    done: [
      `rate-limit leases over node:cluster IPC, ${N.toLocaleString('en-US')} each way, node ${process.version}`,
      `  one at a time: ${oneAtATime.toFixed(1)} µs per lease (a request's wait)`,
      `  all at once:   ${allAtOnce.toFixed(1)} µs per lease (${Math.round(1e6 / allAtOnce).toLocaleString('en-US')} leases/s from the primary)`,
    ].join('\n'),
  } satisfies Answer);
}
