// Cost of one pick by each balancer, eligibility scan included (UpstreamPool.pick), at 3, 10, 100
// and 1,000 targets.
//   npm run build && node dist/bench/balancers.js
// Median ns per pick of ROUNDS rounds of ROUND_MS each; consistent-hash keys from 10,000 header
// values, with equal weights (no logarithm) and with unequal ones.
import type { Upstream } from '../src/config/schema.js';
import type { PickContext } from '../src/proxy/balancers/index.js';
import { UpstreamPool } from '../src/proxy/upstream-pool.js';
import { medianNsPerCall } from './stats.js';

const ROUNDS = 5;
const ROUND_MS = 300;
const SIZES = [3, 10, 100, 1000];

const contexts: PickContext[] = Array.from({ length: 10_000 }, (_, i) => ({ headers: { 'x-user': `user-${i * 7919}` }, clientIp: '10.0.0.1' }));

function upstream(n: number, fields: Partial<Upstream>, weighted: boolean): Upstream {
  const targets = Array.from({ length: n }, (_, i) => ({ url: `http://10.${(i >> 8) & 255}.${i & 255}.1:8080`, weight: weighted ? 1 + (i % 5) : 1 }));
  return { id: 'u', targets, ...fields };
}

function nsPerPick(pool: UpstreamPool): number {
  return medianNsPerCall((i) => pool.pick(null, contexts[i % contexts.length]!), ROUNDS, ROUND_MS);
}

const cases: [string, Partial<Upstream>, boolean][] = [
  ['round-robin', {}, true],
  ['least-request', { balancer: 'least-request' }, true],
  ['consistent-hash, equal weights', { balancer: 'consistent-hash', hashOn: { header: 'x-user' } }, false],
  ['consistent-hash, weights 1-5', { balancer: 'consistent-hash', hashOn: { header: 'x-user' } }, true],
];

console.log(`ns per pick (median of ${ROUNDS} rounds of ${ROUND_MS} ms)`);
console.log(['balancer'.padEnd(32), ...SIZES.map((n) => `${n} targets`.padStart(12))].join(''));
for (const [name, fields, weighted] of cases) {
  const row = SIZES.map((n) => nsPerPick(new UpstreamPool(upstream(n, fields, weighted))).toFixed(0).padStart(12));
  console.log([name.padEnd(32), ...row].join(''));
}
