// A proxy whose etcd is not there yet: it stays up, says so, and turns ready when etcd comes.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { validateDocument } from '../../src/config/validate.js';
import { ManagedEtcd } from '../../src/dev/managed-etcd.js';
import { freePort } from '../../src/util/ports.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { getJson, startProxyProcess, waitFor } from '../helpers/processes.js';
import { singleRouteDoc, startUpstream } from '../helpers/upstreams.js';

it('a proxy started before etcd retries instead of crashing, then serves once etcd has a config', async () => {
  const clientPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const proxy = await startProxyProcess(endpoint, { waitReady: false });
  await waitFor('admin port', async () => (await fetch(`${proxy.admin}/healthz`)).ok);
  await sleep(1500);
  assert.equal(proxy.proc.exitCode, null, `the proxy exited: ${proxy.output()}`);
  assert.equal((await fetch(`${proxy.admin}/readyz`)).status, 503);
  assert.equal((await getJson(`${proxy.admin}/status`)).body.etcd, 'disconnected');

  const dir = await mkdtemp(join(tmpdir(), 'signalbox-etcd-'));
  const etcd = new ManagedEtcd({ dataDir: dir, clientPort });
  after(async () => {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await etcd.start();
  const up = await startUpstream('late');
  const client = createEtcdClient([endpoint]);
  after(() => client.close());
  const doc = validateDocument(singleRouteDoc(up.url));
  assert.ok(doc.ok);
  const { version } = (await new ConfigWriter(client, new Keys()).write(doc.config, { author: 'test', source: 'api', message: 'late' })).version;

  await waitFor('proxy ready', async () => (await fetch(`${proxy.admin}/readyz`)).ok, 30_000);
  // Ready may come first on the empty state etcd had when it came up; then the write arrives.
  await waitFor(`version ${version} applied`, async () => (await proxy.status()).version === version);
  assert.equal(await (await fetch(`${proxy.url}/anything`)).text(), 'late');
});
