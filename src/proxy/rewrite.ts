// A route's rewrite: the path and Host the upstream gets instead of the client's.
//
// Rewrites apply to the normalized path (path.ts) and keep the query string exactly as sent.
// Their result is itself normalized, so a rewrite can never reintroduce what normalization took
// out ("..", "//", encoded unreserved characters):
//   - stripPrefix "/api" removes whole leading segments: "/api/users" → "/users", "/api" and
//     "/api/" → "/". (The schema requires every path of the route to start with it, so a path
//     without it cannot reach here; should one, it is passed on unchanged.)
//   - path "/v2/users/:id" replaces the path; each ":name" is the segment the same ":name"
//     matched in the route's path pattern, and a trailing "*" is the rest the pattern's "*"
//     matched. Segments a pattern matched are non-empty and hold no "/" or dot segment, and the
//     template is a normalized pattern itself (schema.ts), so the result is normal.
//   - host sets the Host header sent upstream (X-Forwarded-Host keeps the client's).
//
// Which pattern matched is not something the router reports: for a template with ":name" or "*"
// the route's own patterns are matched again, in the router's order of preference (static
// before ":name" before "*", segment by segment), which costs a few comparisons and only on
// such routes.
import type { Route } from '../config/schema.js';

const SLASH = 47; // "/"

function queryStart(target: string): number {
  const q = target.indexOf('?');
  return q < 0 ? target.length : q;
}

export interface Rewrite {
  /** Host header for the upstream; null keeps the client's. */
  readonly host: string | null;
  /** The upstream's request target for a normalized one (query string included). */
  path(target: string): string;
}

/** One of the route's patterns, with where the template finds each of its parts in it. */
interface Pattern {
  /** Per segment: the literal text, or null for ":name". */
  readonly segments: readonly (string | null)[];
  readonly wildcard: boolean;
  /** For each template part that is ":name": the segment index of that name in this pattern. */
  readonly paramIndex: readonly number[];
}

const isParam = (s: string) => s.length > 1 && s.charCodeAt(0) === 58; /* ":" */

function rank(segment: string | null): number {
  return segment === null ? 1 : segment === '*' ? 2 : 0;
}

/** Static before ":name" before "*", segment by segment: the order the router tries them in. */
function comparePatterns(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = rank(isParam(a[i]!) ? null : a[i]!) - rank(isParam(b[i]!) ? null : b[i]!);
    if (d !== 0) return d;
  }
  return b.length - a.length;
}

class StripPrefix implements Rewrite {
  constructor(
    private readonly prefix: string,
    readonly host: string | null,
  ) {}

  path(target: string): string {
    const n = this.prefix.length;
    const pathEnd = queryStart(target);
    if (!target.startsWith(this.prefix)) return target;
    if (pathEnd === n) return `/${target.slice(n)}`;
    return target.charCodeAt(n) === SLASH ? target.slice(n) : target;
  }
}

class Template implements Rewrite {
  /** Literal text between substitutions; parts[i] comes before substitution i. */
  private readonly literals: string[] = [];
  private readonly patterns: Pattern[] = [];
  private readonly endsWithRest: boolean;
  /** Segment boundaries of the last match: starts[i], ends[i] of path segment i. */
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  constructor(
    template: string,
    routePaths: readonly string[],
    readonly host: string | null,
  ) {
    const parts = template.slice(1).split('/');
    this.endsWithRest = parts.at(-1) === '*';
    if (this.endsWithRest) parts.pop();
    const names: string[] = [];
    let literal = '';
    for (const part of parts) {
      literal += '/';
      if (isParam(part)) {
        this.literals.push(literal);
        names.push(part);
        literal = '';
      } else {
        literal += part;
      }
    }
    if (this.endsWithRest) literal += '/';
    this.literals.push(literal);
    if (names.length === 0 && !this.endsWithRest) return;
    const sorted = routePaths.map((p) => p.slice(1).split('/')).sort(comparePatterns);
    for (const segs of sorted) {
      const wildcard = segs.at(-1) === '*';
      if (wildcard) segs.pop();
      this.patterns.push({
        segments: segs.map((s) => (isParam(s) ? null : s)),
        wildcard,
        paramIndex: names.map((n) => segs.indexOf(n)),
      });
    }
  }

  path(target: string): string {
    const pathEnd = queryStart(target);
    const query = target.slice(pathEnd);
    if (this.patterns.length === 0) return this.literals[0]! + query;
    for (const p of this.patterns) {
      const restStart = this.matchPattern(p, target, pathEnd);
      if (restStart < 0) continue;
      let out = '';
      for (let i = 0; i < p.paramIndex.length; i++) {
        const seg = p.paramIndex[i]!;
        out += this.literals[i]! + target.slice(this.starts[seg]!, this.ends[seg]!);
      }
      out += this.literals[p.paramIndex.length]!;
      if (this.endsWithRest) out += target.slice(restStart, pathEnd);
      return out + query;
    }
    // The router chose this route by one of these patterns, so one matches.
    return target;
  }

  /** Where the rest after the pattern begins (its "*" part), or -1 when it does not match. */
  private matchPattern(p: Pattern, path: string, end: number): number {
    let i = 1;
    const segs = p.segments;
    for (let k = 0; k < segs.length; k++) {
      if (i > end) return -1;
      let segEnd = path.indexOf('/', i);
      if (segEnd < 0 || segEnd > end) segEnd = end;
      const s = segs[k];
      if (s === null ? segEnd === i : path.slice(i, segEnd) !== s) return -1;
      this.starts[k] = i;
      this.ends[k] = segEnd;
      i = segEnd + 1;
    }
    if (p.wildcard) return i <= end ? i : -1;
    return i === end + 1 ? end : -1;
  }
}

class HostOnly implements Rewrite {
  constructor(readonly host: string) {}

  path(target: string): string {
    return target;
  }
}

export function compileRewrite(route: Pick<Route, 'rewrite' | 'match'>): Rewrite | null {
  const def = route.rewrite;
  if (def === undefined) return null;
  const host = def.host ?? null;
  if (def.stripPrefix !== undefined) return new StripPrefix(def.stripPrefix, host);
  if (def.path !== undefined) return new Template(def.path, route.match.paths ?? [], host);
  return new HostOnly(host!);
}
