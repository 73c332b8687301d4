// etcd as production runs it: client TLS with client certificates, and RBAC users whose auth
// tokens expire, are lost when etcd restarts, or go stale when users and roles change. Real etcd
// processes; certificates made with openssl by the test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import type { Config } from '../../src/config/schema.js';
import { createEtcdClient, type EtcdClientOptions } from '../../src/store/client.js';
import { ConfigWatcher, type CommittedState } from '../../src/store/config-watcher.js';
import { ConfigWriter, type WriteResult } from '../../src/store/config-writer.js';
import { etcdAccessFromFlags, etcdAuth } from '../../src/store/etcd-access.js';
import { Keys } from '../../src/store/keys.js';
import { ProxyRegistry } from '../../src/store/proxy-registry.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { enableAuth, EtcdRelay, makeTestCerts, ROOT_PASSWORD, startTestEtcd } from '../helpers/etcd.js';

const PASSWORD = 'signalbox-pw-7f3a9';
const keys = new Keys('/secure');
const meta = { author: 'test', message: 'm', source: 'test' };
const logLines: string[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

function config(variant: string): Config {
  return {
    upstreams: [{ id: 'users', targets: [{ url: 'http://127.0.0.1:9101' }] }],
    routes: [{ id: variant, match: { paths: [`/${variant}`] }, upstream: 'users' }],
    policies: [],
    certificates: [],
    consumers: [],
    settings: [],
  };
}

function client(endpoint: string, opts: EtcdClientOptions): Etcd3 {
  const c = createEtcdClient(endpoint, opts);
  atFileEnd(() => c.close());
  return c;
}

async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A watcher collecting every state, stopped when the test file ends. */
async function watching(c: Etcd3): Promise<{ watcher: ConfigWatcher; states: CommittedState[]; version: () => number | undefined }> {
  const watcher = new ConfigWatcher(c, keys, logger);
  const states: CommittedState[] = [];
  watcher.on('state', (s) => states.push(s));
  atFileEnd(() => watcher.stop());
  await watcher.start();
  return { watcher, states, version: () => states.at(-1)?.version?.version };
}

/** Write version n and wait until the watcher has it. */
async function writeSeen(writer: ConfigWriter, version: () => number | undefined, n: number, what: string): Promise<WriteResult> {
  const result = await writer.write(config(`v${n}`), meta);
  await waitUntil(() => version() === n, `version ${n} ${what}`);
  return result;
}

/** Every connection through the relay reset; the watch and the lease keepalive are re-created. */
async function cutBriefly(relay: EtcdRelay): Promise<void> {
  relay.cut();
  await sleep(300);
  relay.restore();
}

/** An etcd with auth enabled and a user that may use only the /secure/ prefix; its endpoint, and a relay to it. */
async function etcdWithUsers(args: string[]) {
  const etcd = await startTestEtcd({ args });
  const admin = createEtcdClient(etcd.endpoint);
  await enableAuth(admin, { name: 'signalbox', password: PASSWORD, prefix: `${keys.root}/` });
  admin.close();
  const relay = new EtcdRelay(etcd.clientPort);
  await relay.listen();
  return { etcd, relay, access: { auth: etcdAuth('signalbox', PASSWORD) } };
}

test('client TLS with client certificates: a writer and a watcher work; clients without the certificate or the CA are refused', async () => {
  const certs = await makeTestCerts();
  const etcd = await startTestEtcd({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFile: certs.ca } });
  assert.match(etcd.endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
  const access = etcdAccessFromFlags({ etcdCacert: certs.ca, etcdCert: certs.clientCert, etcdKey: certs.clientKey }, {});

  const writer = new ConfigWriter(client(etcd.endpoint, access), keys);
  await writer.write(config('one'), meta);
  // An endpoint without a scheme is https:// when TLS is configured.
  const { version } = await watching(client(`127.0.0.1:${etcd.clientPort}`, access));
  assert.equal(version(), 1);
  await writer.write(config('two'), meta);
  await waitUntil(() => version() === 2, 'the watcher to see version 2');

  const refused = async (opts: EtcdClientOptions, why: string) => {
    const c = client(etcd.endpoint, { ...opts, callTimeoutMs: 2_000 });
    await assert.rejects(c.put(`${keys.root}/x`).value('1').exec(), Error, why);
  };
  await refused({ tls: { ca: certs.ca } }, 'no client certificate');
  await refused({ tls: { ca: certs.otherCa, cert: certs.clientCert, key: certs.clientKey } }, 'server certificate from an untrusted CA');
  assert.throws(() => createEtcdClient(`http://127.0.0.1:${etcd.clientPort}`, access), /is not an https:\/\/ endpoint/);
  assert.equal((await writer.readCommitted()).version?.version, 2, 'the refused clients wrote nothing');
});

test('RBAC with a 1 s token TTL: changes keep arriving and the registry lease stays across token expiry, a cut and an etcd restart', async () => {
  const { etcd, relay, access } = await etcdWithUsers(['--auth-token-ttl', '1']);
  const writerClient = client(etcd.endpoint, access);
  // Limits that make every write below take the write lock (a lease) and several transactions.
  const writer = new ConfigWriter(writerClient, keys, { maxOpsPerTxn: 5, maxBytesPerTxn: 1024 * 1024 });
  await writer.write(config('v1'), meta);
  // The proxy's client: watcher and registry share it, through a relay the test can cut.
  const proxyClient = client(`http://127.0.0.1:${relay.port}`, access);
  const { states, version } = await watching(proxyClient);
  const registry = new ProxyRegistry(proxyClient, keys, 'edge-1', logger, 2);
  atFileEnd(() => registry.stop());
  registry.report({ n: 1 });
  await registry.flushed();
  const leaseOf = async () => (await writerClient.get(keys.proxy('edge-1')).exec()).kvs[0]?.lease;
  const lease = await leaseOf();
  assert.ok(lease && lease !== '0');

  await sleep(3_000); // every token is expired now (TTL 1 s, unused since)
  const v2 = await writeSeen(writer, version, 2, 'over the watch opened before the expiry');
  assert.equal(v2.transactions, 3, 'lock and marker, one batch, commit');
  // The watch (and the lease keepalive) are re-created, still holding the expired token.
  await cutBriefly(relay);
  await writeSeen(writer, version, 3, 'after the watch was re-created');
  // etcd restarted: its simple tokens are gone.
  await etcd.stop();
  await etcd.start();
  await writeSeen(writer, version, 4, 'after etcd restarted');

  assert.deepEqual(states.map((s) => s.version?.version), [1, 2, 3, 4]);
  assert.ok(states.every((s) => !s.resync), 'resumed each time, never re-read from scratch');
  // More than 2 lease TTLs have passed since the registry wrote: only keepalives kept its key.
  assert.equal(await leaseOf(), lease, 'the same lease, refreshed the whole time');
  registry.report({ n: 2 });
  await registry.flushed();
  assert.equal(await writerClient.get(keys.proxy('edge-1')).string(), '{"n":2}');
});

test('JWT tokens made stale by a role change: writes go on, and a re-created watch resumes', async () => {
  const certs = await makeTestCerts();
  const jwt = `jwt,pub-key=${certs.jwtPublicKey},priv-key=${certs.jwtPrivateKey},sign-method=RS256,ttl=10m`;
  const { etcd, relay, access } = await etcdWithUsers(['--auth-token', jwt]);
  const writer = new ConfigWriter(client(etcd.endpoint, access), keys);
  await writer.write(config('v1'), meta);
  const { states, version } = await watching(client(`http://127.0.0.1:${relay.port}`, access));

  // Any change of users or roles makes every token issued before it stale.
  const root = client(etcd.endpoint, { auth: etcdAuth('root', ROOT_PASSWORD) });
  await root.role('unrelated').create();

  await writeSeen(writer, version, 2, 'written with a stale token');
  await cutBriefly(relay);
  await writeSeen(writer, version, 3, 'after the watch was re-created with a stale token');
  assert.ok(states.every((s) => !s.resync));
});

test('a wrong password is refused with a clear error, and the password appears in no error or log line', async () => {
  const { etcd } = await etcdWithUsers([]);
  const wrong = 'not-the-password-5d1c';
  const c = client(etcd.endpoint, { auth: etcdAuth('signalbox', wrong), callTimeoutMs: 2_000 });
  await assert.rejects(c.get(keys.version).string(), (err: Error) => {
    assert.match(err.message, /authentication failed/);
    assert.ok(!err.message.includes(wrong));
    return true;
  });
  const watcher = new ConfigWatcher(c, keys, logger);
  atFileEnd(() => watcher.stop());
  void watcher.start();
  await waitUntil(() => logLines.some((l) => l.includes('authentication failed')), 'the watcher logging why it cannot read');
  for (const line of logLines) {
    assert.ok(!line.includes(wrong) && !line.includes(PASSWORD) && !line.includes(ROOT_PASSWORD), `a password in: ${line}`);
  }
});
