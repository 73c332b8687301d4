// The policy chain, after Envoy's HTTP filters: a route's policies run in order, each a small
// synchronous function that either lets the request continue or answers it itself.
import type { IncomingMessage, ServerResponse } from 'node:http';

export const CONTINUE = 0;
export const HANDLED = 1;
export type PolicyResult = typeof CONTINUE | typeof HANDLED;

export interface PolicyContext {
  readonly routeId: string;
  /** Monotonic ms at the request's start; policies use it instead of reading a clock. */
  readonly now: number;
  /** The client's address: the peer, or the client behind a trusted proxy (forwarded.ts). */
  readonly clientIp: string;
}

export interface PolicyInstance {
  readonly id: string;
  readonly type: string;
  /** Must not throw and must not wait: answer `res` and return HANDLED, or return CONTINUE. */
  handle(req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): PolicyResult;
}
