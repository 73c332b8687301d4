// Request routing: host tables, each a path-segment trie, with backtracking.
//
// Hand-written rather than find-my-way: its constraint model picks one handler per
// (path, constraint) and cannot fall back to a broader route when a narrower one rejects the
// request on its header set, which our matching needs.
//
// Matching rules (README material):
//
// Priority
//   - The route that accepts the request with the highest `priority` (default 0) wins, whatever
//     its host or path; the order below decides among routes of equal priority: the first one
//     found wins. Each trie node and table knows the highest priority below it, so the search
//     skips what cannot beat the route it has: with equal priorities (the usual case) it stops
//     at the first accepting route, as it would without priorities.
//
// Paths
//   - Matched on the request path as the handler normalized it (path.ts: dot segments resolved,
//     "//" merged, unreserved characters decoded), without its query string.
//   - Patterns are split on "/". A static segment matches itself exactly (case-sensitive).
//     ":name" matches exactly one non-empty segment. A trailing "*" segment matches the rest of
//     the path, which may be empty: "/users/*" matches "/users/" and "/users/a/b" but not
//     "/users"; "/*" matches every path.
//   - A pathRegex must match the whole path. It is filed under the whole segments of its literal
//     start ("^/api/v[0-9]+/" under "/api"), and tried only for paths that reach that node and
//     begin with that literal start, just before the node's "*" routes: it ranks as a "*" route
//     there that also checks the rest. A lookup tries only the regexes along its own path.
//   - At each trie node the static child is tried first, then the parameter child, then the
//     node's regex and wildcard routes. If every route found along a branch rejects
//     the request (method, headers, query), the search backtracks and continues, so a narrower
//     route that rejects never hides a broader one that accepts. Each trie node sits at a fixed
//     depth, so the search visits every node at most once: no exponential blow-up.
//
// Hosts
//   - The Host header is lowercased, its ":port" and a trailing "." removed.
//   - Tables are searched in order: the exact-host table for that name; then wildcard tables
//     ("*.example.com" matches any host ending in ".example.com" with at least one character
//     before it, at any depth), longest suffix first; then the routes that list no hosts.
//     A table with no accepting route falls through to the next one, so a host-bound route
//     never hides a host-less catch-all for the paths it does not cover.
//
// Ties at one node (same path pattern shape), best first
//   1. higher priority;
//   2. among "*" routes, pathRegex ones first;
//   3. more header and query conditions;
//   4. routes that list methods before routes that accept any method;
//   5. route id, ascending. Config order carries no meaning: etcd returns objects by key.
//
// Conditions: route-match.ts (methods, with HEAD taken by GET routes; headers; query).
import type { IncomingHttpHeaders } from 'node:http';
import { DEFAULT_PRIORITY } from '../config/schema.js';
import type { LinearRegex } from '../util/linear-regex.js';
import { accepts, compileMatch, type CompiledMatch, type MatchConditions, type RequestView, type RouteMatch } from './route-match.js';

export type { RouteMatch } from './route-match.js';

/** What the router needs from a route; the runtime passes its compiled routes. */
export interface RoutableRoute {
  readonly id: string;
  readonly match: RouteMatch;
  readonly priority?: number | undefined;
  /** compileMatch(match), when the caller has it (compiled routes do); else the router makes it. */
  readonly compiledMatch?: CompiledMatch | undefined;
}

export interface Router<R extends RoutableRoute> {
  /** Routes compiled into this router. */
  readonly size: number;
  /**
   * @param host the raw Host header (any case, may carry a port)
   * @param path the normalized request target in origin form; anything after "?" is the query
   */
  match(host: string | undefined, method: string, path: string, headers: IncomingHttpHeaders): R | null;
}

interface Candidate<R> {
  readonly route: R;
  readonly id: string;
  readonly priority: number;
  /** null: any method. */
  readonly methods: readonly string[] | null;
  /** Header and query conditions; null for none (most routes: no extra hop to find out). */
  readonly conditions: MatchConditions | null;
  /** For pathRegex routes: the pattern and its literal start. */
  readonly regex: LinearRegex | null;
  readonly literal: string;
}

const SLASH = 47; // "/"
/**
 * Below every priority (the schema allows -1000..1000). An integer, not -Infinity: V8 keeps a
 * field that ever held a non-integer as a pointer to a boxed number, one more memory access on
 * every node the search visits.
 */
const NONE = -1_000_000;
const NO_HEADERS: IncomingHttpHeaders = Object.freeze({});

class TrieNode<R> {
  statics: Map<string, TrieNode<R>> | null = null;
  param: TrieNode<R> | null = null;
  /** Routes whose pattern ends exactly at this node. */
  exact: Candidate<R>[] | null = null;
  /**
   * Routes whose pattern ends with "*" after this node's segments, and pathRegex routes whose
   * literal start ends in them (sorted before the "*" routes of equal priority).
   */
  wildcard: Candidate<R>[] | null = null;
  /** The highest priority of any route here or below; NONE when there is none. */
  maxPriority = NONE;

  child(segment: string): TrieNode<R> {
    this.statics ??= new Map();
    let child = this.statics.get(segment);
    if (child === undefined) {
      child = new TrieNode<R>();
      this.statics.set(segment, child);
    }
    return child;
  }

  /** Sort every list best first and fill in maxPriority, bottom up. */
  seal(): number {
    let max = NONE;
    for (const list of [this.exact, this.wildcard]) {
      if (list === null) continue;
      list.sort(compareCandidates);
      max = Math.max(max, list[0]!.priority);
    }
    if (this.statics !== null) for (const c of this.statics.values()) max = Math.max(max, c.seal());
    if (this.param !== null) max = Math.max(max, this.param.seal());
    this.maxPriority = max;
    return max;
  }
}


function compareCandidates<R>(a: Candidate<R>, b: Candidate<R>): number {
  const byPriority = b.priority - a.priority;
  if (byPriority !== 0) return byPriority;
  const byRegex = (b.regex !== null ? 1 : 0) - (a.regex !== null ? 1 : 0);
  if (byRegex !== 0) return byRegex;
  const byConditions = (b.conditions?.count ?? 0) - (a.conditions?.count ?? 0);
  if (byConditions !== 0) return byConditions;
  const byMethods = (b.methods !== null ? 1 : 0) - (a.methods !== null ? 1 : 0);
  if (byMethods !== 0) return byMethods;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function addCandidate<R>(list: Candidate<R>[] | null, c: Candidate<R>): Candidate<R>[] {
  list ??= [];
  // The same route can reach one node twice ("/a/:x" and "/a/:y", or repeated hosts).
  if (!list.includes(c)) list.push(c);
  return list;
}

function insertPattern<R>(root: TrieNode<R>, pattern: string, c: Candidate<R>): void {
  // Pattern validity (leading "/", "*" only last, ":name" shape) is the schema's job.
  const segments = pattern.slice(1).split('/');
  let node = root;
  const last = segments.length - 1;
  for (let i = 0; i <= last; i++) {
    const s = segments[i]!;
    if (i === last && s === '*') {
      node.wildcard = addCandidate(node.wildcard, c);
      return;
    }
    node = s.length > 1 && s.charCodeAt(0) === 58 /* ":" */ ? (node.param ??= new TrieNode<R>()) : node.child(s);
  }
  node.exact = addCandidate(node.exact, c);
}

function insertRegex<R>(root: TrieNode<R>, c: Candidate<R>): void {
  // The whole segments of the literal start: "/api/v" gives ["api"]; "/" gives none. They are
  // literal text, so a segment such as ":x" is a static child here.
  const literal = c.literal;
  let node = root;
  const lastSlash = literal.lastIndexOf('/');
  if (lastSlash > 0) for (const s of literal.slice(1, lastSlash).split('/')) node = node.child(s);
  node.wildcard = addCandidate(node.wildcard, c);
}

/** Lowercase, strip ":port" (IPv6 literals keep their brackets) and one trailing dot. */
export function normalizeHost(host: string | undefined): string {
  if (host === undefined || host.length === 0) return '';
  let h = host;
  if (h.charCodeAt(0) === 91 /* "[" */) {
    const close = h.indexOf(']');
    if (close > 0) h = h.slice(0, close + 1);
  } else {
    const colon = h.lastIndexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.length > 1 && h.charCodeAt(h.length - 1) === 46 /* "." */) h = h.slice(0, -1);
  return h.toLowerCase();
}

class CompiledRouter<R extends RoutableRoute> implements Router<R> {
  readonly size: number;
  private readonly exactHosts = new Map<string, TrieNode<R>>();
  /** Keyed by the suffix with its leading dot: "*.example.com" → ".example.com". */
  private readonly wildcardHosts = new Map<string, TrieNode<R>>();
  private readonly anyHost: TrieNode<R> | null;
  // The state of one lookup, reused by the next (lookups never overlap: no awaits).
  private readonly view: RequestView = { method: '', path: '', pathEnd: 0, headers: NO_HEADERS, query: null };
  private best: R | null = null;
  private bestPriority = NONE;
  /** The highest priority of any route: a route found with it ends the search. */
  private readonly topPriority: number;

  constructor(routes: readonly R[]) {
    this.size = routes.length;
    let anyHost: TrieNode<R> | null = null;
    for (const route of routes) {
      const m = route.match;
      const cm = route.compiledMatch ?? compileMatch(m);
      const regex = cm.pathRegex;
      const c: Candidate<R> = {
        route,
        id: route.id,
        priority: route.priority ?? DEFAULT_PRIORITY,
        methods: cm.methods,
        conditions: cm.conditions,
        regex,
        literal: regex?.literalPrefix ?? '',
      };
      const roots: TrieNode<R>[] = [];
      if (m.hosts === undefined || m.hosts.length === 0) {
        roots.push((anyHost ??= new TrieNode<R>()));
      } else {
        for (const raw of m.hosts) {
          const host = raw.toLowerCase();
          const wild = host.startsWith('*.');
          const map = wild ? this.wildcardHosts : this.exactHosts;
          const key = wild ? host.slice(1) : host;
          let root = map.get(key);
          if (root === undefined) {
            root = new TrieNode<R>();
            map.set(key, root);
          }
          if (!roots.includes(root)) roots.push(root);
        }
      }
      for (const root of roots) {
        if (regex !== null) insertRegex(root, c);
        for (const p of m.paths ?? []) insertPattern(root, p, c);
      }
    }
    let top = NONE;
    for (const root of this.exactHosts.values()) top = Math.max(top, root.seal());
    for (const root of this.wildcardHosts.values()) top = Math.max(top, root.seal());
    if (anyHost !== null) top = Math.max(top, anyHost.seal());
    this.topPriority = top;
    this.anyHost = anyHost;
  }

  match(host: string | undefined, method: string, path: string, headers: IncomingHttpHeaders): R | null {
    if (path.charCodeAt(0) !== SLASH) return null;
    let end = path.indexOf('?');
    if (end < 0) end = path.length;
    const view = this.view;
    view.method = method;
    view.path = path;
    view.pathEnd = end;
    view.headers = headers;
    view.query = null;
    this.best = null;
    this.bestPriority = NONE;
    this.search(host, path, end);
    const best = this.best;
    this.best = null;
    view.headers = NO_HEADERS;
    view.query = null;
    return best;
  }

  private search(host: string | undefined, path: string, end: number): void {
    // Every path has a first segment, possibly empty ("/" is the one empty segment).
    const first = 1;
    const h = normalizeHost(host);
    if (h.length > 0) {
      if (this.exactHosts.size > 0) {
        const root = this.exactHosts.get(h);
        if (root !== undefined && this.walk(root, path, first, end)) return;
      }
      if (this.wildcardHosts.size > 0) {
        // Dot positions left to right give suffixes longest first; position 0 is excluded so
        // at least one character precedes the suffix.
        for (let i = h.indexOf('.', 1); i > 0; i = h.indexOf('.', i + 1)) {
          const root = this.wildcardHosts.get(h.slice(i));
          if (root !== undefined && this.walk(root, path, first, end)) return;
        }
      }
    }
    if (this.anyHost !== null) this.walk(this.anyHost, path, first, end);
  }

  /**
   * `start` is the index where the next unconsumed segment begins, or -1 when the path ended
   * right after the segment that led to `node`. True once no route anywhere can beat the one
   * found (the search is over).
   */
  private walk(node: TrieNode<R>, path: string, start: number, end: number): boolean {
    // Nothing here can beat the route found so far (ties go to what was found first).
    if (node.maxPriority <= this.bestPriority) return false;
    if (start < 0) return this.consider(node.exact);
    let segEnd = path.indexOf('/', start);
    if (segEnd < 0 || segEnd > end) segEnd = end;
    const next = segEnd < end ? segEnd + 1 : -1;

    if (node.statics !== null) {
      const child = node.statics.get(path.slice(start, segEnd));
      if (child !== undefined && this.walk(child, path, next, end)) return true;
    }
    if (node.param !== null && segEnd > start && this.walk(node.param, path, next, end)) return true;
    return this.consider(node.wildcard);
  }

  /**
   * Take the first route of a sorted list that accepts the request and beats the best so far.
   * True when the best now has the highest priority of all routes: the search can stop.
   */
  private consider(list: Candidate<R>[] | null): boolean {
    if (list === null) return false;
    const view = this.view;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (c.priority <= this.bestPriority) return false;
      if (c.methods !== null && !c.methods.includes(view.method)) continue;
      if (c.regex !== null && !(view.path.startsWith(c.literal) && c.regex.test(view.path, 0, view.pathEnd))) continue;
      if (c.conditions === null || accepts(c.conditions, view)) {
        this.best = c.route;
        this.bestPriority = c.priority;
        return c.priority >= this.topPriority;
      }
    }
    return false;
  }
}

export function compileRouter<R extends RoutableRoute>(routes: readonly R[]): Router<R> {
  return new CompiledRouter(routes);
}
