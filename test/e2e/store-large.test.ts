// Changes larger than one etcd transaction, against a STOCK etcd (128 ops, 1.5 MiB per request):
// written in several transactions, never seen partially, and undone after a crash.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { pino } from 'pino';
import type { Config } from '../../src/config/schema.js';
import { normalize } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWatcher, type CommittedState } from '../../src/store/config-watcher.js';
import { ConfigWriter, type CommittedConfig } from '../../src/store/config-writer.js';
import { configEntries, decodeEntries } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { buf, prefixEnd, putOp, deleteOp } from '../../src/store/kv.js';
import { startTestEtcd } from '../helpers/etcd.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const meta = { author: 'test', message: 'import', source: 'test' };

function makeConfig(routes: number, variant = 'a'): Config {
  return {
    upstreams: [
      { id: 'users', targets: [{ url: 'http://127.0.0.1:9101' }, { url: 'http://127.0.0.1:9102', weight: 3 }] },
      { id: 'orders', targets: [{ url: 'http://127.0.0.1:9201' }] },
    ],
    routes: Array.from({ length: routes }, (_, i) => ({
      id: `route-${String(i).padStart(5, '0')}`,
      match: {
        hosts: [`svc-${i % 17}.example.com`],
        paths: [`/${variant}/api/v1/resource-${i}`, `/${variant}/api/v1/resource-${i}/:id`],
        methods: ['GET' as const, 'POST' as const],
      },
      upstream: i % 2 ? 'users' : 'orders',
      policies: ['rl'],
    })),
    policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 100, burst: 200 }],
    certificates: [],
    consumers: [],
    settings: [],
  };
}

async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const etcd = await startTestEtcd(); // stock limits: no --max-txn-ops / --max-request-bytes
const client = createEtcdClient(etcd.endpoint);
const client2 = createEtcdClient(etcd.endpoint);
after(() => {
  client.close();
  client2.close();
});

/** Every emitted state is a whole version: the route count its version announces, all valid. */
function assertWhole(keys: Keys, states: CommittedState[], allowed: number[]): void {
  for (const s of states) {
    const r = decodeEntries(keys, s.entries);
    assert.ok(r.ok, `state of version ${s.version?.version} is invalid`);
    assert.ok(allowed.includes(r.config.routes.length), `a partial state: ${r.config.routes.length} routes at version ${s.version?.version}`);
    assert.equal(r.config.routes.length, s.version?.counts.routes);
  }
}

async function rawEntries(keys: Keys): Promise<Map<string, string>> {
  const res = await client.kv.range({ key: buf(keys.config), range_end: prefixEnd(keys.config) });
  return new Map(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()] as const).filter(([k]) => k !== keys.version));
}

test('stock etcd refuses a transaction of 129 operations', async () => {
  const ops = Array.from({ length: 129 }, (_, i) => putOp(`/limits/k${i}`, 'v'));
  await assert.rejects(client.kv.txn({ compare: [], success: ops, failure: [] }), /too many operations/);
});

test('2,000 routes go out in several transactions; watchers only ever see whole versions', async (t) => {
  const keys = new Keys('/large');
  const base = new ConfigWriter(client, keys);
  await base.write(makeConfig(0), meta);

  const watcher = new ConfigWatcher(client2, keys, logger);
  const states: CommittedState[] = [];
  watcher.on('state', (s) => states.push(s));
  await watcher.start();

  // Midway through the import: a reader and a watcher starting now see version 1 only.
  const midway: { committed?: CommittedConfig } = {};
  const midClient = createEtcdClient(etcd.endpoint);
  const midWatcher = new ConfigWatcher(midClient, keys, logger);
  const midStates: CommittedState[] = [];
  midWatcher.on('state', (s) => midStates.push(s));
  t.after(async () => {
    await watcher.stop();
    await midWatcher.stop();
    midClient.close();
  });
  let batchesSeen = 0;
  const writer = new ConfigWriter(client, keys, undefined, {
    afterBatch: async (i) => {
      batchesSeen++;
      if (i === 3) {
        midway.committed = await base.readCommitted();
        await midWatcher.start();
      }
    },
  });

  const started = performance.now();
  const res = await writer.write(makeConfig(2000), meta);
  const ms = Math.round(performance.now() - started);
  t.diagnostic(`2,000 routes imported in ${res.transactions} transactions, ${ms} ms`);
  assert.equal(res.version.version, 2);
  assert.ok(res.transactions > 2, `${res.transactions} transactions`);
  assert.ok(batchesSeen >= 4);
  assert.equal(res.changes.length, 2000);

  const mid = midway.committed;
  assert.ok(mid, 'read midway');
  assert.equal(mid.version?.version, 1);
  assert.equal(mid.config.routes.length, 0);
  assert.equal(midStates[0]?.version?.version, 1);

  await waitUntil(() => states.at(-1)?.version?.version === 2 && midStates.at(-1)?.version?.version === 2, 'version 2 at both watchers');
  assert.deepEqual(states.map((s) => s.version?.version), [1, 2]);
  assert.deepEqual(midStates.map((s) => s.version?.version), [1, 2]);
  assertWhole(keys, states, [0, 2000]);
  assertWhole(keys, midStates, [0, 2000]);
  const final = decodeEntries(keys, states.at(-1)!.entries);
  assert.ok(final.ok);
  assert.deepEqual(final.config, normalize(makeConfig(2000)));
  assert.deepEqual((await writer.readCommitted()).config, normalize(makeConfig(2000)));
  const history = await writer.getVersion(2);
  assert.deepEqual(history?.config, normalize(makeConfig(2000)));
  assert.equal(await client.get(keys.writeLock).string(), null, 'lock released');

  // Removing them all is as large a change, the other way.
  const started2 = performance.now();
  const res3 = await writer.write(makeConfig(0), meta);
  t.diagnostic(`2,000 routes removed in ${res3.transactions} transactions, ${Math.round(performance.now() - started2)} ms`);
  assert.ok(res3.transactions > 2);
  await waitUntil(() => states.at(-1)?.version?.version === 3, 'version 3');
  assert.deepEqual(states.map((s) => s.version?.version), [1, 2, 3]);
  assertWhole(keys, states, [0, 2000]);
  assert.equal(states.at(-1)!.entries.size, 3);
});

test('a crashed multi-transaction write is never visible and is undone before the next write', async (t) => {
  const keys = new Keys('/crash');
  const writer = new ConfigWriter(client, keys);
  const committed = makeConfig(300);
  const v1 = await writer.write(committed, meta);
  const watcher = new ConfigWatcher(client2, keys, logger);
  const states: CommittedState[] = [];
  watcher.on('state', (s) => states.push(s));
  t.after(() => watcher.stop());
  await watcher.start();

  // What a writer that crashed after its first batches leaves behind (its leased lock expired):
  // the unfinished-write marker, new, changed and deleted objects, no version key.
  const marker = putOp(keys.unfinished, '{"version":2}');
  const next = makeConfig(600, 'b');
  const added = next.routes.slice(300, 420).map((r) => putOp(keys.object('routes', r.id), JSON.stringify(r)));
  const changed = next.routes.slice(0, 5).map((r) => putOp(keys.object('routes', r.id), JSON.stringify(r)));
  const deleted = committed.routes.slice(10, 15).map((r) => deleteOp(keys.object('routes', r.id)));
  await client.kv.txn({ compare: [], success: [marker, ...added, ...changed.slice(0, 3)], failure: [] });
  await client.kv.txn({ compare: [], success: [...changed.slice(3), ...deleted], failure: [] });

  const read = await writer.readCommitted();
  assert.equal(read.version?.version, 1);
  assert.equal(read.revision, v1.revision);
  assert.deepEqual(read.config, normalize(committed));

  const late = new ConfigWatcher(client, keys, logger);
  t.after(() => late.stop());
  await late.start();
  assert.deepEqual(new Map(late.state!.entries), configEntries(keys, normalize(committed)));

  const recovered = await writer.recoverUnfinished();
  assert.equal(recovered.restored, 120 + 5 + 5);
  assert.deepEqual(await rawEntries(keys), configEntries(keys, normalize(committed)));
  assert.equal(await client.get(keys.unfinished).string(), null, 'marker removed');

  // Crash again, then write: the write recovers first and commits exactly its own config.
  await client.kv.txn({ compare: [], success: [marker, ...added, ...deleted], failure: [] });
  const wanted = makeConfig(301, 'c');
  const v2 = await writer.write(wanted, meta);
  assert.equal(v2.version.version, 2);
  assert.deepEqual(await rawEntries(keys), configEntries(keys, normalize(wanted)));
  await waitUntil(() => states.at(-1)?.version?.version === 2 && late.state?.version?.version === 2, 'version 2');
  assert.deepEqual(states.map((s) => s.version?.version), [1, 2], 'the crashed writes produced no state');
  assert.deepEqual(new Map(states[1]!.entries), configEntries(keys, normalize(wanted)));
  assert.deepEqual(new Map(late.state!.entries), configEntries(keys, normalize(wanted)));
});

test('a write interrupted midway commits nothing and leaves no trace', async (t) => {
  const keys = new Keys('/interrupted');
  const writer = new ConfigWriter(client, keys);
  const committed = makeConfig(10);
  await writer.write(committed, meta);
  const watcher = new ConfigWatcher(client2, keys, logger);
  const states: CommittedState[] = [];
  watcher.on('state', (s) => states.push(s));
  t.after(() => watcher.stop());
  await watcher.start();

  const failing = new ConfigWriter(client, keys, undefined, {
    afterBatch: (i) => {
      if (i === 2) throw new Error('simulated failure after batch 3');
    },
  });
  await assert.rejects(failing.write(makeConfig(2000, 'x'), meta), /simulated failure/);
  assert.equal(await client.get(keys.writeLock).string(), null, 'lock released');
  assert.deepEqual(await rawEntries(keys), configEntries(keys, normalize(committed)));
  assert.equal((await writer.readCommitted()).version?.version, 1);

  const v2 = await writer.write(makeConfig(11), meta);
  assert.equal(v2.version.version, 2);
  await waitUntil(() => states.at(-1)?.version?.version === 2, 'version 2');
  assert.deepEqual(states.map((s) => s.version?.version), [1, 2]);
  assert.deepEqual(new Map(states[1]!.entries), configEntries(keys, normalize(makeConfig(11))));
});

test('a writer holding the lock makes other writers fail with a conflict, not wait forever', async () => {
  const keys = new Keys('/locked');
  const writer = new ConfigWriter(client, keys);
  await writer.write(makeConfig(1), meta);
  const lease = client.lease(30);
  try {
    await lease.put(keys.writeLock).value('{"token":"someone-else"}');
    await assert.rejects(writer.write(makeConfig(2), meta), (err: Error) => err.name === 'VersionConflictError' && /being written/.test(err.message));
    // recoverUnfinished leaves a locked prefix alone.
    assert.deepEqual(await writer.recoverUnfinished(), { restored: 0, skipped: 'locked' });
  } finally {
    await lease.revoke();
  }
  assert.equal((await writer.write(makeConfig(2), meta)).version.version, 2);
});
