// One route's compiled form. compileRoute is a pure function of the route's definition and of
// the objects it refers to (upstream pools, policy instances), looked up by id: one changed route
// can be compiled again alone, against the same lookups, without touching the others.
import { DEFAULT_PRIORITY, type Route } from '../config/schema.js';
import type { PolicyInstance, PreflightAnswerer } from './policies/index.js';
import { compileAnswer, compileForward, type ForwardAction, type LocalAnswer } from './route-actions.js';
import { compileMatch, type CompiledMatch, type RouteMatch } from './route-match.js';
import type { UpstreamPool } from './upstream-pool.js';

export interface CompiledRoute {
  readonly id: string;
  readonly match: RouteMatch;
  readonly compiledMatch: CompiledMatch;
  readonly priority: number;
  /** The global policies, then the route's own: the chain a request runs in this order. */
  readonly policies: readonly PolicyInstance[];
  /** The headers its auth policies carry the consumer's id in (never the client's own). */
  readonly consumerHeaders: readonly string[];
  /** The first policy of the chain that answers CORS preflights (cors); null without one. */
  readonly preflight: PreflightAnswerer | null;
  /** Paths with an encoded slash or backslash may take this route (path.ts). */
  readonly allowEncodedSlashes: boolean;
  /** TRACE is refused unless the route lists it in match.methods. */
  readonly allowsTrace: boolean;
  /** Upgrade requests are proxied (`websocket`, default true); else forwarded without Upgrade. */
  readonly upgrades: boolean;
  /** Where the request goes (upstream, split); null when the proxy answers it. */
  readonly forward: ForwardAction | null;
  /** The proxy's own answer (redirect, respond); null when the request is forwarded. */
  readonly answer: LocalAnswer | null;
}

/** What a route may refer to; each returns undefined for an unknown id. */
export interface RouteReferences {
  upstream(id: string): UpstreamPool | undefined;
  policy(id: string): PolicyInstance | undefined;
  /** The config's globalPolicies: they run before the route's own. */
  readonly globalPolicies: readonly string[];
}

/**
 * The policy ids a route runs, in order: the global ones, then its own. A route that lists a
 * global policy again runs it once, at its global place (a key-auth or rate limit twice in one
 * chain would check twice or count each request twice).
 */
export function policyChain(globalPolicies: readonly string[], own: readonly string[] = []): string[] {
  if (globalPolicies.length === 0) return [...own];
  return [...globalPolicies, ...own.filter((id) => !globalPolicies.includes(id))];
}

/** One empty list for every route without policies (most routes): an empty array per route is 32 bytes each. */
const NONE: readonly never[] = [];

/** @throws on a reference to an unknown upstream or policy (validation refuses both first). */
export function compileRoute(def: Route, refs: RouteReferences): CompiledRoute {
  const upstream = (id: string): UpstreamPool => {
    const pool = refs.upstream(id);
    if (pool === undefined) throw new Error(`route "${def.id}": unknown upstream "${id}"`);
    return pool;
  };
  const chain = policyChain(refs.globalPolicies, def.policies);
  const policies =
    chain.length === 0
      ? NONE
      : chain.map((pid) => {
          const p = refs.policy(pid);
          if (p === undefined) throw new Error(`route "${def.id}": unknown policy "${pid}"`);
          return p;
        });
  const consumerHeaders = [...new Set(policies.flatMap((p) => (p.consumerHeader === undefined ? [] : [p.consumerHeader])))];
  return {
    id: def.id,
    match: def.match,
    compiledMatch: compileMatch(def.match),
    priority: def.priority ?? DEFAULT_PRIORITY,
    policies,
    consumerHeaders: consumerHeaders.length === 0 ? NONE : consumerHeaders,
    preflight: (policies.find((p) => p.preflight !== undefined) as PreflightAnswerer | undefined) ?? null,
    allowEncodedSlashes: def.allowEncodedSlashes === true,
    allowsTrace: def.match.methods?.includes('TRACE') === true,
    upgrades: def.websocket !== false,
    forward: compileForward(def, upstream),
    answer: compileAnswer(def),
  };
}

/** Whether a route uses one of these upstreams or policies (by id). */
export function routeRefersTo(def: Route, upstreams: ReadonlySet<string>, policies: ReadonlySet<string>): boolean {
  if (upstreams.size > 0) {
    if (def.upstream !== undefined && upstreams.has(def.upstream)) return true;
    if (def.split?.some((arm) => upstreams.has(arm.upstream)) === true) return true;
  }
  return policies.size > 0 && def.policies?.some((p) => policies.has(p)) === true;
}
