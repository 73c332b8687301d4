// etcd values → config: whatever is in etcd becomes issues naming the key, never an exception.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWatcher, type CommittedState } from '../../src/store/config-watcher.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { decodeEntries, decodeHistory, encodeHistory, parseVersionInfo } from '../../src/store/decode.js';
import { LiveView } from '../../src/store/live-view.js';
import { Keys } from '../../src/store/keys.js';
import { startTestEtcd } from '../helpers/etcd.js';

const keys = new Keys('/sb');
const etcd = await startTestEtcd();
const client = createEtcdClient(etcd.endpoint);
after(() => client.close());
const upstream = JSON.stringify({ id: 'users', targets: [{ url: 'http://127.0.0.1:9101' }] });
const route = (id: string, up = 'users') => JSON.stringify({ id, match: { paths: ['/x'] }, upstream: up });

test('valid entries decode into a normalized config; the version key is skipped', () => {
  const r = decodeEntries(keys, [
    [keys.version, '{"version":1}'],
    [keys.object('routes', 'b'), route('b')],
    [keys.object('routes', 'a'), route('a')],
    [keys.object('upstreams', 'users'), upstream],
  ]);
  assert.ok(r.ok);
  assert.deepEqual(r.config.routes.map((x) => x.id), ['a', 'b']);
  assert.equal(r.config.upstreams.length, 1);
});

test('the view a proxy applies, made from the one before and the delta, says what decodeEntries says', () => {
  let view: LiveView | null = null;
  let before = new Map<string, string>();
  const revisions: [string, string][][] = [
    [[keys.object('upstreams', 'users'), upstream], [keys.object('routes', 'a'), route('a')]],
    // One route changed to name an upstream that does not exist: refused, though 'a' is cached.
    [[keys.object('upstreams', 'users'), upstream], [keys.object('routes', 'a'), route('a', 'nope')]],
    // Fixed again; and the upstream 'a' relies on removed while 'a' itself is unchanged.
    [[keys.object('upstreams', 'users'), upstream], [keys.object('routes', 'a'), route('a')]],
    [[keys.object('routes', 'a'), route('a')]],
  ];
  const oks = revisions.map((list, i) => {
    const entries = new Map(list);
    const changed = new Map<string, string | null>([...entries].filter(([k, v]) => before.get(k) !== v));
    for (const k of before.keys()) if (!entries.has(k)) changed.set(k, null);
    const state = { revision: i + 1, version: null, entries, resync: false, versionExact: false, delta: i === 0 ? null : { base: i, changed } };
    view = LiveView.of(keys, state, view);
    before = entries;
    const whole = decodeEntries(keys, list);
    assert.equal(view.valid, whole.ok);
    assert.deepEqual(view.issues(), whole.ok ? [] : whole.issues);
    if (whole.ok) assert.deepEqual(view.objects.config(), whole.config);
    return view.valid;
  });
  assert.deepEqual(oks, [true, false, true, false]);
});

test('garbage JSON, an id/key mismatch, schema errors and stray keys become issues naming the key', () => {
  const garbageKey = keys.object('routes', 'garbage');
  const mismatchKey = keys.object('routes', 'one');
  const badKey = keys.object('routes', 'bad');
  const strayKey = `${keys.config}nonsense/x`;
  const r = decodeEntries(keys, [
    [garbageKey, '{"id": "garbage", oops'],
    [mismatchKey, route('two')],
    [badKey, JSON.stringify({ id: 'bad', match: { paths: ['no-slash'] }, upstream: 'users' })],
    [keys.object('upstreams', 'users'), upstream],
    [keys.object('policies', 'num'), '42'],
    [strayKey, '{}'],
  ]);
  assert.ok(!r.ok);
  const by = (file: string) => r.issues.filter((i) => i.file === file);
  assert.match(by(garbageKey)[0]?.message ?? '', /not JSON/);
  assert.match(by(mismatchKey)[0]?.message ?? '', /id "two" does not match the id "one"/);
  assert.equal(by(badKey)[0]?.path, 'routes[0].match.paths[0]');
  assert.equal(by(keys.object('policies', 'num')).length, 1);
  assert.match(by(strayKey)[0]?.message ?? '', /not a config object key/);
  assert.ok(r.issues.every((i) => i.file), 'every issue names its key');

  // Cross-object problems (checked once every object is well-formed) name the key too.
  const danglingKey = keys.object('routes', 'dangling');
  const d = decodeEntries(keys, [[danglingKey, route('dangling', 'nowhere')]]);
  assert.ok(!d.ok);
  assert.deepEqual(d.issues.map((i) => [i.file, i.path, i.message]), [[danglingKey, 'routes[0].upstream', 'unknown upstream "nowhere"']]);
});

test('version values and history encodings', () => {
  assert.equal(parseVersionInfo('garbage'), null);
  assert.equal(parseVersionInfo('{"version":"1"}'), null);
  assert.equal(parseVersionInfo('{"version":3,"hash":"h"}')?.counts.routes, 0);
  const config = { upstreams: [], routes: [], policies: [], certificates: [], consumers: [], settings: [] };
  assert.deepEqual(decodeHistory(encodeHistory(config)), config);
  const wrapped = encodeHistory(config, 1);
  assert.match(wrapped, /^\{"encoding":"gzip\+base64","data":"/);
  assert.deepEqual(decodeHistory(wrapped), config);
});

test('garbage put into etcd by hand reaches readers as issues, and the next write repairs it', async (t) => {
  const k = new Keys('/decode-e2e');
  const writer = new ConfigWriter(client, k);
  await writer.write(
    {
      upstreams: [{ id: 'users', targets: [{ url: 'http://127.0.0.1:9101' }] }],
      routes: [{ id: 'a', match: { paths: ['/a'] }, upstream: 'users' }],
      policies: [],
      certificates: [],
      consumers: [],
      settings: [],
    },
    { author: 't', message: 'm', source: 't' },
  );
  const watcher = new ConfigWatcher(client, k, pino({ level: 'silent' }));
  const states: CommittedState[] = [];
  watcher.on('state', (s) => states.push(s));
  t.after(() => watcher.stop());
  await watcher.start();

  const waitStates = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (states.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(states.length, n);
  };
  // `etcdctl put` of garbage: a state of its own (same version) that does not decode.
  const garbageKey = k.object('routes', 'a');
  await client.put(garbageKey).value('{not json');
  await waitStates(2);
  assert.equal(states[1]!.version?.version, 1);
  assert.equal(states[1]!.versionExact, false);
  const decoded = decodeEntries(k, states[1]!.entries);
  assert.ok(!decoded.ok);
  assert.equal(decoded.issues[0]!.file, garbageKey);

  // And a version bump by hand: a broken state under a version of its own.
  const current = JSON.parse((await client.get(k.version).string())!) as Record<string, unknown>;
  await client.put(k.version).value(JSON.stringify({ ...current, version: 2 }));
  await waitStates(3);
  assert.equal(states[2]!.version?.version, 2);
  assert.ok(!decodeEntries(k, states[2]!.entries).ok);

  const read = await writer.readCommitted();
  assert.equal(read.version?.version, 2);
  assert.equal(read.issues[0]?.file, garbageKey);
  assert.deepEqual(read.config.routes, []);

  const repaired = await writer.write(
    { upstreams: [{ id: 'users', targets: [{ url: 'http://127.0.0.1:9101' }] }], routes: [], policies: [], certificates: [], consumers: [], settings: [] },
    { author: 't', message: 'repair', source: 't' },
  );
  assert.equal(repaired.version.version, 3);
  assert.deepEqual(repaired.changes.map((c) => `${c.op} ${c.kind}/${c.id}`), ['remove routes/a']);
  assert.deepEqual((await writer.readCommitted()).issues, []);
  assert.equal(await client.get(garbageKey).string(), null);
});
