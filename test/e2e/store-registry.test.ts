// ProxyRegistry against a real etcd: status under a lease, coalesced updates, gone after stop(),
// etcd being down never reaching the caller, and a proxy's log saying why its status is missing.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { ProxyRegistry } from '../../src/store/proxy-registry.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { startProxyProcess, waitFor } from '../helpers/processes.js';
import { singleRouteDoc } from '../helpers/upstreams.js';

const etcd = await startTestEtcd();
const client = createEtcdClient(etcd.endpoint);
const reader = createEtcdClient(etcd.endpoint);
after(() => {
  client.close();
  reader.close();
});
const keys = new Keys('/registry-test');
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

async function waitUntil(cond: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const statusOf = async (id: string) => (await ProxyRegistry.list(reader, keys)).find((p) => p.id === id)?.status as { n?: number } | undefined;

test('status appears under proxies/, bound to a lease, updates to the latest, disappears after stop()', async () => {
  const reg = new ProxyRegistry(client, keys, 'proxy-a', logger, 5);
  reg.report({ n: 1, version: 3 });
  await reg.flushed();
  assert.deepEqual(await statusOf('proxy-a'), { n: 1, version: 3 });
  const kv = (await reader.get(keys.proxy('proxy-a')).exec()).kvs[0]!;
  assert.notEqual(kv.lease, '0', 'bound to a lease');

  // A burst of reports: puts are coalesced and the last one wins.
  for (let n = 2; n <= 50; n++) reg.report({ n });
  await reg.flushed();
  assert.deepEqual(await statusOf('proxy-a'), { n: 50 });
  const versionAfterBurst = Number((await reader.get(keys.proxy('proxy-a')).exec()).kvs[0]!.version);
  assert.ok(versionAfterBurst < 50, `coalesced: ${versionAfterBurst - 1} puts for 49 reports`);

  const other = new ProxyRegistry(client, keys, 'proxy-b', logger);
  other.report({ n: 7 });
  await other.flushed();
  assert.deepEqual((await ProxyRegistry.list(reader, keys)).map((p) => p.id), ['proxy-a', 'proxy-b']);

  await reg.stop();
  assert.equal(await reader.get(keys.proxy('proxy-a')).string(), null);
  reg.report({ n: 99 }); // after stop: ignored, no throw
  assert.deepEqual((await ProxyRegistry.list(reader, keys)).map((p) => p.id), ['proxy-b']);
  await other.stop();
  assert.deepEqual(await ProxyRegistry.list(reader, keys), []);
});

test('etcd down: report() never throws, and the latest status is written once etcd is back', async () => {
  const reg = new ProxyRegistry(client, keys, 'proxy-c', logger, 2);
  reg.report({ n: 1 });
  await reg.flushed();
  await etcd.kill();
  reg.report({ n: 2 });
  reg.report({ n: 3 });
  await etcd.start();
  // Nothing reported since etcd is back: the status reported while it was down is retried.
  await waitUntil(async () => (await statusOf('proxy-c'))?.n === 3, 'the latest status after the restart');
  await reg.stop();
  assert.equal(await reader.get(keys.proxy('proxy-c')).string(), null);
});

test('a proxy process logs why its status cannot reach etcd (serving its cache while etcd is down)', async () => {
  const own = await startTestEtcd();
  const ownClient = createEtcdClient(own.endpoint);
  after(() => ownClient.close());
  const doc = validateDocument(singleRouteDoc('http://127.0.0.1:9'));
  assert.ok(doc.ok);
  await new ConfigWriter(ownClient, new Keys()).write(doc.config, { author: 'test', source: 'api', message: 'seed' });
  const cacheDir = await mkdtemp(join(tmpdir(), 'signalbox-cache-'));
  atFileEnd(() => rm(cacheDir, { recursive: true, force: true }));
  const args = ['--cache-dir', cacheDir];
  const first = await startProxyProcess(own.endpoint, { args });
  await first.stop();
  await own.kill();
  const proxy = await startProxyProcess(own.endpoint, { args });
  await waitFor('the registry warning in the proxy log', () => proxy.output().includes('writing the proxy status to etcd failed'));
});

test('a lost lease (revoked or expired in etcd): a new lease is granted and the status re-put', async () => {
  const reg = new ProxyRegistry(client, keys, 'proxy-e', logger, 3);
  reg.report({ n: 1 });
  await reg.flushed();
  const lease = (await reader.get(keys.proxy('proxy-e')).exec()).kvs[0]!.lease;
  await reader.leaseClient.leaseRevoke({ ID: lease });
  assert.equal(await reader.get(keys.proxy('proxy-e')).string(), null);
  await waitUntil(async () => {
    const kv = (await reader.get(keys.proxy('proxy-e')).exec()).kvs[0];
    return !!kv && kv.lease !== lease && kv.lease !== '0';
  }, 'the status under a new lease');
  assert.deepEqual(await statusOf('proxy-e'), { n: 1 });
  await reg.stop();
  assert.equal(await reader.get(keys.proxy('proxy-e')).string(), null);
});

test('stop() while etcd is down resolves (the key then expires with its lease)', async () => {
  const reg = new ProxyRegistry(client, keys, 'proxy-d', logger, 2);
  reg.report({ n: 1 });
  await reg.flushed();
  await etcd.kill();
  reg.report({ n: 2 });
  await reg.stop();
  await etcd.start();
  // etcd keeps leases across a restart and renews their TTL; with no keepalive it then expires.
  await waitUntil(async () => (await reader.get(keys.proxy('proxy-d')).string()) === null, 'the key to expire', 20_000);
});
