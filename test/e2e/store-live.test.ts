// The live copy a control-plane thread plans and answers from (LiveConfig), against a real etcd:
// it holds every version committed before it is asked, even while its watch lags; a write planned
// on a copy that another writer (or a hand) has since overtaken is refused, never merged; where
// the copy cannot vouch for etcd (an unfinished write left behind), the write reads etcd.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Config } from '../../src/config/schema.js';
import { normalize } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter, VersionConflictError } from '../../src/store/config-writer.js';
import { configEntries, decodeHistory } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { putOp } from '../../src/store/kv.js';
import { LiveConfig } from '../../src/store/live-config.js';
import { EtcdRelay, startTestEtcd } from '../helpers/etcd.js';

const meta = { author: 'test', message: 'live', source: 'test' };
const logger = pino({ level: 'silent' });
const etcd = await startTestEtcd();
const port = Number(new URL(etcd.endpoint).port);
const clients = [createEtcdClient(etcd.endpoint)];

const other = clients[0]!;
const lives: LiveConfig[] = [];
after(async () => {
  for (const l of lives) await l.stop();
  for (const c of clients) c.close();
});

const route = (id: string, path = `/${id}`) => ({ id, match: { paths: [path] }, upstream: 'u' });
const config = (...routes: ReturnType<typeof route>[]): Config => normalize({ upstreams: [{ id: 'u', targets: [] }], routes, policies: [], certificates: [] });

/** A writer that plans on a live copy with a client of its own (through `relay`, when given). */
async function cachedWriter(keys: Keys, relay?: EtcdRelay) {
  const c = relay ? createEtcdClient(`http://127.0.0.1:${relay.port}`) : createEtcdClient(etcd.endpoint);
  clients.push(c);
  const live = new LiveConfig(c, keys, logger);
  lives.push(live);
  await live.start();
  return { live, writer: new ConfigWriter(c, keys, undefined, { live, logger }) };
}

test('the copy answers with every version committed before it was asked, also when its watch is held back', async () => {
  const keys = new Keys('/live-ryw');
  await new ConfigWriter(other, keys).write(config(route('a')), meta);
  const relay = new EtcdRelay(port);
  await relay.listen();
  const { live } = await cachedWriter(keys, relay);
  assert.equal((await live.current())?.view.state.version?.version, 1);

  // Its connection frozen, its watch cannot see version 2; asked now, it must not answer version 1.
  relay.freeze();
  await new ConfigWriter(other, keys).write(config(route('a'), route('b')), meta);
  const asked = live.current();
  let answered = false;
  void asked.then(() => (answered = true));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(answered, false, 'no answer from a copy that cannot have seen version 2');
  relay.restore();
  const snap = await asked;
  assert.equal(snap?.view.state.version?.version, 2);
  assert.deepEqual(snap?.view.objects.config(), config(route('a'), route('b')));
});

test('a write planned on a copy another writer has overtaken is refused, and writes nothing', async () => {
  const keys = new Keys('/live-race');
  const plain = new ConfigWriter(other, keys);
  await plain.write(config(route('a'), route('b')), meta);
  const { writer } = await cachedWriter(keys);
  const base = await writer.writeBase();
  await plain.write(config(route('a', '/moved'), route('b')), meta);
  await assert.rejects(writer.writeObject(base, { kind: 'routes', id: 'b', object: route('b', '/mine') }, { ...meta, expectVersion: 1 }), VersionConflictError);
  // Without If-Match too: planned on version 1, it is refused as stale, not merged into 2.
  await assert.rejects(writer.writeObject(base, { kind: 'routes', id: 'b', object: route('b', '/mine') }, meta), VersionConflictError);
  assert.deepEqual((await plain.readCommitted()).config, config(route('a', '/moved'), route('b')));
  // Planned again, on a fresh copy, it goes through on top of the other write.
  const fresh = await writer.writeBase();
  const res = await writer.writeObject(fresh, { kind: 'routes', id: 'b', object: route('b', '/mine') }, meta);
  assert.equal(res.version.version, 3);
  assert.deepEqual((await plain.readCommitted()).config, config(route('a', '/moved'), route('b', '/mine')));
});

test('a key written by hand after the plan: a write of that key is refused; of another key, it goes through and its version is not taken as exact', async () => {
  const keys = new Keys('/live-hand');
  const plain = new ConfigWriter(other, keys);
  await plain.write(config(route('a'), route('b')), meta);
  const { live, writer } = await cachedWriter(keys);

  let base = await writer.writeBase();
  await other.put(keys.object('routes', 'b')).value(JSON.stringify(route('b', '/by-hand')));
  await assert.rejects(writer.writeObject(base, { kind: 'routes', id: 'b', object: route('b', '/mine') }, meta), (err: Error) => err instanceof VersionConflictError && err.reason === 'concurrent');
  assert.equal(await other.get(keys.object('routes', 'b')).string(), JSON.stringify(route('b', '/by-hand')), 'the hand-written value stays');

  base = await writer.writeBase();
  await other.put(keys.object('routes', 'c')).value(JSON.stringify(route('c')));
  const v2 = await writer.writeObject(base, { kind: 'routes', id: 'a', object: route('a', '/mine') }, meta);
  const settled = async () => {
    for (;;) {
      const s = await live.current();
      if (s && s.view.state.version?.version === v2.version.version) return s;
    }
  };
  const at2 = await settled();
  assert.equal(at2.view.state.versionExact, false, 'route c landed between the plan and the commit: version 2 does not hold it');
  assert.ok(at2.view.objects.find('routes', 'c'));
  // So the next version is recorded whole, as etcd holds it, not as a diff from version 2.
  const v3 = await writer.writeObject(await writer.writeBase(), { kind: 'routes', id: 'a', object: route('a', '/again') }, meta);
  const entry = decodeHistory((await other.get(keys.history(v3.version.version)).string())!) as Record<string, unknown>;
  assert.equal(entry.diffFrom, undefined);
  assert.deepEqual((await writer.getVersion(v3.version.version))?.config, config(route('a', '/again'), route('b', '/by-hand'), route('c')));
});

test('an unfinished multi-transaction write left behind: the copy does not vouch, and the write undoes it first', async () => {
  const keys = new Keys('/live-unfinished');
  const plain = new ConfigWriter(other, keys);
  await plain.write(config(route('a')), meta);
  const { live, writer } = await cachedWriter(keys);
  // What a writer that crashed after its first batch leaves (its leased lock expired).
  const crash = () => other.kv.txn({ compare: [], success: [putOp(keys.unfinished, '{"version":2}'), putOp(keys.object('routes', 'half'), JSON.stringify(route('half')))], failure: [] });
  const live2 = async () => {
    const entries = await other.getAll().prefix(keys.config).strings();
    delete entries[keys.version];
    return new Map(Object.entries(entries));
  };

  // At once, before or after the copy has seen the marker: refused, or written after undoing it; never both.
  await crash();
  let written = null;
  for (let attempt = 0; attempt < 20 && !written; attempt++) {
    written = await writer.writeObject(await writer.writeBase(), { kind: 'routes', id: 'b', object: route('b') }, meta).catch((err: unknown) => {
      if (!(err instanceof VersionConflictError)) throw err;
      return null;
    });
    // Refused while the copy has not caught up with the marker: a client tries again a moment later.
    if (!written) await sleep(50);
  }
  assert.equal(written?.version.version, 2);
  assert.deepEqual(await live2(), configEntries(keys, config(route('a'), route('b'))));

  // Once the copy has seen the marker, it says it cannot vouch for etcd.
  await crash();
  for (let i = 0; (await live.current()) !== null; i++) assert.ok(i < 100, 'the copy kept vouching with a marker standing');
  const res = await writer.writeObject(await writer.writeBase(), { kind: 'routes', id: 'c', object: route('c') }, meta);
  assert.equal(res.version.version, 3);
  assert.deepEqual(await live2(), configEntries(keys, config(route('a'), route('b'), route('c'))));
});
