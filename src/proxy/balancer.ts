// Smooth weighted round robin (nginx's algorithm) with passive ejection and a panic fallback.
//
// Each pick adds every eligible target's weight to its running score, takes the highest score
// and subtracts the eligible total from it. Over one cycle of sum(weights) picks each target is
// chosen exactly weight times, and picks of a heavy target are spread out (2:1 gives A B A, not
// A A B). Eligible: in rotation and not in the caller's `skip` list; when no target is in
// rotation, every target not skipped is eligible (Envoy's panic mode: better to try targets that
// may be back than to fail every request). Time is passed in so tests drive it; the pool passes a
// monotonic clock.

export class Balancer {
  private readonly weights: Int32Array;
  private readonly scores: Float64Array;
  /** Monotonic ms until which a target is out of rotation; 0 = in rotation. */
  private readonly ejectedUntil: Float64Array;

  constructor(weights: readonly number[]) {
    this.weights = Int32Array.from(weights);
    this.scores = new Float64Array(weights.length);
    this.ejectedUntil = new Float64Array(weights.length);
  }

  get size(): number {
    return this.weights.length;
  }

  /**
   * Index of the next target, or -1 when every target is skipped (or there is none).
   * @param skip targets not to pick (those that already failed this request)
   */
  pick(now: number, skip: readonly number[] | null = null): number {
    const n = this.weights.length;
    if (n === 1 && skip === null) return 0;
    const best = this.pickAmong(now, skip, false);
    return best >= 0 ? best : this.pickAmong(now, skip, true);
  }

  private pickAmong(now: number, skip: readonly number[] | null, panic: boolean): number {
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.weights.length; i++) {
      if (!panic && this.ejectedUntil[i] > now) continue;
      if (skip !== null && skip.includes(i)) continue;
      const w = this.weights[i];
      total += w;
      const s = (this.scores[i] += w);
      if (best < 0 || s > this.scores[best]) best = i;
    }
    if (best >= 0) this.scores[best] -= total;
    return best;
  }

  /** Take a target out of rotation until `until`. It re-enters with a neutral score. */
  eject(index: number, until: number): void {
    if (until > this.ejectedUntil[index]) this.ejectedUntil[index] = until;
    this.scores[index] = 0;
  }

  isEjected(index: number, now: number): boolean {
    return this.ejectedUntil[index] > now;
  }

  /** Targets in rotation at `now`. */
  available(now: number): number {
    let count = 0;
    for (let i = 0; i < this.ejectedUntil.length; i++) if (this.ejectedUntil[i] <= now) count++;
    return count;
  }
}
