// The conditions of a route's match besides host and path: method, headers, query parameters.
// Compiled once per route; checked by the router against each request it considers.
//
// Rules (README "How a request finds its route"):
//   - methods: the request method is in the list; a route that lists GET also takes HEAD
//     (RFC 9110 §9.3.2: HEAD is GET without the body).
//   - headers (names lowercased): a string is an exact, case-sensitive match of the value as
//     Node presents it (repeated headers joined with ", "); { present: true|false } asks only
//     whether the header is there; { regex } must match the whole value (linear-regex.ts).
//   - query: the request's query string (as sent; normalization leaves it alone) is read as
//     application/x-www-form-urlencoded, as URLSearchParams and most frameworks read it: pairs
//     split on "&", name and value on the first "=", "+" and percent-encodings decoded (a pair
//     whose encoding is not valid UTF-8 is compared as written). A parameter given without "="
//     has the value "". A repeated parameter matches an exact or regex condition only when every
//     one of its values does, so `?v=1&v=2` matches neither `v: "1"` nor `v: "2"`: upstreams
//     disagree on which of the two they read, and a route must not be chosen by a value the
//     upstream may not see. Names are case-sensitive.
import type { IncomingHttpHeaders } from 'node:http';
import type { Route } from '../config/schema.js';
import { LinearRegex } from '../util/linear-regex.js';

export type RouteMatch = Route['match'];
type ValueMatch = NonNullable<RouteMatch['headers']>[string];

/** What the conditions see of a request. The router fills one and reuses it. */
export interface RequestView {
  method: string;
  /** The normalized request target, query string included. */
  path: string;
  /** Where the path ends: the index of "?" or the length. */
  pathEnd: number;
  headers: IncomingHttpHeaders;
  /**
   * The query's pairs decoded, flat ([name, value, ...]); null until a query condition first
   * needs them (most lookups never do), then read once for all conditions.
   */
  query: string[] | null;
}

const EXACT = 0;
const PRESENT = 1;
const ABSENT = 2;
const REGEX = 3;

interface ValueCondition {
  readonly name: string;
  readonly kind: number;
  readonly value: string;
  readonly regex: LinearRegex | null;
}

/** Header and query conditions. */
export interface MatchConditions {
  readonly headers: readonly ValueCondition[];
  readonly query: readonly ValueCondition[];
  /** Header and query conditions together: more of them rank a route first among equals. */
  readonly count: number;
}

function valueCondition(name: string, m: ValueMatch): ValueCondition {
  if (typeof m === 'string') return { name, kind: EXACT, value: m, regex: null };
  if ('regex' in m && m.regex !== undefined) return { name, kind: REGEX, value: '', regex: new LinearRegex(m.regex) };
  return { name, kind: m.present === false ? ABSENT : PRESENT, value: '', regex: null };
}

function conditions(record: Record<string, ValueMatch> | undefined, lowercase: boolean): ValueCondition[] {
  if (record === undefined) return [];
  // Sorted so that equal conditions compile to equal lists whatever the document's key order.
  return Object.keys(record)
    .sort()
    .map((name) => valueCondition(lowercase ? name.toLowerCase() : name, record[name]!));
}

/**
 * The methods a route takes, HEAD added where GET is listed; null: any method. Made at its final
 * length (concat, slice): a push, or a spread with more after it, reserves room for 16 more
 * elements, kept by every route.
 */
function compileMethods(m: RouteMatch): readonly string[] | null {
  if (m.methods === undefined || m.methods.length === 0) return null;
  return m.methods.includes('GET') && !m.methods.includes('HEAD') ? m.methods.concat('HEAD') : m.methods.slice();
}

function compileConditions(m: RouteMatch): MatchConditions | null {
  const headers = conditions(m.headers, true);
  const query = conditions(m.query, false);
  const count = headers.length + query.length;
  return count === 0 ? null : { headers, query, count };
}

/** Everything a route's match compiles to, besides its hosts and path patterns. */
export interface CompiledMatch {
  /** null: any method. */
  readonly methods: readonly string[] | null;
  /** null: no header or query conditions (most routes). */
  readonly conditions: MatchConditions | null;
  /** The pathRegex, compiled. */
  readonly pathRegex: LinearRegex | null;
}

/** Compiled once per route (route-compile.ts), so rebuilding the router compiles no pattern. */
export function compileMatch(m: RouteMatch): CompiledMatch {
  return {
    methods: compileMethods(m),
    conditions: compileConditions(m),
    pathRegex: m.pathRegex === undefined ? null : new LinearRegex(m.pathRegex),
  };
}

export function accepts(c: MatchConditions, view: RequestView): boolean {
  const hs = c.headers;
  for (let i = 0; i < hs.length; i++) {
    const cond = hs[i]!;
    const raw = view.headers[cond.name];
    const value = raw === undefined ? undefined : typeof raw === 'string' ? raw : raw.join(', ');
    if (!valueAccepts(cond, value)) return false;
  }
  const qs = c.query;
  if (qs.length === 0) return true;
  const pairs = (view.query ??= queryPairs(view.path, view.pathEnd));
  for (let i = 0; i < qs.length; i++) if (!queryAccepts(qs[i]!, pairs)) return false;
  return true;
}

function valueAccepts(cond: ValueCondition, value: string | undefined): boolean {
  switch (cond.kind) {
    case EXACT:
      return value === cond.value;
    case PRESENT:
      return value !== undefined;
    case ABSENT:
      return value === undefined;
    default:
      return value !== undefined && cond.regex!.test(value);
  }
}

/** The pairs of the query string after `pathEnd`, decoded: [name, value, ...]. */
export function queryPairs(path: string, pathEnd: number): string[] {
  const out: string[] = [];
  let i = pathEnd + 1;
  const end = path.length;
  while (i < end) {
    let amp = path.indexOf('&', i);
    if (amp < 0) amp = end;
    let eq = path.indexOf('=', i);
    if (eq < 0 || eq > amp) eq = amp;
    if (eq > i) out.push(formDecode(path, i, eq), eq < amp ? formDecode(path, eq + 1, amp) : '');
    i = amp + 1;
  }
  return out;
}

function queryAccepts(cond: ValueCondition, pairs: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < pairs.length; i += 2) {
    if (pairs[i] !== cond.name) continue;
    if (cond.kind === ABSENT) return false;
    if (cond.kind === PRESENT) return true;
    seen = true;
    if (!valueAccepts(cond, pairs[i + 1])) return false;
  }
  return seen || cond.kind === ABSENT;
}

/** s[from, to) with "+" as a space and percent-encodings decoded; as written when malformed. */
export function formDecode(s: string, from: number, to: number): string {
  let plain = true;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */ || c === 43 /* + */) {
      plain = false;
      break;
    }
  }
  const raw = s.slice(from, to);
  if (plain) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}
