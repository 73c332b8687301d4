// Weighted least request by the power of two choices (Mitzenmacher; Envoy's LEAST_REQUEST).
//
// Two distinct eligible targets are drawn at random, each in proportion to its weight, and the
// one with fewer requests in flight per unit of weight wins (Envoy's weight / active requests,
// compared without division); a tie goes to the first drawn. So with nothing in flight (light,
// sequential traffic) requests follow the weights exactly as a weighted random pick would, and
// under load a target that answers slowly holds more requests in flight and loses more draws.
// Two random choices instead of a full scan for the minimum keep every proxy of a fleet from
// sending its next request to the same idle target (each proxy counts only its own requests).
import type { Balancer } from './types.js';

export class LeastRequest implements Balancer {
  private readonly weights: Int32Array;

  /**
   * @param inFlight requests this process has in flight to target i
   * @param random uniform in [0, 1) (tests pass a seeded one)
   */
  constructor(
    weights: readonly number[],
    private readonly inFlight: (i: number) => number,
    private readonly random: () => number = Math.random,
  ) {
    this.weights = Int32Array.from(weights);
  }

  pick(eligible: Uint8Array): number {
    let total = 0;
    for (let i = 0; i < this.weights.length; i++) if (eligible[i] === 1) total += this.weights[i]!;
    if (total === 0) return -1;
    const a = this.draw(eligible, total, -1);
    const rest = total - this.weights[a]!;
    if (rest === 0) return a;
    const b = this.draw(eligible, rest, a);
    // inFlight(b) / w(b) < inFlight(a) / w(a), without dividing.
    return this.inFlight(b) * this.weights[a]! < this.inFlight(a) * this.weights[b]! ? b : a;
  }

  /** An eligible target other than `except`, in proportion to weight; `total` is their sum. */
  private draw(eligible: Uint8Array, total: number, except: number): number {
    let r = this.random() * total;
    let last = -1;
    for (let i = 0; i < this.weights.length; i++) {
      if (eligible[i] === 0 || i === except) continue;
      last = i;
      r -= this.weights[i]!;
      if (r < 0) return i;
    }
    return last; // only reached through floating-point rounding at the very end
  }
}
