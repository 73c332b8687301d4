// ConfigWriter against a real etcd: round trip, no-op writes, history, optimistic concurrency.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { configHash } from '../../src/config/canonical.js';
import type { Config } from '../../src/config/schema.js';
import { normalize } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter, HISTORY_VERSIONS_KEPT, VersionConflictError } from '../../src/store/config-writer.js';
import { decodeHistory } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { startTestEtcd } from '../helpers/etcd.js';

const meta = { author: 'test', message: 'test write', source: 'test' };

function makeConfig(routes: number, variant = 'a'): Config {
  return {
    upstreams: [{ id: 'users', targets: [{ url: 'http://127.0.0.1:9101', weight: 2 }] }],
    routes: Array.from({ length: routes }, (_, i) => ({
      id: `r-${String(i).padStart(4, '0')}`,
      match: { paths: [`/${variant}/${i}`] },
      upstream: 'users',
    })),
    policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 10 }],
    certificates: [],
    consumers: [],
    settings: [],
  };
}

const etcd = await startTestEtcd();
const client: Etcd3 = createEtcdClient(etcd.endpoint);
const client2: Etcd3 = createEtcdClient(etcd.endpoint);
const keys = new Keys('/writer-test');
after(() => {
  client.close();
  client2.close();
});

test('write then readCommitted returns the same config, version 1 with hash and counts', async () => {
  const writer = new ConfigWriter(client, keys);
  const empty = await writer.readCommitted();
  assert.equal(empty.version, null);
  assert.equal(empty.revision, 0);
  assert.deepEqual(empty.config, { upstreams: [], routes: [], policies: [], certificates: [], consumers: [], settings: [] });

  const config = makeConfig(3);
  const res = await writer.write(config, meta);
  assert.equal(res.unchanged, false);
  assert.equal(res.version.version, 1);
  assert.equal(res.transactions, 1);
  assert.equal(res.changes.length, 5);
  assert.ok(res.changes.every((c) => c.op === 'add'));

  const read = await writer.readCommitted();
  assert.deepEqual(read.config, normalize(config));
  assert.deepEqual(read.issues, []);
  assert.equal(read.revision, res.revision);
  assert.equal(read.version?.version, 1);
  assert.equal(read.version?.hash, configHash(normalize(config)));
  assert.deepEqual(read.version?.counts, { routes: 3, upstreams: 1, policies: 1, certificates: 0, consumers: 0, settings: 0 });
  assert.equal(read.version?.author, 'test');
});

test('writing the committed config again is unchanged and writes nothing', async () => {
  const writer = new ConfigWriter(client, keys);
  const before = await writer.readCommitted();
  const headBefore = (await client.get('anything').exec()).header.revision;
  const res = await writer.write(makeConfig(3), { ...meta, expectVersion: before.version!.version });
  assert.equal(res.unchanged, true);
  assert.deepEqual(res.changes, []);
  assert.equal(res.version.version, before.version!.version);
  const headAfter = (await client.get('anything').exec()).header.revision;
  assert.equal(headAfter, headBefore, 'no etcd revision was created');
});

test('history: listVersions newest first, getVersion returns each whole config', async () => {
  const writer = new ConfigWriter(client, keys);
  const v2 = await writer.write(makeConfig(4), meta);
  assert.deepEqual(
    v2.changes.map((c) => `${c.op} ${c.kind}/${c.id}`),
    ['add routes/r-0003'],
  );
  const v3config = makeConfig(2, 'b');
  const v3 = await writer.write(v3config, { ...meta, message: 'third' });
  assert.deepEqual(
    v3.changes.map((c) => `${c.op} ${c.kind}/${c.id}`),
    ['change routes/r-0000', 'change routes/r-0001', 'remove routes/r-0002', 'remove routes/r-0003'],
  );
  const versions = await writer.listVersions();
  assert.deepEqual(versions.map((v) => v.version), [3, 2, 1]);
  assert.equal(versions[0]!.message, 'third');
  const got = await writer.getVersion(2);
  assert.deepEqual(got?.config, normalize(makeConfig(4)));
  assert.equal(got?.version.version, 2);
  assert.deepEqual((await writer.getVersion(3))?.config, normalize(v3config));
  assert.equal(await writer.getVersion(99), null);
});

test('two concurrent writes with the same expectVersion: one succeeds, one VersionConflictError', async () => {
  const a = new ConfigWriter(client, keys);
  const b = new ConfigWriter(client2, keys);
  const current = (await a.readCommitted()).version!.version;
  const results = await Promise.allSettled([
    a.write(makeConfig(5, 'x'), { ...meta, expectVersion: current }),
    b.write(makeConfig(6, 'y'), { ...meta, expectVersion: current }),
  ]);
  const ok = results.filter((r) => r.status === 'fulfilled');
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(ok.length, 1);
  assert.equal(failed.length, 1);
  assert.ok(failed[0]!.reason instanceof VersionConflictError, String(failed[0]!.reason));
  assert.equal(failed[0]!.reason.expected, current);
  assert.equal(failed[0]!.reason.actual, current + 1);
  const winner = (ok[0] as PromiseFulfilledResult<Awaited<ReturnType<ConfigWriter['write']>>>).value;
  const read = await a.readCommitted();
  assert.equal(read.version?.version, current + 1);
  assert.equal(read.version?.hash, winner.version.hash);
});

test('a stale expectVersion is a conflict and writes nothing', async () => {
  const writer = new ConfigWriter(client, keys);
  const before = await writer.readCommitted();
  const headBefore = (await client.get('anything').exec()).header.revision;
  await assert.rejects(writer.write(makeConfig(9, 'z'), { ...meta, expectVersion: 1 }), (err: unknown) => {
    assert.ok(err instanceof VersionConflictError);
    assert.equal(err.expected, 1);
    assert.equal(err.actual, before.version!.version);
    return true;
  });
  assert.deepEqual(await writer.readCommitted(), before);
  assert.equal((await client.get('anything').exec()).header.revision, headBefore);
});

test('without expectVersion, a write that loses the race to a concurrent one is retried', async () => {
  const a = new ConfigWriter(client, keys);
  const b = new ConfigWriter(client2, keys);
  const current = (await a.readCommitted()).version!.version;
  const results = await Promise.all([a.write(makeConfig(7, 'p'), meta), b.write(makeConfig(8, 'q'), meta)]);
  assert.deepEqual(results.map((r) => r.version.version).sort(), [current + 1, current + 2]);
  const last = results.find((r) => r.version.version === current + 2)!;
  assert.equal((await a.readCommitted()).version?.hash, last.version.hash);
});

test('a large history value is stored gzip+base64 wrapped and read back transparently', async () => {
  const k = new Keys('/writer-gzip');
  const writer = new ConfigWriter(client, k, undefined, { gzipHistoryAbove: 1000 });
  const config = makeConfig(50);
  const res = await writer.write(config, meta);
  const raw = await client.get(k.history(res.version.version)).string();
  assert.ok(raw);
  const wrapped = JSON.parse(raw) as { encoding?: string; data?: string };
  assert.equal(wrapped.encoding, 'gzip+base64');
  assert.equal(typeof wrapped.data, 'string');
  assert.deepEqual((await writer.getVersion(res.version.version))?.config, normalize(config));
});

test(`history keeps the newest ${HISTORY_VERSIONS_KEPT} versions; the chain of the oldest kept one still starts at a kept snapshot`, async () => {
  const k = new Keys('/writer-prune');
  const every = 10;
  const writer = new ConfigWriter(client, k, undefined, { snapshotEvery: every });
  // 20 routes, write i changes route i % 20: a diff of one route each time.
  const configAt = (i: number): Config => {
    const c = makeConfig(20);
    c.routes[i % 20]!.match.paths = [`/v${i}`];
    return c;
  };
  const total = HISTORY_VERSIONS_KEPT + 25;
  for (let i = 1; i <= total; i++) await writer.write(configAt(i), meta);
  const versions = await writer.listVersions();
  assert.equal(versions.length, HISTORY_VERSIONS_KEPT);
  assert.equal(versions[0]!.version, total);
  const oldest = total - HISTORY_VERSIONS_KEPT + 1;
  assert.equal(versions.at(-1)!.version, oldest);
  assert.equal(await writer.getVersion(oldest - 1), null, 'a pruned version is gone, though its entry is still the start of a chain');
  for (const n of [oldest, oldest + 1, total - 1, total]) assert.deepEqual((await writer.getVersion(n))?.config, normalize(configAt(n)), `version ${n}`);

  // Entries are kept from the snapshot point at or below the oldest kept version: a snapshot.
  const start = oldest - ((oldest - 1) % every);
  const entries = await client.getAll().prefix(k.historyPrefix).strings();
  assert.equal(Object.keys(entries).length, total - start + 1);
  const first = decodeHistory(entries[k.history(start)]!) as Record<string, unknown>;
  assert.equal(first.diffFrom, undefined, `version ${start} is a snapshot`);
  assert.equal((decodeHistory(entries[k.history(oldest)]!) as Record<string, unknown>).diffFrom, oldest - 1, `version ${oldest} is a diff`);
  assert.equal((await client.getAll().prefix(k.historyInfoPrefix).keys()).length, HISTORY_VERSIONS_KEPT);
});

test('history entries are diffs between snapshots; every version reads back whole, also across a snapshot point', async () => {
  const k = new Keys('/writer-diffs');
  const writer = new ConfigWriter(client, k, undefined, { snapshotEvery: 5 });
  const configs: Config[] = [];
  for (let i = 0; i < 12; i++) {
    const c = makeConfig(30, 'a');
    // Add, change and remove routes, and change the upstream now and then.
    c.routes = c.routes.filter((_, j) => j !== i).map((r, j) => (j === i + 1 ? { ...r, match: { paths: [`/changed/${i}`] } } : r));
    if (i % 4 === 3) c.upstreams[0]!.targets = [{ url: `http://127.0.0.1:${9200 + i}` }];
    configs.push(c);
    await writer.write(c, meta);
  }
  const entries = await client.getAll().prefix(k.historyPrefix).strings();
  const kinds = [...Array(12).keys()].map((i) => ((decodeHistory(entries[k.history(i + 1)]!) as { diffFrom?: number }).diffFrom === undefined ? 'snapshot' : 'diff'));
  assert.deepEqual(kinds, ['snapshot', 'diff', 'diff', 'diff', 'diff', 'snapshot', 'diff', 'diff', 'diff', 'diff', 'snapshot', 'diff']);
  for (let n = 1; n <= 12; n++) assert.deepEqual((await writer.getVersion(n))?.config, normalize(configs[n - 1]!), `version ${n}`);
  // A diff is a few hundred bytes; a snapshot the whole config.
  assert.ok(entries[k.history(2)]!.length * 5 < entries[k.history(1)]!.length, `${entries[k.history(2)]!.length} vs ${entries[k.history(1)]!.length}`);
});

test('a key written by hand since the last version: the next entry is a snapshot (a diff from it would not reproduce the version before)', async () => {
  const k = new Keys('/writer-hand');
  const writer = new ConfigWriter(client, k);
  await writer.write(makeConfig(3), meta);
  const extra = { id: 'hand', match: { paths: ['/hand'] }, upstream: 'users' };
  await client.put(k.object('routes', 'hand')).value(JSON.stringify(extra));
  const c = makeConfig(3);
  c.routes.push(extra);
  c.routes[0]!.match.paths = ['/changed'];
  await writer.write(c, meta);
  const entry = decodeHistory((await client.get(k.history(2)).string())!) as Record<string, unknown>;
  assert.equal(entry.diffFrom, undefined);
  assert.deepEqual((await writer.getVersion(2))?.config, normalize(c));
});

test('a diff chain that does not reproduce its version (an entry changed by hand) is refused, naming the key', async () => {
  const k = new Keys('/writer-broken-chain');
  const writer = new ConfigWriter(client, k);
  await writer.write(makeConfig(3), meta);
  const c = makeConfig(3);
  c.routes[0]!.match.paths = ['/changed'];
  await writer.write(c, meta);
  await client.put(k.history(1)).value(JSON.stringify(makeConfig(2)));
  await assert.rejects(writer.getVersion(2), new RegExp(`${k.history(2)} and the diffs before it do not reproduce the hash of version 2`));
  await client.delete().key(k.history(1));
  await assert.rejects(writer.getVersion(2), new RegExp(`${k.history(2)} needs ${k.history(1)}, which is missing`));
});
