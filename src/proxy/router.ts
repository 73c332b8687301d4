// Request routing: host tables, each a path-segment trie, with backtracking.
//
// Hand-written rather than find-my-way: its constraint model picks one handler per
// (path, constraint) and cannot fall back to a broader route when a narrower one rejects the
// request on its header set, which our matching needs.
//
// Matching rules (README material):
//
// Paths
//   - Matched on the request path as the handler normalized it (path.ts: dot segments resolved,
//     "//" merged, unreserved characters decoded), without its query string.
//   - Patterns are split on "/". A static segment matches itself exactly (case-sensitive).
//     ":name" matches exactly one non-empty segment. A trailing "*" segment matches the rest of
//     the path, which may be empty: "/users/*" matches "/users/" and "/users/a/b" but not
//     "/users"; "/*" matches every path.
//   - At each trie node the static child is tried first, then the parameter child, then the
//     node's wildcard routes. If every route found along a branch rejects the request (method
//     or headers), the search backtracks and continues, so a narrower route that rejects never
//     hides a broader one that accepts. Each trie node sits at a fixed depth, so the search
//     visits every node at most once: no exponential blow-up.
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
//   1. more header conditions;
//   2. routes that list methods before routes that accept any method;
//   3. route id, ascending. Config order carries no meaning: etcd returns objects by key.
//
// Conditions
//   - methods: the request method is in the route's list, compared exactly (HEAD does not
//     imply GET).
//   - headers: every configured header (name lowercased) equals the request's value exactly.
//     Repeated request headers are seen as Node joins them (", ").
import type { IncomingHttpHeaders } from 'node:http';
import type { Route } from '../config/schema.js';

export type RouteMatch = Route['match'];

/** What the router needs from a route; the runtime passes its compiled routes. */
export interface RoutableRoute {
  readonly id: string;
  readonly match: RouteMatch;
}

export interface Router<R extends RoutableRoute> {
  /** Routes compiled into this router. */
  readonly size: number;
  /**
   * @param host the raw Host header (any case, may carry a port)
   * @param path the normalized request target in origin form; anything after "?" is ignored
   */
  match(host: string | undefined, method: string, path: string, headers: IncomingHttpHeaders): R | null;
}

interface Candidate<R> {
  readonly route: R;
  readonly id: string;
  readonly methods: readonly string[] | null;
  readonly headerNames: readonly string[];
  readonly headerValues: readonly string[];
}

class TrieNode<R> {
  statics: Map<string, TrieNode<R>> | null = null;
  param: TrieNode<R> | null = null;
  /** Routes whose pattern ends exactly at this node. */
  exact: Candidate<R>[] | null = null;
  /** Routes whose pattern ends with "*" after this node's segments. */
  wildcard: Candidate<R>[] | null = null;
}

const SLASH = 47; // "/"

function accepts<R>(c: Candidate<R>, method: string, headers: IncomingHttpHeaders): boolean {
  if (c.methods !== null && !c.methods.includes(method)) return false;
  const names = c.headerNames;
  for (let i = 0; i < names.length; i++) {
    if (headers[names[i]!] !== c.headerValues[i]) return false;
  }
  return true;
}

function firstAccepting<R>(list: Candidate<R>[] | null, method: string, headers: IncomingHttpHeaders): R | null {
  if (list === null) return null;
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    if (accepts(c, method, headers)) return c.route;
  }
  return null;
}

/**
 * `start` is the index where the next unconsumed segment begins, or -1 when the path ended
 * right after the segment that led to `node`. `end` is where the path ends (the "?" or length).
 */
function walk<R>(
  node: TrieNode<R>,
  path: string,
  start: number,
  end: number,
  method: string,
  headers: IncomingHttpHeaders,
): R | null {
  if (start < 0) return firstAccepting(node.exact, method, headers);

  let segEnd = path.indexOf('/', start);
  if (segEnd < 0 || segEnd > end) segEnd = end;
  const next = segEnd < end ? segEnd + 1 : -1;

  if (node.statics !== null) {
    const child = node.statics.get(path.slice(start, segEnd));
    if (child !== undefined) {
      const r = walk(child, path, next, end, method, headers);
      if (r !== null) return r;
    }
  }
  if (node.param !== null && segEnd > start) {
    const r = walk(node.param, path, next, end, method, headers);
    if (r !== null) return r;
  }
  return firstAccepting(node.wildcard, method, headers);
}

function compareCandidates<R>(a: Candidate<R>, b: Candidate<R>): number {
  const byHeaders = b.headerNames.length - a.headerNames.length;
  if (byHeaders !== 0) return byHeaders;
  const byMethods = (b.methods !== null ? 1 : 0) - (a.methods !== null ? 1 : 0);
  if (byMethods !== 0) return byMethods;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

class Table<R> {
  readonly root = new TrieNode<R>();

  insert(pattern: string, c: Candidate<R>, touched: Candidate<R>[][]): void {
    // Pattern validity (leading "/", "*" only last, ":name" shape) is the schema's job.
    const segments = pattern.slice(1).split('/');
    let node = this.root;
    const last = segments.length - 1;
    for (let i = 0; i <= last; i++) {
      const s = segments[i]!;
      if (i === last && s === '*') {
        node.wildcard = addCandidate(node.wildcard, c, touched);
        return;
      }
      if (s.length > 1 && s.charCodeAt(0) === 58 /* ":" */) {
        node = node.param ??= new TrieNode<R>();
      } else {
        node.statics ??= new Map();
        let child = node.statics.get(s);
        if (child === undefined) {
          child = new TrieNode<R>();
          node.statics.set(s, child);
        }
        node = child;
      }
    }
    node.exact = addCandidate(node.exact, c, touched);
  }
}

function addCandidate<R>(list: Candidate<R>[] | null, c: Candidate<R>, touched: Candidate<R>[][]): Candidate<R>[] {
  if (list === null) {
    list = [];
    touched.push(list);
  }
  // The same route can reach one node twice ("/a/:x" and "/a/:y", or repeated hosts).
  if (!list.includes(c)) list.push(c);
  return list;
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
  private readonly exactHosts = new Map<string, Table<R>>();
  /** Keyed by the suffix with its leading dot: "*.example.com" → ".example.com". */
  private readonly wildcardHosts = new Map<string, Table<R>>();
  private readonly anyHost: Table<R> | null;

  constructor(routes: readonly R[]) {
    this.size = routes.length;
    const touched: Candidate<R>[][] = [];
    let anyHost: Table<R> | null = null;
    for (const route of routes) {
      const m = route.match;
      const headerNames: string[] = [];
      const headerValues: string[] = [];
      if (m.headers !== undefined) {
        for (const name of Object.keys(m.headers).sort()) {
          headerNames.push(name.toLowerCase());
          headerValues.push(m.headers[name]!);
        }
      }
      const c: Candidate<R> = {
        route,
        id: route.id,
        methods: m.methods !== undefined && m.methods.length > 0 ? [...m.methods] : null,
        headerNames,
        headerValues,
      };
      const tables: Table<R>[] = [];
      if (m.hosts === undefined || m.hosts.length === 0) {
        tables.push((anyHost ??= new Table<R>()));
      } else {
        for (const raw of m.hosts) {
          const host = raw.toLowerCase();
          const wild = host.startsWith('*.');
          const map = wild ? this.wildcardHosts : this.exactHosts;
          const key = wild ? host.slice(1) : host;
          let t = map.get(key);
          if (t === undefined) {
            t = new Table<R>();
            map.set(key, t);
          }
          if (!tables.includes(t)) tables.push(t);
        }
      }
      for (const t of tables) for (const p of m.paths) t.insert(p, c, touched);
    }
    for (const list of touched) if (list.length > 1) list.sort(compareCandidates);
    this.anyHost = anyHost;
  }

  match(host: string | undefined, method: string, path: string, headers: IncomingHttpHeaders): R | null {
    if (path.charCodeAt(0) !== SLASH) return null;
    let end = path.indexOf('?');
    if (end < 0) end = path.length;
    // Every path has a first segment, possibly empty ("/" is the one empty segment).
    const first = 1;

    const h = normalizeHost(host);
    if (h.length > 0) {
      if (this.exactHosts.size > 0) {
        const t = this.exactHosts.get(h);
        if (t !== undefined) {
          const r = walk(t.root, path, first, end, method, headers);
          if (r !== null) return r;
        }
      }
      if (this.wildcardHosts.size > 0) {
        // Dot positions left to right give suffixes longest first; position 0 is excluded so
        // at least one character precedes the suffix.
        for (let i = h.indexOf('.', 1); i > 0; i = h.indexOf('.', i + 1)) {
          const t = this.wildcardHosts.get(h.slice(i));
          if (t !== undefined) {
            const r = walk(t.root, path, first, end, method, headers);
            if (r !== null) return r;
          }
        }
      }
    }
    if (this.anyHost !== null) return walk(this.anyHost.root, path, first, end, method, headers);
    return null;
  }
}

export function compileRouter<R extends RoutableRoute>(routes: readonly R[]): Router<R> {
  return new CompiledRouter(routes);
}
