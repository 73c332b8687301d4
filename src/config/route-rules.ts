// Checks of one route that span its fields, for the schema (schema.ts): which fields go together,
// and whether a rewrite fits the paths the route matches. Each problem names the field it is
// about, so an error points at the line to fix.
import { LinearRegex } from '../util/linear-regex.js';

/** The fields these checks read (structural, so this module does not depend on the schema's types). */
export interface RouteShape {
  match: { paths?: string[] | undefined; pathRegex?: string | undefined };
  upstream?: string | undefined;
  split?: { upstream: string }[] | undefined;
  redirect?: object | undefined;
  respond?: object | undefined;
  rewrite?: { stripPrefix?: string | undefined; path?: string | undefined } | undefined;
  retries?: { on?: (number | string)[] | undefined } | undefined;
  timeoutMs?: number | undefined;
}

export interface RouteProblem {
  path: (string | number)[];
  message: string;
}

export const ACTIONS = ['upstream', 'split', 'redirect', 'respond'] as const;
/** Fields that only mean something when the route forwards to an upstream. */
const FORWARDING_ONLY = ['rewrite', 'retries', 'timeoutMs'] as const;

const and = (names: readonly string[]) => (names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`);

export function routeProblems(route: RouteShape): RouteProblem[] {
  const out: RouteProblem[] = [];
  const { paths, pathRegex } = route.match;
  if ((paths === undefined) === (pathRegex === undefined)) {
    out.push({ path: ['match'], message: paths === undefined ? 'give paths or pathRegex' : 'give paths or pathRegex, not both' });
  }

  const actions = ACTIONS.filter((a) => route[a] !== undefined);
  if (actions.length !== 1) {
    out.push({
      path: [],
      message: `a route needs exactly one of ${ACTIONS.join(', ')}; this one has ${actions.length === 0 ? 'none' : and(actions)}`,
    });
  }
  const forwards = actions.length === 1 && (actions[0] === 'upstream' || actions[0] === 'split');
  if (actions.length === 1 && !forwards) {
    for (const field of FORWARDING_ONLY) {
      if (route[field] !== undefined) out.push({ path: [field], message: `only for a route that forwards (upstream or split); this one answers with ${actions[0]}` });
    }
  }

  route.split?.forEach((arm, i) => {
    if (route.split!.findIndex((a) => a.upstream === arm.upstream) < i) out.push({ path: ['split', i, 'upstream'], message: `upstream "${arm.upstream}" is already in the split` });
  });

  const on = route.retries?.on ?? [];
  on.forEach((c, i) => {
    if (on.indexOf(c) < i) out.push({ path: ['retries', 'on', i], message: `${JSON.stringify(c)} is listed twice` });
  });

  const rewrite = route.rewrite;
  if (rewrite?.stripPrefix !== undefined) out.push(...stripPrefixProblems(rewrite.stripPrefix, paths, pathRegex));
  if (rewrite?.path !== undefined) out.push(...rewritePathProblems(rewrite.path, paths, pathRegex));
  return out;
}

const segmentsOf = (pattern: string) => pattern.slice(1).split('/');

function stripPrefixProblems(prefix: string, paths: string[] | undefined, pathRegex: string | undefined): RouteProblem[] {
  const at = ['rewrite', 'stripPrefix'];
  if (prefix === '/' || prefix.endsWith('/')) return [{ path: at, message: 'must not end with "/": "/api" strips "/api" from "/api/users" and leaves "/users"' }];
  const segments = segmentsOf(prefix);
  if (segments.some((s) => s === '*' || s.startsWith(':'))) return [{ path: at, message: 'must be literal segments, without ":name" or "*"' }];
  const out: RouteProblem[] = [];
  for (const pattern of paths ?? []) {
    const ps = segmentsOf(pattern);
    if (!segments.every((s, i) => ps[i] === s)) {
      out.push({ path: at, message: `"${prefix}" is not at the start of path "${pattern}": every path of the route must start with it` });
    }
  }
  if (pathRegex !== undefined && !startsWithSegments(literalStart(pathRegex), prefix)) {
    out.push({ path: at, message: `"${prefix}" is not at the literal start of pathRegex (it starts "${literalStart(pathRegex)}"), so some paths the route matches may lack it` });
  }
  return out;
}

function rewritePathProblems(template: string, paths: string[] | undefined, pathRegex: string | undefined): RouteProblem[] {
  const at = ['rewrite', 'path'];
  const segments = segmentsOf(template);
  const params = segments.filter((s) => s.startsWith(':'));
  const wildcard = segments.at(-1) === '*';
  if (pathRegex !== undefined && (params.length > 0 || wildcard)) {
    return [{ path: at, message: 'a pathRegex route has no ":name" or "*" to substitute; give a literal path' }];
  }
  const out: RouteProblem[] = [];
  for (const pattern of paths ?? []) {
    const ps = segmentsOf(pattern);
    for (const p of params) {
      if (!ps.includes(p)) out.push({ path: at, message: `"${p}" is not in path "${pattern}": every path of the route must define it` });
    }
    if (wildcard && ps.at(-1) !== '*') out.push({ path: at, message: `ends with "*" but path "${pattern}" does not: every path of the route must` });
  }
  return out;
}

/** The literal start of a valid pathRegex (schema.ts has checked it compiles). */
function literalStart(pathRegex: string): string {
  try {
    return new LinearRegex(pathRegex).literalPrefix;
  } catch {
    return '';
  }
}

/** `path` starts with `prefix` followed by "/" or its end. */
function startsWithSegments(path: string, prefix: string): boolean {
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47);
}
