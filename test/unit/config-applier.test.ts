// ConfigApplier.apply: a committed state becomes the served runtime whole, or is refused whole
// while the last good runtime serves on. States are built here; no etcd.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Config } from '../../src/config/schema.js';
import { ConfigApplier, type ConfigSource } from '../../src/proxy/config-applier.js';
import { ProxyMetrics } from '../../src/proxy/metrics.js';
import { RuntimeHolder } from '../../src/proxy/runtime.js';
import type { CommittedState } from '../../src/store/config-watcher.js';
import { configEntries, countsOf, type VersionInfo } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { WEAK_CERT, WEAK_KEY } from './tls-fixtures.js';

const keys = new Keys('/signalbox');


function config(target: string, over: Partial<Config> = {}): Config {
  return {
    upstreams: [{ id: 'svc', targets: [{ url: target }] }],
    routes: [{ id: 'all', match: { paths: ['/*'] }, upstream: 'svc', policies: ['rl'] }],
    policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 10 }],
    certificates: [],
    consumers: [],
    settings: [],
    ...over,
  };
}

function state(version: number, cfg: Config, extra: Record<string, string> = {}): CommittedState {
  const info: VersionInfo = { version, hash: `hash-${version}`, author: 't', message: '', source: 'api', at: '', counts: countsOf(cfg) };
  const entries = new Map([...configEntries(keys, cfg), ...Object.entries(extra)]);
  return { revision: version * 10, version: info, entries, resync: false, versionExact: Object.keys(extra).length === 0 };
}

/** `next` as the watcher emits it after `before`: with the keys it changed as its delta. */
function chained(before: CommittedState, next: CommittedState): CommittedState {
  const changed = new Map<string, string | null>();
  for (const [key, value] of next.entries) if (before.entries.get(key) !== value) changed.set(key, value);
  for (const key of before.entries.keys()) if (!next.entries.has(key)) changed.set(key, null);
  return { ...next, delta: { base: before.revision, changed } };
}

function setup() {
  const holder = new RuntimeHolder();
  return { holder, applier: new ConfigApplier(keys, holder, new ProxyMetrics(), pino({ level: 'silent' })) };
}

const servedVersion = (holder: RuntimeHolder) => holder.current?.meta.version ?? null;

describe('ConfigApplier.apply', async () => {
  it('serves a valid state: its version, hash and routes', async () => {
    const { holder, applier } = setup();
    assert.deepEqual(await applier.apply(state(1, config('http://127.0.0.1:9001'))), { ok: true });
    assert.deepEqual(holder.current!.meta, { version: 1, hash: 'hash-1', revision: 10 });
    assert.equal(holder.current!.match('x', 'GET', '/a', {})!.id, 'all');
    assert.equal(applier.source, 'etcd');
    assert.equal(applier.lastError, null);
    assert.notEqual(applier.appliedAt, null);
  });

  it('refuses a state with a garbage key whole, naming the key, and keeps serving the last good one', async () => {
    const { holder, applier } = setup();
    await applier.apply(state(1, config('http://127.0.0.1:9001')));
    const before = holder.current;
    const bad = state(2, config('http://127.0.0.1:9002'), { '/signalbox/config/routes/bad': '{not json' });
    const result = await applier.apply(bad);
    assert.equal(result.ok, false);
    assert.equal(holder.current, before, 'the runtime was not swapped');
    assert.equal(applier.lastError!.version, 2);
    assert.equal(applier.lastError!.revision, 20);
    assert.match(applier.lastError!.errors.join('\n'), /\/signalbox\/config\/routes\/bad.*not JSON/);
  });

  it('refuses a state with a certificate TLS cannot load, and applies the next valid one', async () => {
    const { holder, applier } = setup();
    await applier.apply(state(1, config('http://127.0.0.1:9001')));
    const weak = config('http://127.0.0.1:9001', { certificates: [{ id: 'weak', snis: ['weak.test'], cert: WEAK_CERT, key: WEAK_KEY }] });
    const result = await applier.apply(state(2, weak));
    assert.equal(result.ok, false);
    assert.match(applier.lastError!.errors[0]!, /certificates\[0\]: TLS refuses this cert and key: .*key too small/);
    assert.equal(servedVersion(holder), 1);

    assert.equal((await applier.apply(state(3, config('http://127.0.0.1:9003')))).ok, true);
    assert.equal(servedVersion(holder), 3);
    assert.equal(applier.lastError, null, 'a live state that applies clears the error');
  });

  it('applies the same state twice without losing warm pools or rate-limit buckets', async () => {
    const { holder, applier } = setup();
    const s = state(1, config('http://127.0.0.1:9001'));
    await applier.apply(s);
    const first = holder.current!;
    assert.equal((await applier.apply(s)).ok, true);
    const second = holder.current!;
    assert.equal(second.meta.version, 1);
    assert.equal(second.upstreams.get('svc'), first.upstreams.get('svc'), 'the same upstream pool');
    assert.equal(second.match('x', 'GET', '/a', {})!.policies[0], first.match('x', 'GET', '/a', {})!.policies[0], 'the same rate-limit bucket');
  });

  it('a change from the watcher recompiles only what it changed: every other route, pool and bucket stays the same object', async () => {
    const { holder, applier } = setup();
    const routes = (upstreamOfB: string) => [
      { id: 'a', match: { paths: ['/a'] }, upstream: 'svc', policies: ['rl'] },
      { id: 'b', match: { paths: ['/b'] }, upstream: upstreamOfB },
      { id: 'c', match: { paths: ['/c/*'] }, upstream: 'svc', policies: ['rl'] },
    ];
    const withOther = (over: Partial<Config>) =>
      config('http://127.0.0.1:9001', { upstreams: [{ id: 'svc', targets: [{ url: 'http://127.0.0.1:9001' }] }, { id: 'other', targets: [{ url: 'http://127.0.0.1:9009' }] }], ...over });
    const s1 = state(1, withOther({ routes: routes('svc') }));
    assert.equal((await applier.apply(s1)).ok, true);
    const r1 = holder.current!;
    const route = (id: string) => holder.current!.match('x', 'GET', id === 'c' ? '/c/x' : `/${id}`, {})!;
    const [a1, c1] = [route('a'), route('c')];

    // Route b moves to the other upstream: the watcher's state says so in its delta.
    const s2 = chained(s1, state(2, withOther({ routes: routes('other') })));
    assert.equal((await applier.apply(s2)).ok, true);
    assert.notEqual(holder.current, r1);
    assert.equal(route('b').forward!.arms[0]!.pool.id, 'other');
    assert.equal(route('a'), a1, 'route a is the same compiled object');
    assert.equal(route('c'), c1);
    assert.equal(route('c').policies[0], a1.policies[0], 'the same rate-limit bucket');
    assert.equal(r1.match('x', 'GET', '/b', {})!.forward!.arms[0]!.pool.id, 'svc', 'the old runtime routes as before');

    // A refused state in between: the next one is compiled whole against the one serving, and right.
    const s3 = chained(s2, state(3, withOther({ routes: routes('missing') })));
    assert.equal((await applier.apply(s3)).ok, false);
    const s4 = chained(s3, state(4, withOther({ routes: routes('svc') })));
    assert.equal((await applier.apply(s4)).ok, true);
    assert.equal(route('b').forward!.arms[0]!.pool.id, 'svc');
    assert.equal(route('c').policies[0], a1.policies[0]);
  });

  it('a consumer added by a change from the watcher is known to the next runtime; the one before keeps its own', async () => {
    const { holder, applier } = setup();
    const base = config('http://127.0.0.1:9001');
    const alice = { id: 'alice', keys: ['key-of-alice-0123456789'] };
    const bob = { id: 'bob', keys: ['key-of-bob-0123456789ab'] };
    const s1 = state(1, { ...base, consumers: [alice] });
    assert.equal((await applier.apply(s1)).ok, true);
    const r1 = holder.current!;
    assert.equal(r1.consumers.byKey('key-of-alice-0123456789'), 'alice');
    const s2 = chained(s1, state(2, { ...base, consumers: [alice, bob] }));
    assert.equal((await applier.apply(s2)).ok, true);
    const r2 = holder.current!;
    assert.equal(r2.consumers.byKey('key-of-bob-0123456789ab'), 'bob');
    assert.equal(r1.consumers.byKey('key-of-bob-0123456789ab'), null, 'the old runtime is not changed');
    // A change elsewhere keeps the index (and the passwords it remembers).
    const s3 = chained(s2, state(3, { ...base, consumers: [alice, bob], routes: [...base.routes, { id: 'z', match: { paths: ['/z'] }, upstream: 'svc' }] }));
    assert.equal((await applier.apply(s3)).ok, true);
    assert.notEqual(holder.current, r2);
    assert.equal(holder.current!.consumers, r2.consumers);
  });

  it('the change after a fallback from history is compiled whole, whatever revision the fallback carried', async () => {
    const { holder, applier } = setup();
    const extra = { id: 'z', match: { paths: ['/z'] }, upstream: 'svc' };
    const base = config('http://127.0.0.1:9001');
    // The live state names a missing policy: refused, and history serves an older version.
    const live = state(1, { ...base, routes: [...base.routes, extra, { id: 'y', match: { paths: ['/y'] }, upstream: 'svc', policies: ['nope'] }] });
    assert.equal((await applier.apply(live)).ok, false);
    assert.equal((await applier.apply({ ...state(1, base), revision: live.revision }, 'history')).ok, true);
    // Fixed by removing route y: the delta says nothing about route z, which history lacked.
    const fixed = chained(live, state(2, { ...base, routes: [...base.routes, extra] }));
    assert.equal((await applier.apply(fixed)).ok, true);
    assert.equal(holder.current!.match('x', 'GET', '/z', {})?.id, 'z');
    assert.equal(holder.current!.routeCount, 2);
  });

  it('a fallback source never replaces the error that names what is wrong in etcd', async () => {
    const { holder, applier } = setup();
    await applier.apply(state(2, config('http://127.0.0.1:9002'), { '/signalbox/config/routes/bad': '{not json' }));
    const liveError = applier.lastError;
    assert.notEqual(liveError, null);
    assert.equal(holder.current, null, 'nothing to serve yet');

    const brokenHistory = state(1, config('http://127.0.0.1:9001'), { '/signalbox/config/upstreams/x': '[]' });
    assert.equal((await applier.apply(brokenHistory, 'history')).ok, false);
    assert.equal(applier.lastError, liveError);

    const source: ConfigSource = 'history';
    assert.equal((await applier.apply(state(1, config('http://127.0.0.1:9001')), source)).ok, true);
    assert.equal(servedVersion(holder), 1);
    assert.equal(applier.source, 'history');
    assert.equal(applier.lastError, liveError, 'still says why the live state is not served');
  });
});

describe('ConfigApplier.apply in slices', () => {
  /** `n` routes /r<i>, on upstream svc, or on `other` for the ids in `onOther`. */
  const many = (n: number, onOther: string[] = []): Config =>
    config('http://127.0.0.1:9001', {
      upstreams: [
        { id: 'svc', targets: [{ url: 'http://127.0.0.1:9001' }] },
        { id: 'other', targets: [{ url: 'http://127.0.0.1:9002' }] },
      ],
      routes: Array.from({ length: n }, (_, i) => ({ id: `r${i}`, match: { paths: [`/r${i}`] }, upstream: onOther.includes(`r${i}`) ? 'other' : 'svc' })),
    });
  const upstreamOf = (holder: RuntimeHolder, id: string) => holder.current!.match('x', 'GET', `/${id}`, {})!.forward!.arms[0]!.pool.id;
  /** The versions the holder was given, in order. */
  const swaps = (holder: RuntimeHolder) => {
    const seen: number[] = [];
    const swap = holder.swap.bind(holder);
    holder.swap = (next) => {
      seen.push(next.meta.version);
      return swap(next);
    };
    return seen;
  };

  it('a whole compile lets the loop turn while the old runtime serves, and swaps only at its end', async () => {
    const { holder, applier } = setup();
    await applier.apply(state(1, config('http://127.0.0.1:9001')));
    const old = holder.current;
    let done = false;
    const applied = applier.apply(state(2, many(3000))).then((r) => ((done = true), r));
    // A turn of the loop (what a request needs) comes while the compile is under way.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false, 'the compile is not done in one pass');
    assert.equal(holder.current, old, 'the old runtime serves meanwhile');
    assert.deepEqual(await applied, { ok: true });
    assert.equal(servedVersion(holder), 2);
    assert.equal(holder.current!.routeCount, 3000);
  });

  it('states given while a compile runs: the newest applies with every change before it, the ones between never', async () => {
    const { holder, applier } = setup();
    const seen = swaps(holder);
    const s1 = state(1, many(3000));
    // s2 moves r1 to the other upstream, s3 (from s2) moves r2 as well: s3 holds both moves.
    const s2 = chained(s1, state(2, many(3000, ['r1'])));
    const s3 = chained(s2, state(3, many(3000, ['r1', 'r2'])));
    const first = applier.apply(s1);
    const second = applier.apply(s2);
    const third = applier.apply(s3);
    const r2 = await second;
    assert.equal(r2.ok, false);
    assert.equal(!r2.ok && r2.superseded, true, 'the state in between is superseded');
    assert.equal(servedVersion(holder), null, 'superseded while the first still compiles');
    assert.deepEqual(await first, { ok: true });
    const r1 = holder.current!;
    assert.deepEqual(await third, { ok: true });
    assert.deepEqual(seen, [1, 3], 'version 2 never served');
    assert.equal(upstreamOf(holder, 'r1'), 'other', "s2's change is in");
    assert.equal(upstreamOf(holder, 'r2'), 'other', "s3's change is in");
    assert.equal(upstreamOf(holder, 'r3'), 'svc');
    assert.equal(holder.current!.match('x', 'GET', '/r4', {}), r1.match('x', 'GET', '/r4', {}), 'applied as a change from version 1 (the deltas folded), not compiled whole');
    assert.equal(applier.lastError, null);
  });

  it('a refused newest state leaves the last good one serving, never the superseded one', async () => {
    const { holder, applier } = setup();
    const seen = swaps(holder);
    const s1 = state(1, many(2000));
    const s2 = chained(s1, state(2, many(2000, ['r1'])));
    const bad = many(2000, ['r1']);
    const s3 = chained(s2, state(3, { ...bad, routes: [...bad.routes, { id: 'zz', match: { paths: ['/zz'] }, upstream: 'missing' }] }));
    const results = await Promise.all([applier.apply(s1), applier.apply(s2), applier.apply(s3)]);
    assert.deepEqual(
      results.map((r) => (r.ok ? 'ok' : r.superseded ? 'superseded' : 'refused')),
      ['ok', 'superseded', 'refused'],
    );
    assert.deepEqual(seen, [1]);
    assert.equal(upstreamOf(holder, 'r1'), 'svc');
    assert.equal(applier.lastError!.version, 3);
    assert.match(applier.lastError!.errors.join('\n'), /missing/);
  });

  it('a state from history never takes the place of a live state waiting', async () => {
    const { holder, applier } = setup();
    const compiling = applier.apply(state(1, many(2000)));
    const live = applier.apply(state(3, config('http://127.0.0.1:9003')));
    const history = await applier.apply(state(2, config('http://127.0.0.1:9002')), 'history');
    assert.equal(!history.ok && history.superseded, true);
    assert.deepEqual(await compiling, { ok: true });
    assert.deepEqual(await live, { ok: true });
    assert.equal(servedVersion(holder), 3);
    assert.equal(applier.source, 'etcd');
  });

  it('stop abandons a compile under way and drops the waiting state: nothing is swapped after it', async () => {
    const { holder, applier } = setup();
    await applier.apply(state(1, config('http://127.0.0.1:9001')));
    const compiling = applier.apply(state(2, many(3000)));
    const waiting = applier.apply(state(3, config('http://127.0.0.1:9003')));
    await new Promise((resolve) => setImmediate(resolve));
    await applier.stop();
    const [r2, r3] = await Promise.all([compiling, waiting]);
    assert.equal(!r2.ok && r2.superseded, true);
    assert.equal(!r3.ok && r3.superseded, true);
    assert.equal(servedVersion(holder), 1);
    const after = await applier.apply(state(4, config('http://127.0.0.1:9004')));
    assert.equal(after.ok, false);
    assert.equal(servedVersion(holder), 1);
  });
});
