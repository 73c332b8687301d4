// What every balancer is given: which targets may be picked now, and what the request offers to
// pick by. Health (passive ejection, active checks, panic) is decided by the pool before a
// balancer runs, so a balancer only chooses among the targets it is offered.
import type { IncomingHttpHeaders } from 'node:http';

/** What a balancer may read of the request (consistent-hash keys). */
export interface PickContext {
  readonly headers: IncomingHttpHeaders;
  /** The client's address: the peer, or the client behind a trusted proxy (forwarded.ts). */
  readonly clientIp: string;
}

export interface Balancer {
  /**
   * Index of a target with `eligible[i] === 1`, or -1 when there is none. `eligible` is the
   * pool's scratch array, valid only during the call.
   */
  pick(eligible: Uint8Array, ctx: PickContext | null): number;
}
