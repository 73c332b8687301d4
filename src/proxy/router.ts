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
import { PersistentMap } from '../util/persistent-map.js';
import { runWhole, type Sliced } from '../util/slices.js';
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
  /**
   * This router with `removed` taken out (by id; as they were added) and `added` put in. Shares
   * every trie node the change does not touch; this router stays as it is (requests in flight
   * on the old runtime keep routing with it).
   */
  withChanges(removed: readonly R[], added: readonly R[]): Router<R>;
  /** withChanges as work that pauses between routes (util/slices.ts). */
  withChangesSliced(removed: readonly R[], added: readonly R[]): Sliced<Router<R>>;
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
/**
 * A node with more static children than this keeps them in a PersistentMap, which an edit
 * changes by copying a path of its trie, not every entry: a one-route change under a node of
 * 10,000 children (10,000 services under "/") copied a Map of 10,000 entries, 1.1 ms and ~0.5 MB
 * a change. Below it, a Map: a lookup in it costs half as much (~60 against ~120 ns at 10,000),
 * and copying a small one is cheap. A PersistentMap that shrinks below half this becomes a Map again.
 */
const BIG = 64;

/** A node's static children, by segment. */
type Statics<R> = Map<string, TrieNode<R>> | PersistentMap<TrieNode<R>>;

class TrieNode<R> {
  /**
   * The static child when there is one only (most nodes below the first segment): a Map per node
   * for one entry would weigh ~180 bytes. `statics` is then null.
   */
  only: string | null = null;
  onlyChild: TrieNode<R> | null = null;
  /** The static children when there are two or more. */
  statics: Statics<R> | null = null;
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

function candidateOf<R extends RoutableRoute>(route: R): Candidate<R> {
  const cm = route.compiledMatch ?? compileMatch(route.match);
  const regex = cm.pathRegex;
  return {
    route,
    id: route.id,
    priority: route.priority ?? DEFAULT_PRIORITY,
    methods: cm.methods,
    conditions: cm.conditions,
    regex,
    literal: regex?.literalPrefix ?? '',
  };
}

/** Where a route sits in one host table: the segments down to its node (null: the parameter child), and which list. */
interface Placement {
  readonly segments: readonly (string | null)[];
  readonly list: 'exact' | 'wildcard';
}

const paramOrStatic = (s: string): string | null => (s.length > 1 && s.charCodeAt(0) === 58 /* ":" */ ? null : s);

/** Where each path pattern and the pathRegex of a route sit in a host table's trie. */
function placements(m: RouteMatch, literal: string | null): Placement[] {
  const out: Placement[] = [];
  if (literal !== null) {
    // The whole segments of the literal start: "/api/v" gives ["api"]; "/" gives none. They are
    // literal text, so a segment such as ":x" is a static child here.
    const lastSlash = literal.lastIndexOf('/');
    out.push({ segments: lastSlash > 0 ? literal.slice(1, lastSlash).split('/') : [], list: 'wildcard' });
  }
  for (const pattern of m.paths ?? []) {
    // Pattern validity (leading "/", "*" only last, ":name" shape) is the schema's job.
    const segments = pattern.slice(1).split('/');
    const wildcard = segments[segments.length - 1] === '*';
    if (wildcard) segments.pop();
    out.push({ segments: segments.map(paramOrStatic), list: wildcard ? 'wildcard' : 'exact' });
  }
  return out;
}

/**
 * The host tables a route is filed in: its exact names; its wildcards by their suffix with the
 * leading dot ("*.example.com" → ".example.com", which no exact name can be); "" when it lists
 * no hosts.
 */
function hostKeys(m: RouteMatch): string[] {
  if (m.hosts === undefined || m.hosts.length === 0) return [''];
  const keys: string[] = [];
  for (const raw of m.hosts) {
    const host = raw.toLowerCase();
    const key = host.startsWith('*.') ? host.slice(1) : host;
    if (!keys.includes(key)) keys.push(key);
  }
  return keys;
}

/**
 * A router's host tables, each the root of a path trie. The tables of exact names and of wildcard
 * suffixes are the static children of a node each, keyed by hostKeys key, so an edit treats a
 * host like a path segment: ten thousand hosts change as cheaply as ten thousand paths.
 */
interface Tables<R> {
  readonly exact: TrieNode<R>;
  readonly wildcard: TrieNode<R>;
  /** The table of the routes that list no hosts. */
  readonly any: TrieNode<R>;
}

/**
 * One change to a router's tables that leaves the router it starts from intact: a node, a map or
 * a list is copied the first time the change touches it and changed in place after that, so
 * every part the change does not touch is shared with the old router (path copying), and a
 * one-route change costs the depth of its paths, not the size of the table. Building a router
 * is the same change made to empty tables.
 */
class TableEdit<R extends RoutableRoute> {
  /** What this edit made: only these may change in place. */
  private readonly fresh = new Set<object>();
  /** The static children this edit set under a node of its own whose statics are a PersistentMap; null: taken out (seal). */
  private readonly bigChanges = new Map<TrieNode<R>, Map<string, TrieNode<R> | null>>();

  private exact: TrieNode<R>;
  private wildcard: TrieNode<R>;
  private any: TrieNode<R>;

  constructor(tables: Tables<R>) {
    this.exact = tables.exact;
    this.wildcard = tables.wildcard;
    this.any = tables.any;
  }

  /** The tables as the edit left them; after finish(), a router's. */
  get tables(): Tables<R> {
    return { exact: this.exact, wildcard: this.wildcard, any: this.any };
  }

  add(route: R): void {
    const c = candidateOf(route);
    for (const key of hostKeys(route.match)) {
      for (const p of placements(route.match, c.regex === null ? null : c.literal)) {
        const node = this.nodeAt(key, p.segments);
        const list = this.ownList(node[p.list]);
        // The same route can reach one node twice ("/a/:x" and "/a/:y", or repeated hosts).
        if (!list.includes(c)) list.push(c);
        node[p.list] = list;
      }
    }
  }

  /** Takes out the route with this id from where `route` (as it was added) sits. */
  remove(route: R): void {
    const c = candidateOf(route);
    for (const key of hostKeys(route.match)) {
      for (const p of placements(route.match, c.regex === null ? null : c.literal)) {
        const node = this.nodeAt(key, p.segments);
        if (node[p.list] === null) continue;
        const list = this.ownList(node[p.list]);
        for (let i = list.length - 1; i >= 0; i--) if (list[i]!.id === route.id) list.splice(i, 1);
        node[p.list] = list;
      }
    }
  }

  /** Sort what changed, fill in maxPriority, drop emptied nodes and tables; the highest priority of all. */
  *finish(): Sliced<number> {
    const exact = yield* this.seal(this.exact);
    const wildcard = yield* this.seal(this.wildcard);
    return Math.max(exact, wildcard, yield* this.seal(this.any));
  }

  private ownList(list: Candidate<R>[] | null): Candidate<R>[] {
    if (list !== null && this.fresh.has(list)) return list;
    const copy = list === null ? [] : list.slice();
    this.fresh.add(copy);
    return copy;
  }

  private ownNode(node: TrieNode<R> | null | undefined): TrieNode<R> {
    if (node != null && this.fresh.has(node)) return node;
    const copy = new TrieNode<R>();
    if (node != null) {
      copy.only = node.only;
      copy.onlyChild = node.onlyChild;
      copy.statics = node.statics;
      copy.param = node.param;
      copy.exact = node.exact;
      copy.wildcard = node.wildcard;
      copy.maxPriority = node.maxPriority;
    }
    this.fresh.add(copy);
    return copy;
  }

  /** The node at `segments` below the root of table `key`; it and the path to it are this edit's own. */
  private nodeAt(key: string, segments: readonly (string | null)[]): TrieNode<R> {
    let node: TrieNode<R>;
    if (key === '') node = this.any = this.ownNode(this.any);
    else {
      const hosts = key.charCodeAt(0) === 46 /* "." */ ? (this.wildcard = this.ownNode(this.wildcard)) : (this.exact = this.ownNode(this.exact));
      node = this.ownNode(this.staticChild(hosts, key));
      this.setStatic(hosts, key, node);
    }
    for (const s of segments) {
      if (s === null) {
        node = node.param = this.ownNode(node.param);
        continue;
      }
      const child = this.ownNode(this.staticChild(node, s));
      this.setStatic(node, s, child);
      node = child;
    }
    return node;
  }

  /** staticChild, with what this edit set so far. */
  private staticChild(node: TrieNode<R>, s: string): TrieNode<R> | null {
    if (node.statics instanceof PersistentMap) {
      const changed = this.bigChanges.get(node)?.get(s);
      if (changed !== undefined) return changed;
    }
    return staticChild(node, s);
  }

  /** Sets the static child `s` of a node this edit owns. */
  private setStatic(node: TrieNode<R>, s: string, child: TrieNode<R>): void {
    if (node.statics === null && (node.only === null || node.only === s)) {
      node.only = s;
      node.onlyChild = child;
      return;
    }
    let statics = node.statics;
    if (statics instanceof PersistentMap) {
      let changes = this.bigChanges.get(node);
      if (changes === undefined) this.bigChanges.set(node, (changes = new Map()));
      changes.set(s, child);
      return;
    }
    if (statics === null || !this.fresh.has(statics)) {
      statics = new Map(statics ?? [[node.only!, node.onlyChild!]]);
      this.fresh.add(statics);
      node.statics = statics;
      node.only = null;
      node.onlyChild = null;
    }
    statics.set(s, child);
  }

  /** A node this edit did not touch keeps its maxPriority: nothing below it changed. */
  private *seal(node: TrieNode<R>): Sliced<number> {
    if (!this.fresh.has(node)) return node.maxPriority;
    yield;
    let max = NONE;
    for (const name of ['exact', 'wildcard'] as const) {
      const list = node[name];
      if (list === null) continue;
      if (list.length === 0) {
        node[name] = null;
        continue;
      }
      // A copy at its length: a list grown by push keeps room for 16 more, in every node.
      if (this.fresh.has(list)) node[name] = list.sort(compareCandidates).slice();
      max = Math.max(max, list[0]!.priority);
    }
    // A child can only have become empty when this edit touched it, and then the map is its own.
    if (node.onlyChild !== null) {
      const m = yield* this.seal(node.onlyChild);
      if (m === NONE && isEmpty(node.onlyChild)) {
        node.only = null;
        node.onlyChild = null;
      } else {
        max = Math.max(max, m);
      }
    }
    const statics = node.statics;
    if (statics instanceof PersistentMap) {
      max = yield* this.sealBig(node, statics, max);
    } else if (statics !== null) {
      for (const [s, child] of statics) {
        const m = yield* this.seal(child);
        if (m === NONE && isEmpty(child)) statics.delete(s);
        else max = Math.max(max, m);
      }
      settleStatics(node, statics);
    }
    if (node.param !== null) {
      const m = yield* this.seal(node.param);
      if (m === NONE && isEmpty(node.param)) node.param = null;
      else max = Math.max(max, m);
    }
    node.maxPriority = max;
    return max;
  }

  /**
   * seal for a node whose static children are a PersistentMap: only the children this edit set
   * are sealed, and they go in as one change. `max` is the highest priority found so far;
   * the node's priority before the edit bounds the children left as they were, so they are
   * looked at only when what changed leaves the node below that, and then until one reaches it.
   */
  private *sealBig(node: TrieNode<R>, statics: PersistentMap<TrieNode<R>>, max: number): Sliced<number> {
    const before = node.maxPriority;
    const changes = this.bigChanges.get(node);
    if (changes !== undefined) {
      for (const [s, child] of changes) {
        const m = yield* this.seal(child!);
        if (m === NONE && isEmpty(child!)) changes.set(s, null);
        else max = Math.max(max, m);
      }
    }
    const after = changes === undefined ? statics : statics.withChanges(changes);
    if (max < before) {
      let seen = 0;
      for (const [s, child] of after) {
        if (changes?.has(s) === true) continue;
        max = Math.max(max, child.maxPriority);
        if (max >= before) break;
        if (++seen % 256 === 0) yield;
      }
    }
    settleStatics(node, after);
    return max;
  }
}

/** Keeps a sealed node's static children in the form their number calls for (BIG). */
function settleStatics<R>(node: TrieNode<R>, statics: Statics<R>): void {
  if (statics.size <= 1) {
    node.statics = null;
    if (statics.size === 1) [[node.only, node.onlyChild]] = statics;
    return;
  }
  if (statics instanceof PersistentMap) node.statics = statics.size < BIG / 2 ? new Map(statics) : statics;
  else node.statics = statics.size > BIG ? PersistentMap.from(statics) : statics;
}

function staticChild<R>(node: TrieNode<R>, s: string): TrieNode<R> | null {
  return node.only === s ? node.onlyChild : (node.statics?.get(s) ?? null);
}

function isEmpty(node: TrieNode<unknown>): boolean {
  return node.exact === null && node.wildcard === null && node.onlyChild === null && node.statics === null && node.param === null;
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
  private readonly tables: Tables<R>;
  // The state of one lookup, reused by the next (lookups never overlap: no awaits).
  private readonly view: RequestView = { method: '', path: '', pathEnd: 0, headers: NO_HEADERS, query: null };
  private best: R | null = null;
  private bestPriority = NONE;
  /** The highest priority of any route: a route found with it ends the search. */
  private readonly topPriority: number;

  /** @param topPriority what edit.finish() returned: the edit is over. */
  constructor(size: number, edit: TableEdit<R>, topPriority: number) {
    this.size = size;
    this.topPriority = topPriority;
    this.tables = edit.tables;
  }

  withChanges(removed: readonly R[], added: readonly R[]): Router<R> {
    return runWhole(this.withChangesSliced(removed, added));
  }

  withChangesSliced(removed: readonly R[], added: readonly R[]): Sliced<Router<R>> {
    return edited(this.tables, this.size, removed, added);
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
    const { exact, wildcard, any } = this.tables;
    // A kind of table with no route has the lowest priority of all: nothing to look up.
    if (h.length > 0) {
      if (exact.maxPriority !== NONE) {
        const root = staticChild(exact, h);
        if (root !== null && this.walk(root, path, first, end)) return;
      }
      if (wildcard.maxPriority !== NONE) {
        // Dot positions left to right give suffixes longest first; position 0 is excluded so
        // at least one character precedes the suffix.
        for (let i = h.indexOf('.', 1); i > 0; i = h.indexOf('.', i + 1)) {
          const root = staticChild(wildcard, h.slice(i));
          if (root !== null && this.walk(root, path, first, end)) return;
        }
      }
    }
    this.walk(any, path, first, end);
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

    const only = node.only;
    if (only !== null) {
      if (segEnd - start === only.length && path.startsWith(only, start) && this.walk(node.onlyChild!, path, next, end)) return true;
    } else if (node.statics !== null) {
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

/** The router of `tables` (holding `size` routes) with `removed` taken out and `added` put in: one edit, a pause after each route. */
function* edited<R extends RoutableRoute>(tables: Tables<R>, size: number, removed: readonly R[], added: readonly R[]): Sliced<Router<R>> {
  const edit = new TableEdit<R>(tables);
  for (const route of removed) {
    edit.remove(route);
    yield;
  }
  for (const route of added) {
    edit.add(route);
    yield;
  }
  const top = yield* edit.finish();
  return new CompiledRouter(size - removed.length + added.length, edit, top);
}

export function compileRouter<R extends RoutableRoute>(routes: readonly R[]): Router<R> {
  return runWhole(compileRouterSliced(routes));
}

/** compileRouter as work that pauses between routes (util/slices.ts). */
export function compileRouterSliced<R extends RoutableRoute>(routes: readonly R[]): Sliced<Router<R>> {
  return edited({ exact: new TrieNode(), wildcard: new TrieNode(), any: new TrieNode() }, 0, [], routes);
}
