// Summaries of benchmark samples.
import { performance } from 'node:perf_hooks';

/** The q-quantile of `xs` (nearest rank); NaN when there are none. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** The middle value, or the mean of the two middle ones: an even count of rounds is not read high. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Median ns per call of `call` over `rounds` rounds of `roundMs` each; `call(i)` gets a running
 * count and returns a number that is summed, so its work cannot be optimized away.
 */
export function medianNsPerCall(call: (i: number) => number, rounds = 5, roundMs = 300): number {
  const samples: number[] = [];
  let sink = 0;
  let calls = 0;
  for (let round = 0; round < rounds; round++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < roundMs) {
      for (let i = 0; i < 1000; i++) sink += call(calls + i);
      calls += 1000;
      n += 1000;
      now = performance.now();
    }
    samples.push(((now - start) * 1e6) / n);
  }
  if (sink === Number.MIN_VALUE) console.log(sink);
  return median(samples);
}
