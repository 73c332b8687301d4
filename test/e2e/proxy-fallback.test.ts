// One garbage key in etcd must not keep new or restarted proxies from serving: a starting proxy
// that finds the live state invalid serves the newest valid committed version, says why, and
// applies the next valid revision as usual.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { ProxyRegistry } from '../../src/store/proxy-registry.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { startProxyProcess, waitFor } from '../helpers/processes.js';
import { singleRouteDoc, startUpstream } from '../helpers/upstreams.js';

const keys = new Keys();
const GARBAGE_KEY = '/signalbox/config/routes/bad';

async function setup() {
  const etcd = await startTestEtcd();
  const client = createEtcdClient([etcd.endpoint]);
  atFileEnd(() => client.close());
  const writer = new ConfigWriter(client, keys);
  const write = async (url: string) => {
    const doc = validateDocument(singleRouteDoc(url));
    assert.ok(doc.ok);
    return (await writer.write(doc.config, { author: 'test', source: 'api', message: url })).version.version;
  };
  // What `etcdctl put /signalbox/config/routes/bad '{not json'` does.
  const putGarbage = () => client.put(GARBAGE_KEY).value('{not json');
  return { etcd, client, write, putGarbage };
}

it('a proxy started after a garbage key was put serves the last valid version from history, says why, then applies a valid write', async () => {
  const { etcd, client, write, putGarbage } = await setup();
  const [a, b] = [await startUpstream('a'), await startUpstream('b')];
  const v1 = await write(a.url);
  await putGarbage();

  const proxy = await startProxyProcess(etcd.endpoint, { id: 'late-proxy' });
  assert.equal(await (await fetch(`${proxy.url}/x`)).text(), 'a', 'serves version 1');
  const s = await proxy.status();
  assert.equal(s.version, v1);
  assert.equal(s.configSource, 'history');
  assert.equal(s.ready, true);
  assert.ok(s.lastError, 'the refused live state is reported');
  assert.match(s.lastError.errors.join('\n'), new RegExp(`${GARBAGE_KEY}.*not JSON`));

  // The fleet view (the registry entry the control plane lists) says the same.
  const listed = await waitFor('the registry entry of late-proxy', async () => {
    const entry = (await ProxyRegistry.list(client, keys)).find((p) => p.id === 'late-proxy');
    return (entry?.status as { configSource?: string } | undefined)?.configSource === 'history' ? entry : undefined;
  });
  const fleet = listed.status as { version: number; lastError: { errors: string[] } };
  assert.equal(fleet.version, v1);
  assert.match(fleet.lastError.errors.join('\n'), new RegExp(GARBAGE_KEY));

  // The proxy kept watching: the next valid version (the writer removes the stray key) applies.
  const v2 = await write(b.url);
  await waitFor('version 2 applied from etcd', async () => {
    const st = await proxy.status();
    return st.version === v2 && st.configSource === 'etcd' && st.lastError === null;
  });
  assert.equal(await (await fetch(`${proxy.url}/x`)).text(), 'b');
});

it('without a usable history entry, a starting proxy serves its disk cache and still reports the bad key', async () => {
  const { etcd, client, write, putGarbage } = await setup();
  const a = await startUpstream('a');
  const v1 = await write(a.url);
  const args = ['--cache-dir', await mkdtemp(join(tmpdir(), 'signalbox-cache-'))];
  const first = await startProxyProcess(etcd.endpoint, { args });
  await waitFor('the config cached', async () => (await first.status()).configSource === 'etcd');
  await first.stop();

  await putGarbage();
  await client.delete().key(keys.history(v1));
  const second = await startProxyProcess(etcd.endpoint, { args });
  const s = await second.status();
  assert.equal(s.configSource, 'cache');
  assert.equal(s.version, v1);
  assert.equal(s.etcd, 'connected');
  assert.match(s.lastError!.errors.join('\n'), new RegExp(GARBAGE_KEY));
  assert.equal(await (await fetch(`${second.url}/x`)).text(), 'a');
});
