// Changes checked against a config known to be valid: the same issues validating the whole
// changed config (validate.ts) gives, found by running the same checks on the part of the config
// the change can affect, with objects already parsed (no schema work but for the changed object,
// which its caller parsed).
//
// What "can affect" rests on: nothing refers to a route, and whether an object of any other kind
// is valid never depends on routes; a route's validity depends on itself and on the objects of
// the other kinds. So a changed route is checked with every object of the other kinds and no
// other route; a put of any other object, with every object but the routes (whatever routes refer
// to keeps its id); the deletion of anything but a route, whole (a route may refer to it). A
// check that makes any kind depend on routes must change this file: the unit tests compare it
// with whole validation for every kind of change.
import { runWhole, type Sliced } from '../util/slices.js';
import { perKind, type ConfigObject, type Kind } from './schema.js';
import { formatPath, validateMerged, type ConfigIssue, type DocumentParse, type PathSegment, type ValidateOptions, type ValidationResult } from './validate.js';

/** A config valid as a whole, asked for no more than a check needs (it may be large). */
export interface ValidConfig {
  /** Every object of a kind, in id order. */
  objects(kind: Kind): readonly ConfigObject[];
  find(kind: Kind, id: string): ConfigObject | undefined;
  count(kind: Kind): number;
}

/** A config's lists as a ValidConfig. */
export function listed(config: Readonly<Record<Kind, readonly ConfigObject[]>>): ValidConfig {
  return {
    objects: (kind) => config[kind],
    find: (kind, id) => {
      const at = indexById(config[kind], id);
      return at >= 0 ? config[kind][at] : undefined;
    },
    count: (kind) => config[kind].length,
  };
}

export type ChangeResult = { ok: true; object: ConfigObject | null } | { ok: false; issues: ConfigIssue[] };

/** Index of the object with `id` in a list in id order, or -(insertion point) - 1. */
export function indexById(list: readonly { id: string }[], id: string): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const at = list[mid]!.id;
    if (at === id) return mid;
    if (at < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

type Lists = Record<Kind, ConfigObject[]>;

/** Validate lists already parsed (valid one by one) as one document. */
function validateParsedLists(lists: Lists, place: (path: PathSegment[]) => PathSegment[], opts: ValidateOptions): ValidationResult {
  const parsed = { success: true, data: lists } as unknown as DocumentParse;
  return validateMerged([{ data: lists, parsed, place: (r) => ({ path: formatPath(place(r.path)), message: r.message }) }], opts);
}

/**
 * `live` with object kind/id replaced by `next` (parsed by its kind's schema), or deleted (null):
 * the issues validateDocument({...live, [kind]: [...others, next]}) gives (the changed object
 * last in its list, as the per-object endpoints have always validated it), and `next` as that
 * validation normalizes it (a certificate given the stored key, say).
 */
export function validateChange(live: ValidConfig, kind: Kind, id: string, next: ConfigObject | null, opts: ValidateOptions = {}): ChangeResult {
  const others = () => live.objects(kind).filter((o) => o.id !== id);
  const lists = perKind<ConfigObject[]>((k) => {
    if (k === kind) return kind === 'routes' ? (next ? [next] : []) : next ? [...others(), next] : others();
    if (k === 'routes') return next === null ? [...live.objects('routes')] : [];
    return [...live.objects(k)];
  });
  // The changed route is alone in its list here, but last among all routes in a whole validation.
  const position = live.count(kind) - (live.find(kind, id) ? 1 : 0);
  const place = kind === 'routes' ? (p: PathSegment[]) => (p[0] === 'routes' ? ['routes', position, ...p.slice(2)] : p) : (p: PathSegment[]) => p;
  const result = validateParsedLists(lists, place, opts);
  if (!result.ok) return result;
  return { ok: true, object: next === null ? null : result.config[kind].find((o) => o.id === id)! };
}

/** One object a committed state changed: its kind and id, and whether it is there now. */
export interface ChangedObject {
  kind: Kind;
  id: string;
  present: boolean;
}

/**
 * Whether `now` (its objects valid one by one) is valid as a whole, given that it was before
 * `changed` (which lists every object added, changed or removed since).
 */
export function validAfter(now: ValidConfig, changed: Iterable<ChangedObject>): boolean {
  return runWhole(validAfterSliced(now, changed));
}

/** validAfter as work that pauses after each batch of routes it checks (util/slices.ts). */
export function* validAfterSliced(now: ValidConfig, changed: Iterable<ChangedObject>): Sliced<boolean> {
  let whole = false;
  const routes = new Map<string, ConfigObject>();
  for (const c of changed) {
    if (c.kind !== 'routes') whole ||= !c.present;
    else if (c.present) {
      const route = now.find('routes', c.id);
      if (route) routes.set(c.id, route);
    }
  }
  yield;
  return yield* routesValid(now, whole ? now.objects('routes') : [...routes.values()]);
}

/** Whether objects valid one by one are valid as a whole (`objects` of `config` are all that is read). */
export function validWhole(config: ValidConfig): boolean {
  return runWhole(validWholeSliced(config));
}

/** validWhole as work that pauses after each batch of routes it checks (util/slices.ts). */
export function validWholeSliced(config: ValidConfig): Sliced<boolean> {
  return routesValid(config, config.objects('routes'));
}

/** Routes checked at once: a batch costs about a millisecond. */
const ROUTE_BATCH = 256;

/**
 * Whether `routes` are valid with every object of the other kinds of `config`, and those are
 * valid: in batches of routes, which is the same check since no route's validity depends on
 * another route (above).
 */
function* routesValid(config: ValidConfig, routes: readonly ConfigObject[]): Sliced<boolean> {
  const others = perKind<ConfigObject[]>((k) => (k === 'routes' ? [] : [...config.objects(k)]));
  let from = 0;
  do {
    const batch = routes.slice(from, from + ROUTE_BATCH);
    if (!validateParsedLists({ ...others, routes: batch }, (p) => p, {}).ok) return false;
    from += ROUTE_BATCH;
    yield;
  } while (from < routes.length);
  return true;
}
