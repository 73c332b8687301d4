// Consistent hashing by weighted rendezvous (highest random weight) hashing.
//
// Each target gets a score for the key, a pseudo-random number in (0, 1) from hash(key, target)
// turned into weight / -ln(u) (Schindelhauer and Schomaker's weighted form), and the highest
// eligible score takes the request. Why this and not a ring or a Maglev table:
//   - A pure function of the key and each target's origin and weight: every proxy, and every
//     config version with the same targets, sends a key to the same target. Nothing to build
//     when the config changes.
//   - Minimal movement, exactly: adding a target moves only the keys it now outscores, w/W of
//     them (W the new total weight), all to it; removing one moves only its own keys.
//   - A key whose target is out (ejected, failing checks, or already tried by this request)
//     goes to its second-highest score: the target it would go to if that one were removed,
//     and it comes back when the target does. A ring gets this by walking on; a Maglev table
//     only by being rebuilt.
//   - Weights are exact, with no virtual-node count to tune and no table memory.
// The cost is a hash and, with unequal weights, a logarithm per target per request: O(targets),
// like round robin's scan (bench/balancers.ts has the numbers).
// A request without a key (header or cookie absent or empty) is balanced by round robin.
import type { KeyReader } from './hash-key.js';
import { hashString, mix32 } from '../../util/hash.js';
import type { Balancer, PickContext } from './types.js';

const TWO_TO_32 = 4294967296;

export class ConsistentHash implements Balancer {
  /** Per target: hash of its origin, mixed with the key's hash. */
  private readonly seeds: Uint32Array;
  private readonly weights: Float64Array;
  /** All weights equal: the highest hash wins, no logarithm needed. */
  private readonly uniform: boolean;

  /**
   * @param origins what identifies each target in the hash (its normalized origin)
   * @param fallback for requests without a key
   */
  constructor(
    origins: readonly string[],
    weights: readonly number[],
    private readonly key: KeyReader,
    private readonly fallback: Balancer,
  ) {
    this.seeds = Uint32Array.from(origins, hashString);
    this.weights = Float64Array.from(weights);
    this.uniform = weights.every((w) => w === weights[0]);
  }

  pick(eligible: Uint8Array, ctx: PickContext | null): number {
    const key = ctx === null ? null : this.key(ctx);
    return key === null ? this.fallback.pick(eligible, ctx) : this.pickFor(hashString(key), eligible);
  }

  /** The eligible target with the highest score for a key hash. */
  pickFor(keyHash: number, eligible: Uint8Array): number {
    let best = -1;
    let bestScore = -1;
    for (let i = 0; i < this.seeds.length; i++) {
      if (eligible[i] === 0) continue;
      const h = mix32(keyHash ^ this.seeds[i]!);
      // u in (0, 1), never 0 or 1, so -ln(u) is finite and positive.
      const score = this.uniform ? h : this.weights[i]! / -Math.log((h + 0.5) / TWO_TO_32);
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    }
    return best;
  }
}
