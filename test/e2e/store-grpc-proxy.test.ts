// The proxy's config watcher through `etcd grpc-proxy`, as the README's "Large fleets" section
// tells large fleets to run it: the same states as directly, a resumed watch when the grpc-proxy
// restarts, and a re-read when etcd compacted past the watch meanwhile.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { Config } from '../../src/config/schema.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWatcher, type CommittedState } from '../../src/store/config-watcher.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { GrpcProxy } from '../helpers/grpc-proxy.js';
import { waitFor } from '../helpers/launch.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const meta = { author: 'test', message: 'm', source: 'test' };
const keys = new Keys('/grpc-proxy-test');

function makeConfig(routes: number, variant: string): Config {
  return {
    upstreams: [{ id: 'users', targets: [{ url: 'http://127.0.0.1:9101' }] }],
    routes: Array.from({ length: routes }, (_, i) => ({ id: `r-${i}`, match: { paths: [`/${variant}/${i}`] }, upstream: 'users' })),
    policies: [],
    certificates: [],
    consumers: [],
    settings: [],
  };
}

const etcd = await startTestEtcd();
const dir = await mkdtemp(join(tmpdir(), 'signalbox-grpc-proxy-'));
atFileEnd(() => rm(dir, { recursive: true, force: true }));
const proxy = new GrpcProxy(etcd.clientPort, join(dir, 'grpc-proxy'));
atFileEnd(() => proxy.stop());
await proxy.start();
const writerClient = createEtcdClient(etcd.endpoint);
const writer = new ConfigWriter(writerClient, keys);
after(() => writerClient.close());

/** A started, connected watcher on its own client at `endpoint`, collecting every state. */
async function watching(t: TestContext, endpoint: string) {
  const client = createEtcdClient(endpoint);
  const watcher = new ConfigWatcher(client, keys, logger);
  t.after(async () => {
    await watcher.stop();
    client.close();
  });
  const states: CommittedState[] = [];
  watcher.on('state', (s) => states.push(s));
  await watcher.start();
  if (!watcher.connected) await once(watcher, 'connected');
  return { watcher, states };
}

const versionOf = (s: CommittedState | undefined) => s?.version?.version;

/** A watcher through the grpc-proxy at a new version (v0); then the grpc-proxy stops and the watcher notices. */
async function watchingWhileProxyStops(t: TestContext, seed: string) {
  await writer.write(makeConfig(1, seed), meta);
  const { watcher, states } = await watching(t, proxy.endpoint);
  const disconnected = once(watcher, 'disconnected');
  await proxy.stop();
  await disconnected;
  return { watcher, states, v0: versionOf(states[0])! };
}
/** A state by content: revision, version, entries and delta (never by map identity). */
const contentOf = (s: CommittedState) => ({
  revision: s.revision,
  version: versionOf(s),
  entries: new Map(s.entries),
  delta: s.delta ? { base: s.delta.base, changed: new Map(s.delta.changed) } : null,
});

test('through the grpc-proxy a watcher gets the same states as one watching etcd directly', async (t) => {
  await writer.write(makeConfig(3, 'same-0'), meta);
  const direct = await watching(t, etcd.endpoint);
  const proxied = await watching(t, proxy.endpoint);
  let last = 0;
  for (let i = 1; i <= 4; i++) last = (await writer.write(makeConfig(3 + i, `same-${i}`), meta)).version.version;
  await waitFor('both watchers at the last version', () => versionOf(direct.states.at(-1)) === last && versionOf(proxied.states.at(-1)) === last);
  assert.equal(proxied.states.length, 5);
  assert.deepEqual(proxied.states.map(contentOf), direct.states.map(contentOf));
});

test('the grpc-proxy restarted: the watch resumes after the last revision and gets what was written meanwhile', async (t) => {
  const { states, v0 } = await watchingWhileProxyStops(t, 'restart-seed');
  await writer.write(makeConfig(2, 'restart-1'), meta);
  await writer.write(makeConfig(3, 'restart-2'), meta);
  await proxy.start();
  await waitFor('the versions written while the grpc-proxy was down', () => versionOf(states.at(-1)) === v0 + 2);
  assert.ok(states.every((s) => !s.resync), 'resumed, not re-read');
  assert.equal(states.at(-1)!.entries.size, 4);
  // And it keeps delivering through the new grpc-proxy process.
  await writer.write(makeConfig(1, 'restart-3'), meta);
  await waitFor('a version written after the restart', () => versionOf(states.at(-1)) === v0 + 3);
});

test('etcd compacted past the watch while the grpc-proxy was down: one resync state with the latest config', async (t) => {
  const { watcher, states, v0 } = await watchingWhileProxyStops(t, 'compact-seed');
  for (let i = 1; i <= 3; i++) await writer.write(makeConfig(1 + i, `compact-${i}`), meta);
  const head = Number((await writerClient.get(keys.version).exec()).header.revision);
  await writerClient.kv.compact({ revision: head, physical: true });
  assert.ok(head > watcher.lastRevision + 1, 'the watch resume point is compacted');
  await proxy.start();
  const resynced = await waitFor('a resync state', () => states.find((s) => s.resync));
  assert.equal(versionOf(resynced), v0 + 3);
  assert.equal(resynced.entries.size, 5);
  assert.equal(resynced.delta?.base, states[0]!.revision);
  await writer.write(makeConfig(1, 'compact-after'), meta);
  await waitFor('a version written after the resync', () => versionOf(states.at(-1)) === v0 + 4);
});
