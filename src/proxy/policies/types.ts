// The policy chain, after Envoy's HTTP filters: a route's policies run in order (the config's
// globalPolicies first), each a small function that either lets the request continue or answers
// it itself. Most decide at once; one that must ask someone (forward-auth) or verify with an
// asynchronous API (jwt) returns a promise, and only then does the chain wait.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { markResponseEdits, type ResponseEdits } from '../own-answer.js';
import type { ConsumerIndex } from './consumers.js';

export const CONTINUE = 0;
export const HANDLED = 1;
export type PolicyResult = typeof CONTINUE | typeof HANDLED;
/** What handle() returns: a result now, or one to wait for. */
export type PolicyOutcome = PolicyResult | Promise<PolicyResult>;

/** One header change: `set` replaces every value, `add` appends one, `remove` drops them all. */
export interface HeaderEdit {
  readonly op: 'set' | 'add' | 'remove';
  /** Lowercase. */
  readonly name: string;
  readonly value: string;
}

/**
 * One request's state across its policies: who it is, and what changes on its way up and back.
 * Made only for routes that have policies.
 */
export class PolicyContext implements ResponseEdits {
  /** The consumer an auth policy identified; null until one did. */
  consumer: string | null = null;
  /** Changes to the request sent upstream, in order; null until a policy makes one. */
  upstreamEdits: HeaderEdit[] | null = null;
  /** Changes to the response's headers, in order; null until a policy makes one. */
  responseEdits: HeaderEdit[] | null = null;
  /** Request body bytes a policy allows (body-limit); Infinity without a limit. */
  maxBodyBytes = Infinity;
  /** Query parameters removed before forwarding (a key read from one); null until a policy removes one. */
  queryRemovals: string[] | null = null;

  constructor(
    readonly routeId: string,
    /** Monotonic ms at the request's start; policies use it instead of reading a clock. */
    readonly now: number,
    /** The client's address: the peer, or the client behind a trusted proxy (forwarded.ts). */
    readonly clientIp: string,
    /** The request's X-Request-Id (handler.ts). */
    readonly requestId: string,
    /** The consumers of the config being served (auth policies look credentials up here). */
    readonly consumers: ConsumerIndex,
    res: ServerResponse,
  ) {
    markResponseEdits(res, this);
  }

  editUpstream(op: HeaderEdit['op'], name: string, value = ''): void {
    this.addUpstreamEdit({ op, name: name.toLowerCase(), value });
  }

  /** An edit a policy made once (name lowercase): no object made per request. */
  addUpstreamEdit(edit: HeaderEdit): void {
    (this.upstreamEdits ??= []).push(edit);
  }

  /**
   * Put on whatever the proxy answers itself (a later policy's 401, a 404 of no target, a
   * redirect: own-answer.ts), and over the upstream's own headers when it answers (forward.ts).
   */
  editResponse(op: HeaderEdit['op'], name: string, value = ''): void {
    this.addResponseEdit({ op, name: name.toLowerCase(), value });
  }

  /** An edit a policy made once (name lowercase), for the response. */
  addResponseEdit(edit: HeaderEdit): void {
    (this.responseEdits ??= []).push(edit);
  }

  /** The response changes on an answer of the proxy's own, in order (own-answer.ts). */
  applyTo(res: ServerResponse): void {
    const edits = this.responseEdits;
    if (edits === null) return;
    for (const { op, name, value } of edits) {
      if (op === 'remove') res.removeHeader(name);
      else res.setHeader(name, op === 'set' ? value : withValue(res.getHeader(name), value));
    }
  }

  /** Forward the request without query parameter `name` (every occurrence). */
  removeQuery(name: string): void {
    (this.queryRemovals ??= []).push(name);
  }

  /**
   * The request header changes to send upstream, with the consumer's id last under each of
   * `consumerHeaders` (the route's auth policies' names): set when a policy identified one,
   * else removed, so a client can never send its own.
   */
  upstreamEditsFor(consumerHeaders: readonly string[]): readonly HeaderEdit[] | null {
    if (consumerHeaders.length === 0) return this.upstreamEdits;
    const edits = this.upstreamEdits ?? [];
    const consumer = this.consumer;
    for (const name of consumerHeaders) edits.push(consumer === null ? { op: 'remove', name, value: '' } : { op: 'set', name, value: consumer });
    return edits;
  }

  /** The request body may not exceed `bytes` (the smallest of every limit asked for wins). */
  limitBody(bytes: number): void {
    if (bytes < this.maxBodyBytes) this.maxBodyBytes = bytes;
  }
}

export interface PolicyInstance {
  readonly id: string;
  readonly type: string;
  /**
   * An auth policy's header for the consumer's id upstream (lowercase): a route whose chain has
   * the policy strips it from what the client sent, and sets it to `ctx.consumer` once a policy
   * set that (handler.ts). Undefined for other policies.
   */
  readonly consumerHeader?: string;
  /**
   * Answer `res` and return HANDLED, or return CONTINUE; or a promise of either. Must not throw,
   * and a promise must not reject: a policy answers its own failures (an auth service that does
   * not answer is a 503 of forward-auth, not an exception).
   */
  handle(req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): PolicyOutcome;
  /**
   * Only cors has it: answer a CORS preflight. A route's first policy that has it answers the
   * route's preflights instead of its chain (handler.ts).
   */
  preflight?(req: IncomingMessage, res: ServerResponse): void;
}

/** A policy that answers CORS preflights. */
export type PreflightAnswerer = PolicyInstance & Required<Pick<PolicyInstance, 'preflight'>>;

/** Run `chain` from `from`: true when every policy let the request on; a promise once one waits. */
export function runPolicies(chain: readonly PolicyInstance[], req: IncomingMessage, res: ServerResponse, ctx: PolicyContext, from = 0): boolean | Promise<boolean> {
  for (let i = from; i < chain.length; i++) {
    const outcome = chain[i]!.handle(req, res, ctx);
    if (outcome === CONTINUE) continue;
    if (outcome === HANDLED) return false;
    return outcome.then((r) => (r === HANDLED ? false : runPolicies(chain, req, res, ctx, i + 1)));
  }
  return true;
}

/**
 * Apply edits to a flat [name, value, ...] header list (upstream requests): the names a set or
 * remove replaces are dropped from what was sent, and each edited name's values go last, once,
 * where the name is first edited: what its last set left (nothing after a remove) and the adds
 * after it. Allocates only the list it returns: it runs once per request, and the few edits a
 * chain makes are cheaper scanned than indexed.
 */
export function editHeaderList(list: string[], edits: readonly HeaderEdit[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    if (!replaced(edits, list[i]!)) out.push(list[i]!, list[i + 1]!);
  }
  for (let i = 0; i < edits.length; i++) {
    const name = edits[i]!.name;
    if (editedBefore(edits, i, name)) continue;
    let from = i;
    for (let j = i + 1; j < edits.length; j++) if (edits[j]!.name === name && edits[j]!.op !== 'add') from = j;
    for (let j = from; j < edits.length; j++) {
      const e = edits[j]!;
      if (e.name === name && e.op !== 'remove') out.push(name, e.value);
    }
  }
  return out;
}

/** Whether a set or remove in `edits` (lowercase names) replaces header `name` (any case). */
function replaced(edits: readonly HeaderEdit[], name: string): boolean {
  for (let i = 0; i < edits.length; i++) {
    const e = edits[i]!;
    // Lengths first: most sent names match no edit, and are never lowercased.
    if (e.op !== 'add' && e.name.length === name.length && (e.name === name || e.name === name.toLowerCase())) return true;
  }
  return false;
}

function editedBefore(edits: readonly HeaderEdit[], i: number, name: string): boolean {
  for (let j = 0; j < i; j++) if (edits[j]!.name === name) return true;
  return false;
}

/** A header's values with `value` added after those it `had`. */
function withValue(had: string | string[] | number | undefined, value: string): string | string[] {
  return had === undefined ? value : [...(Array.isArray(had) ? had : [String(had)]), value];
}

/** Apply edits to a header object (the upstream's response, on its way to the client). */
export function editHeaderObject(headers: Record<string, string | string[] | number | undefined>, edits: readonly HeaderEdit[]): void {
  for (const e of edits) {
    if (e.op === 'remove') delete headers[e.name];
    else headers[e.name] = e.op === 'set' ? e.value : withValue(headers[e.name], e.value);
  }
}
