// ConfigWatcher against a real etcd: initial state, one state per version, etcd killed and
// restarted, a watch cut while versions are written, and compaction past the watch (resync).
import assert from 'node:assert/strict';
import { after, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { Config } from '../../src/config/schema.js';
import { normalize } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWatcher, type CommittedState } from '../../src/store/config-watcher.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { decodeEntries } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { EtcdRelay, startTestEtcd } from '../helpers/etcd.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const meta = { author: 'test', message: 'm', source: 'test' };
const keys = new Keys('/watcher-test');

function makeConfig(routes: number, variant = 'a'): Config {
  return {
    upstreams: [{ id: 'users', targets: [{ url: 'http://127.0.0.1:9101' }] }],
    routes: Array.from({ length: routes }, (_, i) => ({
      id: `r-${String(i).padStart(4, '0')}`,
      match: { paths: [`/${variant}/${i}`] },
      upstream: 'users',
    })),
    policies: [],
    certificates: [],
    consumers: [],
    settings: [],
  };
}

/** Resolves with the first event (of those emitted from now on) matching `pred`; rejects after `ms`. */
function waitEvent<T = void>(emitter: NodeJS.EventEmitter, event: string, pred: (v: T) => boolean = () => true, ms = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no matching '${event}' within ${ms} ms`));
    }, ms);
    const on = (v: T) => {
      if (!pred(v)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(v);
    };
    emitter.on(event, on);
  });
}

/** start() resolves with the first state; the watch is established a moment later. */
async function startConnected(watcher: ConfigWatcher): Promise<void> {
  await watcher.start();
  if (!watcher.connected) await waitEvent(watcher, 'connected');
}

async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const etcd = await startTestEtcd();
const writerClient = createEtcdClient(etcd.endpoint);
const writer = new ConfigWriter(writerClient, keys);
after(() => writerClient.close());

/**
 * A watcher on its own client (through a Relay when given, so the test can cut the connection),
 * collecting every state; stopped with its client and relay when the test ends.
 */
async function watched(t: TestContext, opts: { relay?: boolean; client?: Parameters<typeof createEtcdClient>[1] } = {}) {
  const relay = opts.relay ? new EtcdRelay(etcd.clientPort) : null;
  await relay?.listen();
  const client = createEtcdClient(relay ? `http://127.0.0.1:${relay.port}` : etcd.endpoint, opts.client);
  const watcher = new ConfigWatcher(client, keys, logger);
  t.after(async () => {
    await watcher.stop();
    client.close();
    await relay?.close();
  });
  const states: CommittedState[] = [];
  watcher.on('state', (s) => states.push(s));
  return { relay: relay!, client, watcher, states };
}

/** The keys a state's delta names (null: deleted), sorted. */
const changedOf = (state: CommittedState) => Object.fromEntries([...(state.delta?.changed ?? [])].sort());
const routeKey = (i: number) => keys.object('routes', `r-${String(i).padStart(4, '0')}`);

function routesOf(state: CommittedState): Config['routes'] {
  const r = decodeEntries(keys, state.entries);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.config.routes;
}

test('initial state, then exactly one state per written version', async (t) => {
  await writer.write(makeConfig(2), meta);
  const { watcher, states } = await watched(t);
  assert.equal(watcher.pending, true);
  await watcher.start();
  assert.equal(watcher.pending, false);
  assert.equal(states.length, 1);
  assert.equal(states[0]!.version?.version, 1);
  assert.equal(states[0]!.resync, false);
  assert.deepEqual(routesOf(states[0]!), normalize(makeConfig(2)).routes);
  assert.ok(!states[0]!.entries.has(keys.version));

  await writer.write(makeConfig(3), meta);
  await waitUntil(() => states.length >= 2, 'state of version 2');
  await writer.write(makeConfig(3, 'b'), meta);
  await waitUntil(() => states.length >= 3, 'state of version 3');
  assert.deepEqual(states.map((s) => s.version?.version), [1, 2, 3]);
  assert.deepEqual(routesOf(states[1]!), normalize(makeConfig(3)).routes);
  assert.deepEqual(routesOf(states[2]!), normalize(makeConfig(3, 'b')).routes);
  assert.ok(states[2]!.revision > states[1]!.revision);
  assert.equal(watcher.state, states[2]);
  assert.equal(watcher.connected, true);
  // Each state names what changed since the one before: the new route, then the three rewritten.
  assert.equal(states[0]!.delta, null);
  assert.equal(states[1]!.delta?.base, states[0]!.revision);
  assert.deepEqual(Object.keys(changedOf(states[1]!)), [routeKey(2)]);
  assert.equal(states[2]!.delta?.base, states[1]!.revision);
  assert.deepEqual(Object.keys(changedOf(states[2]!)), [routeKey(0), routeKey(1), routeKey(2)]);
});

test('a key written straight into etcd is a state of its own; under the unfinished marker it waits for the version', async (t) => {
  await writer.write(makeConfig(1, 'seed-by-hand'), meta);
  const { client, watcher, states } = await watched(t);
  await startConnected(watcher);
  const v0 = states[0]!.version!.version;

  const byHand = { id: 'by-hand', match: { paths: ['/by-hand'] }, upstream: 'users' };
  const put = await writerClient.put(keys.object('routes', 'by-hand')).value(JSON.stringify(byHand)).exec();
  await waitUntil(() => states.length === 2, 'the state with the key written by hand');
  assert.equal(states[1]!.version?.version, v0, 'no new version');
  assert.equal(states[1]!.revision, Number(put.header.revision));
  assert.ok(routesOf(states[1]!).some((r) => r.id === 'by-hand'));

  // A multi-transaction change in progress: nothing shows until its version key is put.
  await writerClient.put(keys.unfinished).value('{}');
  await writerClient.put(keys.object('routes', 'part-1')).value(JSON.stringify({ ...byHand, id: 'part-1' }));
  await writerClient.delete().key(keys.object('routes', 'by-hand'));
  const late = new ConfigWatcher(client, keys, logger);
  t.after(() => late.stop());
  await late.start();
  assert.deepEqual(new Map(late.state!.entries), new Map(states[1]!.entries), 'a reader starting now sees the state before the change');
  const res = await writer.write(makeConfig(2, 'after-marker'), meta);
  await waitUntil(() => states.at(-1)!.version?.version === res.version.version, 'the next version');
  assert.equal(states.length, 3, `no state for the unfinished writes: ${states.map((s) => s.revision)}`);
  assert.deepEqual(routesOf(states[2]!), normalize(makeConfig(2, 'after-marker')).routes);
  assert.equal(await writerClient.get(keys.unfinished).string(), null, 'the write removed the marker');
});

test('etcd killed and restarted: disconnected, connected, and later writes are delivered', async (t) => {
  await writer.write(makeConfig(1, 'seed-restart'), meta);
  const { watcher, states } = await watched(t);
  await startConnected(watcher);
  const v0 = states[0]!.version!.version;

  const disconnected = waitEvent(watcher, 'disconnected');
  await etcd.kill();
  await disconnected;
  assert.equal(watcher.connected, false);

  const connected = waitEvent(watcher, 'connected');
  await etcd.start();
  // Written as soon as etcd is back, possibly before the watch is re-created: it must arrive.
  await writer.write(makeConfig(4, 'after-restart-1'), meta);
  await connected;
  await waitUntil(() => states.some((s) => s.version?.version === v0 + 1), 'the first write after the restart');
  // And the watch keeps delivering (the classic bug: a watch that silently stops after a restart).
  await writer.write(makeConfig(5, 'after-restart-2'), meta);
  await waitUntil(() => states.some((s) => s.version?.version === v0 + 2), 'the second write after the restart');
  assert.deepEqual(states.map((s) => s.version?.version), [v0, v0 + 1, v0 + 2]);
  assert.deepEqual(routesOf(states.at(-1)!), normalize(makeConfig(5, 'after-restart-2')).routes);
  assert.ok(states.every((s) => !s.resync));
});

test('etcd unreachable at start: start() waits (state pending) and retries until etcd is back', async (t) => {
  await writer.write(makeConfig(1, 'seed-unreachable'), meta);
  await etcd.kill();
  const { watcher } = await watched(t);
  let started = false;
  const start = watcher.start().then(() => (started = true));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(started, false);
  assert.equal(watcher.pending, true);
  const stateNow = () => watcher.state;
  assert.equal(stateNow(), null);
  await etcd.start();
  await start;
  assert.equal(watcher.pending, false);
  assert.ok(stateNow()?.version);
  if (!watcher.connected) await waitEvent(watcher, 'connected');
});

test('watch cut while versions are written: resumes after the last revision and delivers them', async (t) => {
  await writer.write(makeConfig(1, 'seed-cut'), meta);
  const { relay, watcher, states } = await watched(t, { relay: true });
  await startConnected(watcher);
  const v0 = states[0]!.version!.version;
  const last = watcher.lastRevision;

  const disconnected = waitEvent(watcher, 'disconnected');
  relay.cut();
  await disconnected;
  await writer.write(makeConfig(6, 'cut-1'), meta);
  await writer.write(makeConfig(7, 'cut-2'), meta);
  const connected = waitEvent(watcher, 'connected');
  relay.restore();
  await connected;
  await waitUntil(() => states.some((s) => s.version?.version === v0 + 2), 'both versions written while cut');
  // One response may carry both versions (one state for the last) or two responses one each.
  assert.ok(states.length === 2 || states.length === 3, `states: ${states.map((s) => s.version?.version)}`);
  assert.equal(states.at(-1)!.version?.version, v0 + 2);
  assert.ok(states.every((s) => !s.resync), 'resumed, not re-read');
  assert.deepEqual(routesOf(states.at(-1)!), normalize(makeConfig(7, 'cut-2')).routes);
  assert.ok(watcher.lastRevision > last);
});

test('compaction past the watch while it is cut: a resync state with the latest config', async (t) => {
  await writer.write(makeConfig(1, 'seed-compact'), meta);
  const { relay, watcher, states } = await watched(t, { relay: true });
  await startConnected(watcher);
  const v0 = states[0]!.version!.version;

  const disconnected = waitEvent(watcher, 'disconnected');
  relay.cut();
  await disconnected;
  for (let i = 0; i < 5; i++) await writer.write(makeConfig(3 + i, `compact-${i}`), meta);
  const head = Number((await writerClient.get(keys.version).exec()).header.revision);
  await writerClient.kv.compact({ revision: head, physical: true });
  assert.ok(head > watcher.lastRevision + 1, 'the watch resume point is compacted');

  const resynced = waitEvent<CommittedState>(watcher, 'state', (s) => s.resync);
  relay.restore();
  const state = await resynced;
  assert.equal(state.version?.version, v0 + 5);
  assert.deepEqual(routesOf(state), normalize(makeConfig(7, 'compact-4')).routes);
  assert.ok(!states.slice(1, -1).length, `no intermediate states: ${states.map((s) => s.version?.version)}`);
  // Relative to the state before the outage: every route of the re-read config differs from it.
  assert.equal(state.delta?.base, states[0]!.revision);
  assert.deepEqual(Object.keys(changedOf(state)), Array.from({ length: 7 }, (_, i) => routeKey(i)));

  // And it keeps watching after the resync.
  await writer.write(makeConfig(2, 'after-resync'), meta);
  await waitUntil(() => states.at(-1)!.version?.version === v0 + 6, 'a write after the resync');
  assert.equal(states.at(-1)!.resync, false);
  assert.deepEqual(routesOf(states.at(-1)!), normalize(makeConfig(2, 'after-resync')).routes);
});

test('a committed state is read even after its revision was compacted (history fallback)', async (t) => {
  // Keys of an unfinished change make the snapshot differ from the committed state; with the
  // version key's revision compacted away, the committed state comes from its history entry.
  await writerClient.put(keys.unfinished).value('{"version":0}');
  await writerClient.put(keys.object('routes', 'zz-uncommitted')).value('{"id":"zz-uncommitted"}');
  const head = Number((await writerClient.get(keys.version).exec()).header.revision);
  await writerClient.kv.compact({ revision: head, physical: true });
  const { watcher } = await watched(t);
  await watcher.start();
  const state = watcher.state!;
  assert.ok(!state.entries.has(keys.object('routes', 'zz-uncommitted')));
  assert.deepEqual(routesOf(state), normalize(makeConfig(2, 'after-resync')).routes);
  const committed = await writer.readCommitted();
  assert.deepEqual(committed.config.routes, normalize(makeConfig(2, 'after-resync')).routes);
  // The next write undoes the stray key before it commits.
  const res = await writer.write(makeConfig(1, 'final'), meta);
  await waitUntil(() => watcher.state!.version?.version === res.version.version, 'the next version');
  assert.ok(!watcher.state!.entries.has(keys.object('routes', 'zz-uncommitted')));
  assert.equal(await writerClient.get(keys.object('routes', 'zz-uncommitted')).string(), null);
});

test('a dead connection that TCP does not report is noticed by keepalive; the watch resumes', async (t) => {
  await writer.write(makeConfig(1, 'seed-frozen'), meta);
  const { relay, watcher, states } = await watched(t, { relay: true, client: { keepaliveTimeMs: 5_000, keepaliveTimeoutMs: 1_000 } });
  await startConnected(watcher);
  const v0 = states[0]!.version!.version;

  const disconnected = waitEvent(watcher, 'disconnected', () => true, 20_000);
  relay.freeze();
  await writer.write(makeConfig(2, 'frozen'), meta);
  await disconnected;
  assert.equal(states.length, 1, 'nothing came through the frozen connection');
  const connected = waitEvent(watcher, 'connected');
  relay.restore();
  await connected;
  await waitUntil(() => states.at(-1)?.version?.version === v0 + 1, 'the version written while frozen');
  assert.deepEqual(routesOf(states.at(-1)!), normalize(makeConfig(2, 'frozen')).routes);
});
