// updateRuntime (incremental compile) against compileRuntime (whole): random sequences of changes
// to routes, upstreams and policies, each applied to the runtime before it, must route every probe
// request as a whole compile of the same config does; share, by identity, every pool, policy
// instance and compiled route whose definition (and whose references) did not change; and leave
// the runtime they started from routing exactly as before (requests in flight keep using it).
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import type { Config, Kind } from '../../src/config/schema.js';
import { listed, type ChangedObject } from '../../src/config/validate-change.js';
import { validateDocument } from '../../src/config/validate.js';
import { compileRuntime, updateRuntime, type CompiledRoute, type Runtime } from '../../src/proxy/runtime.js';

/** mulberry32: a seeded generator, so a failure names the seed that reproduces it. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof rng>;

const HOSTS = [undefined, ['a.test'], ['b.test', 'a.test'], ['*.w.test'], ['*.x.w.test', 'b.test']];
const PATHS = ['/', '/a', '/a/:id', '/a/:id/b', '/a/*', '/*', '/b/*', '/c/:x/e', '/api/*', '/files/*', '/a/me'];
const METHODS = [undefined, ['GET'], ['POST', 'DELETE']];

interface Doc {
  upstreams: Record<string, unknown>[];
  policies: Record<string, unknown>[];
  routes: Record<string, unknown>[];
}

const ids = (xs: { id?: unknown }[]) => xs.map((x) => x.id as string);

function randomUpstream(r: Rng, id: string) {
  return { id, targets: [{ url: `http://127.0.0.1:${9000 + r.int(4)}`, weight: 1 + r.int(3) }] };
}

function randomPolicy(r: Rng, id: string) {
  return { id, type: 'rate-limit', requestsPerSecond: 1 + r.int(5) };
}

function randomRoute(r: Rng, id: string, doc: Doc) {
  const match: Record<string, unknown> = {};
  const hosts = r.pick(HOSTS);
  if (hosts) match.hosts = hosts;
  if (r.next() < 0.15) match.pathRegex = r.pick(['^/api/v[0-9]+/.*', '^/a/[0-9]+$']);
  else match.paths = [...new Set([r.pick(PATHS), r.pick(PATHS)])];
  const methods = r.pick(METHODS);
  if (methods) match.methods = methods;
  if (r.next() < 0.2) match.headers = { 'x-k': '1' };
  const ups = ids(doc.upstreams);
  const route: Record<string, unknown> = { id, match };
  if (r.next() < 0.3) route.priority = r.int(3);
  if (ups.length > 1 && r.next() < 0.2) route.split = [{ upstream: ups[0], weight: 1 + r.int(3) }, { upstream: ups[1], weight: r.int(3) }];
  else route.upstream = r.pick(ups);
  const pols = ids(doc.policies).filter(() => r.next() < 0.3);
  if (pols.length > 0) route.policies = pols;
  return route;
}

/** Ids a route refers to, to keep removals valid. */
function used(doc: Doc): Set<string> {
  const out = new Set<string>();
  for (const route of doc.routes) {
    if (typeof route.upstream === 'string') out.add(route.upstream);
    for (const arm of (route.split as { upstream: string }[] | undefined) ?? []) out.add(arm.upstream);
    for (const p of (route.policies as string[] | undefined) ?? []) out.add(p);
  }
  return out;
}

function set<T extends { id?: unknown }>(list: T[], obj: T): void {
  const at = list.findIndex((x) => x.id === obj.id);
  if (at >= 0) list[at] = obj;
  else list.push(obj);
}

/** One random add, change or removal of a route, an upstream or a policy. */
function mutate(r: Rng, doc: Doc, serial: { n: number }): void {
  const kind = r.pick(['routes', 'routes', 'routes', 'upstreams', 'policies'] as const);
  const list = doc[kind];
  const op = list.length === 0 ? 'add' : r.pick(['add', 'change', 'change', 'remove'] as const);
  const id = op === 'add' ? `${kind[0]}${serial.n++}` : (r.pick(list).id as string);
  if (op === 'remove') {
    if (kind === 'routes' || !used(doc).has(id)) doc[kind] = list.filter((x) => x.id !== id);
    return;
  }
  if (kind === 'routes') set(list, randomRoute(r, id, doc));
  else if (kind === 'upstreams') set(list, randomUpstream(r, id));
  else set(list, randomPolicy(r, id));
}

function valid(doc: Doc): Config {
  const v = validateDocument(structuredClone(doc));
  assert.ok(v.ok, JSON.stringify(!v.ok && v.issues));
  return v.config;
}

/** What differs between two configs, object by object. */
function changesBetween(before: Config, after: Config): ChangedObject[] {
  const out: ChangedObject[] = [];
  for (const kind of ['upstreams', 'routes', 'policies', 'certificates'] as Kind[]) {
    const was = new Map(before[kind].map((o) => [o.id, JSON.stringify(o)]));
    const now = new Map(after[kind].map((o) => [o.id, JSON.stringify(o)]));
    for (const [id, json] of now) if (was.get(id) !== json) out.push({ kind, id, present: true });
    for (const id of was.keys()) if (!now.has(id)) out.push({ kind, id, present: false });
  }
  return out;
}

const PROBE_HOSTS = ['a.test', 'B.test:8080', 'x.w.test', 'y.x.w.test', 'other.test', undefined];
const PROBE_PATHS = ['/', '/a', '/a/1', '/a/me', '/a/1/b', '/b/x', '/c/d/e', '/api/v1/x', '/files/', '/zzz', '/a/12'];
const PROBE_METHODS = ['GET', 'HEAD', 'POST', 'DELETE'];
const PROBE_HEADERS: IncomingHttpHeaders[] = [{}, { 'x-k': '1' }];

/** Each probe's answer, as a definition: route id, its arms' pools (by definition) and weights, its policies. */
function answers(rt: Runtime): string[] {
  const out: string[] = [];
  for (const host of PROBE_HOSTS)
    for (const path of PROBE_PATHS)
      for (const method of PROBE_METHODS)
        for (const headers of PROBE_HEADERS) {
          const route = rt.match(host, method, path, headers);
          out.push(route === null ? '-' : describeRoute(route));
        }
  return out;
}

function describeRoute(route: CompiledRoute): string {
  const arms = route.forward?.arms.map((a) => `${a.pool.key}*${a.weight}`).join('|') ?? '';
  return `${route.id} ${arms} ${route.policies.map((p) => p.id).join(',')}`;
}

const routeOf = (rt: Runtime, id: string) => rt.parts().routes.get(id);

describe('updateRuntime: incremental compile equals a whole compile', () => {
  for (let seed = 1; seed <= 40; seed++) {
    it(`random changes, seed ${seed}`, () => {
      const r = rng(seed);
      const serial = { n: 0 };
      const doc: Doc = { upstreams: [], policies: [], routes: [] };
      for (let i = 0; i < 3; i++) doc.upstreams.push(randomUpstream(r, `u${serial.n++}`));
      for (let i = 0; i < 2; i++) doc.policies.push(randomPolicy(r, `p${serial.n++}`));
      for (let i = 0; i < 12; i++) doc.routes.push(randomRoute(r, `r${serial.n++}`, doc));
      let config = valid(doc);
      let rt = compileRuntime(config, { version: 1, hash: 'h', revision: 1 });
      for (let step = 2; step < 30; step++) {
        const n = 1 + r.int(3);
        for (let i = 0; i < n; i++) mutate(r, doc, serial);
        const next = valid(doc);
        const changes = changesBetween(config, next);
        const meta = { version: step, hash: 'h', revision: step };
        const before = answers(rt);
        const updated = updateRuntime(listed(next), changes, meta, rt);
        const whole = compileRuntime(next, meta);
        const at = `seed ${seed} step ${step} (${changes.map((c) => `${c.kind}/${c.id}`).join(' ')})`;

        assert.deepEqual(answers(updated), answers(whole), `routing differs from a whole compile, ${at}`);
        assert.deepEqual(answers(rt), before, `the previous runtime changed, ${at}`);
        assert.equal(updated.routeCount, next.routes.length, at);

        const changed = new Set(changes.map((c) => `${c.kind}/${c.id}`));
        for (const def of next.upstreams) {
          const same = updated.upstreams.get(def.id) === rt.upstreams.get(def.id);
          assert.equal(same, !changed.has(`upstreams/${def.id}`), `pool of upstream ${def.id} shared iff unchanged, ${at}`);
        }
        for (const def of next.policies) {
          const same = updated.policy(def.id) === rt.policy(def.id);
          assert.equal(same, !changed.has(`policies/${def.id}`), `instance of policy ${def.id} shared iff unchanged, ${at}`);
        }
        for (const def of next.routes) {
          const compiled = routeOf(updated, def.id)!;
          // Every route holds the pools and instances of the new runtime, never a replaced one.
          for (const arm of compiled.forward?.arms ?? []) assert.equal(arm.pool, updated.upstreams.get(arm.pool.id), at);
          for (const p of compiled.policies) assert.equal(p, updated.policy(p.id), at);
          const refs = [def.upstream, ...(def.split ?? []).map((a) => a.upstream)].map((u) => `upstreams/${u}`);
          const untouched = !changed.has(`routes/${def.id}`) && ![...refs, ...(def.policies ?? []).map((p) => `policies/${p}`)].some((k) => changed.has(k));
          if (untouched) assert.equal(compiled, routeOf(rt, def.id), `route ${def.id} shared by identity, ${at}`);
        }
        config = next;
        rt = updated;
      }
    });
  }
});
