// The latency bounds every per-request series shares: the Prometheus histogram in /metrics and
// the live traffic the dashboard charts (traffic.ts), so a p99 read from either agrees.

/** Upper bounds in seconds. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Slots per histogram: one per bound, and one for what is above every bound. */
export const LATENCY_SLOTS = DURATION_BUCKETS.length + 1;

/** The first bound `seconds` is not above; DURATION_BUCKETS.length when it is above all. */
export function latencySlot(seconds: number): number {
  let i = 0;
  while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
  return i;
}
