// Smooth weighted round robin (nginx's algorithm).
//
// Each pick adds every eligible target's weight to its running score, takes the highest score
// and subtracts the eligible total from it. Over one cycle of sum(weights) picks each target is
// chosen exactly weight times, and picks of a heavy target are spread out (2:1 gives A B A, not
// A A B). A target that is not eligible keeps its score as it was, as nginx's down peers do, so
// it re-enters without a burst.
import type { Balancer } from './types.js';

export class RoundRobin implements Balancer {
  private readonly weights: Int32Array;
  private readonly scores: Float64Array;

  constructor(weights: readonly number[]) {
    this.weights = Int32Array.from(weights);
    this.scores = new Float64Array(weights.length);
  }

  pick(eligible: Uint8Array): number {
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.weights.length; i++) {
      if (eligible[i] === 0) continue;
      const w = this.weights[i]!;
      total += w;
      const s = (this.scores[i]! += w);
      if (best < 0 || s > this.scores[best]!) best = i;
    }
    if (best >= 0) this.scores[best]! -= total;
    return best;
  }
}
