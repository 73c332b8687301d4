// --cache-dir: a proxy restarted while etcd is down serves its last good config from disk, and
// goes back to etcd's config as soon as etcd answers.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { startProxyProcess, waitFor } from '../helpers/processes.js';
import { singleRouteDoc, startUpstream } from '../helpers/upstreams.js';
import { atFileEnd } from '../helpers/cleanup.js';

it('a proxy with --cache-dir starts from its cached config while etcd is down, then follows etcd again', async () => {
  const etcd = await startTestEtcd();
  const [a, b] = [await startUpstream('a'), await startUpstream('b')];
  const client = createEtcdClient([etcd.endpoint]);
  atFileEnd(() => client.close());
  const writer = new ConfigWriter(client, new Keys());
  const write = async (url: string) => {
    const doc = validateDocument(singleRouteDoc(url));
    assert.ok(doc.ok);
    return (await writer.write(doc.config, { author: 'test', source: 'api', message: url })).version.version;
  };
  const cacheDir = await mkdtemp(join(tmpdir(), 'signalbox-cache-'));
  const args = ['--cache-dir', cacheDir];

  await write(a.url);
  const first = await startProxyProcess(etcd.endpoint, { args });
  assert.equal(await (await fetch(`${first.url}/x`)).text(), 'a');
  assert.equal((await first.status()).configSource, 'etcd');
  await first.stop();

  await etcd.kill();
  const second = await startProxyProcess(etcd.endpoint, { args });
  const s = await second.status();
  assert.equal(s.configSource, 'cache');
  assert.equal(s.etcd, 'disconnected');
  assert.equal(s.version, 1);
  assert.equal(await (await fetch(`${second.url}/x`)).text(), 'a', 'serves the cached config while etcd is down');

  await etcd.start();
  const v2 = await write(b.url);
  await waitFor('the proxy on etcd\'s config again', async () => {
    const st = await second.status();
    return st.configSource === 'etcd' && st.version === v2;
  }, 30_000);
  assert.equal(await (await fetch(`${second.url}/x`)).text(), 'b');
});

it('a cache that is not usable is ignored: the proxy waits for etcd as it would without one', async () => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'signalbox-cache-'));
  await writeFile(join(cacheDir, 'last-good-config.json'), '{"format": 1, "prefix": "/other", "entries": {}}');
  const proxy = await startProxyProcess('http://127.0.0.1:1', { args: ['--cache-dir', cacheDir], waitReady: false });
  await waitFor('the log line about the cache', () => /written for prefix \/other/.test(proxy.output()) || undefined, 10_000);
  assert.equal((await fetch(`${proxy.admin}/readyz`)).status, 503);
});
