// The balancer an upstream definition asks for.
import { DEFAULT_BALANCER, type Upstream } from '../../config/schema.js';
import { ConsistentHash } from './consistent-hash.js';
import { keyReader } from './hash-key.js';
import { LeastRequest } from './least-request.js';
import { RoundRobin } from './round-robin.js';
import type { Balancer } from './types.js';

export type { Balancer, PickContext } from './types.js';

export interface BalancerTargets {
  readonly origins: readonly string[];
  readonly weights: readonly number[];
  /** Requests this process has in flight to target i. */
  inFlight(i: number): number;
}

export function createBalancer(def: Upstream, targets: BalancerTargets): Balancer {
  const balancer = def.balancer ?? DEFAULT_BALANCER;
  switch (balancer) {
    case 'round-robin':
      return new RoundRobin(targets.weights);
    case 'least-request':
      return new LeastRequest(targets.weights, (i) => targets.inFlight(i));
    case 'consistent-hash':
      // Validation requires hashOn with consistent-hash.
      return new ConsistentHash(targets.origins, targets.weights, keyReader(def.hashOn!), new RoundRobin(targets.weights));
  }
}
