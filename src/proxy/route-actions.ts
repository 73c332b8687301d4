// What a route does with a request it matched: forward it (to one upstream, or to one of a
// weighted split), or answer it itself (redirect, respond).
//
// split: each request picks one upstream at random, in proportion to the weights (as Envoy's
// weighted_clusters): requests are independent, so over n requests an upstream of weight share p
// gets n·p on average, and a weight of 0 gets none. The pick is per request, not per client: a
// client may land on both sides (send the canary's users a header and match on it when a
// client must stay on one side). Retries stay with the upstream the request picked.
//
// redirect: `location` (an absolute URL or a path) as given; or `scheme` to send the client to
// the same host (without the port it sent, or with `port`) and the same normalized path in
// that scheme. The request's query string is kept (appended after the location's own with "&",
// before its "#fragment") unless `keepQuery: false`. No body.
//
// respond: the configured status, headers and body; Content-Type defaults to text/plain when
// there is a body; HEAD gets the headers without the body.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Route } from '../config/schema.js';
import { prepareOwnAnswer } from './own-answer.js';
import { BAD_HOST, BAD_PATH, sendJson } from './respond.js';
import { retryBudgetOf, type RetryBudget } from './retry-budget.js';
import { compileRetryPolicy, type RetryPolicy } from './retry.js';
import { compileRewrite, type Rewrite } from './rewrite.js';
import { normalizeHost } from './router.js';
import type { UpstreamPool } from './upstream-pool.js';

export interface UpstreamArm {
  readonly pool: UpstreamPool;
  /** The pool's retry budget (shared by every route on it). */
  readonly budget: RetryBudget;
  readonly weight: number;
}

export interface ForwardAction {
  /** One arm for `upstream`; the split's arms with a weight above 0 otherwise. */
  readonly arms: readonly UpstreamArm[];
  readonly totalWeight: number;
  readonly rewrite: Rewrite | null;
  readonly retry: RetryPolicy | null;
  /** Bound on the whole exchange, ms; 0: none. */
  readonly timeoutMs: number;
}

export interface RedirectAnswer {
  readonly kind: 'redirect';
  readonly status: number;
  /** For `location`: the part before the "#fragment", and the fragment (with "#", or ""). */
  readonly base: string | null;
  readonly fragment: string;
  /** For `scheme`: "https://" or "http://", and ":port" or "". */
  readonly scheme: string;
  readonly port: string;
  readonly keepQuery: boolean;
}

export interface RespondAnswer {
  readonly kind: 'respond';
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
}

export type LocalAnswer = RedirectAnswer | RespondAnswer;

/** The arm for one request: the only one, or one drawn by weight. */
export function pickArm(f: ForwardAction): UpstreamArm {
  const arms = f.arms;
  if (arms.length === 1) return arms[0]!;
  let r = Math.random() * f.totalWeight;
  for (let i = 0; i < arms.length - 1; i++) {
    r -= arms[i]!.weight;
    if (r < 0) return arms[i]!;
  }
  return arms[arms.length - 1]!;
}

/**
 * The action of a route that sends to one upstream and sets nothing else (most routes), one per
 * pool: the same for each such route, and 170 bytes a route when each has its own.
 */
const plainForwards = new WeakMap<UpstreamPool, ForwardAction>();

export function compileForward(def: Route, upstream: (id: string) => UpstreamPool): ForwardAction | null {
  const split = def.split ?? (def.upstream !== undefined ? [{ upstream: def.upstream, weight: 1 }] : null);
  if (split === null) return null;
  const plain = def.split === undefined && def.rewrite === undefined && def.retries === undefined && def.timeoutMs === undefined;
  if (plain) {
    const pool = upstream(def.upstream!);
    let action = plainForwards.get(pool);
    if (action === undefined) plainForwards.set(pool, (action = forwardAction(def, [{ pool, budget: retryBudgetOf(pool), weight: 1 }])));
    return action;
  }
  const arms = split
    .filter((a) => a.weight > 0)
    .map((a) => {
      const pool = upstream(a.upstream);
      return { pool, budget: retryBudgetOf(pool), weight: a.weight };
    });
  return forwardAction(def, arms);
}

function forwardAction(def: Route, arms: readonly UpstreamArm[]): ForwardAction {
  return {
    arms,
    totalWeight: arms.reduce((sum, a) => sum + a.weight, 0),
    rewrite: compileRewrite(def),
    retry: compileRetryPolicy(def.retries),
    timeoutMs: def.timeoutMs ?? 0,
  };
}

export function compileAnswer(def: Route): LocalAnswer | null {
  if (def.redirect !== undefined) {
    const r = def.redirect;
    const hash = r.location?.indexOf('#') ?? -1;
    return {
      kind: 'redirect',
      status: r.status,
      base: r.location === undefined ? null : hash < 0 ? r.location : r.location.slice(0, hash),
      fragment: r.location !== undefined && hash >= 0 ? r.location.slice(hash) : '',
      scheme: r.scheme === undefined ? '' : `${r.scheme}://`,
      port: r.port === undefined ? '' : `:${r.port}`,
      keepQuery: r.keepQuery ?? true,
    };
  }
  if (def.respond !== undefined) {
    const r = def.respond;
    const body = Buffer.from(r.body ?? '');
    const headers: OutgoingHttpHeaders = {};
    let typed = false;
    for (const [name, value] of Object.entries(r.headers ?? {})) {
      headers[name] = value;
      typed ||= name.toLowerCase() === 'content-type';
    }
    if (body.length > 0 && !typed) headers['content-type'] = 'text/plain; charset=utf-8';
    if (r.status !== 204 && r.status !== 304) headers['content-length'] = body.length;
    return { kind: 'respond', status: r.status, headers, body };
  }
  return null;
}

/** Answer with a route's redirect or response. `path` is the normalized target, query included. */
export function answerLocally(a: LocalAnswer, req: IncomingMessage, res: ServerResponse, path: string, host: string | undefined): void {
  prepareOwnAnswer(res);
  if (a.kind === 'respond') {
    res.writeHead(a.status, a.headers);
    res.end(req.method === 'HEAD' ? undefined : a.body);
    return;
  }
  let end = path.indexOf('?');
  if (end < 0) end = path.length;
  const query = a.keepQuery && end + 1 < path.length ? path.slice(end + 1) : '';
  let location: string;
  if (a.base !== null) {
    location = query === '' ? a.base : `${a.base}${a.base.includes('?') ? '&' : '?'}${query}`;
    location += a.fragment;
  } else {
    const hostname = normalizeHost(host);
    if (hostname === '') {
      sendJson(res, 400, BAD_HOST);
      return;
    }
    location = `${a.scheme}${hostname}${a.port}${path.slice(0, end)}${query === '' ? '' : `?${query}`}`;
  }
  try {
    res.writeHead(a.status, { location, 'content-length': 0 });
  } catch {
    // Only the client's query could make a header Node refuses.
    sendJson(res, 400, BAD_PATH);
    return;
  }
  res.end();
}
