// --cache-dir: a proxy restarted while etcd is down serves its last good config from disk, and
// goes back to etcd's config as soon as etcd answers.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { spawnSignalbox, startProxyProcess, waitFor } from '../helpers/processes.js';
import { singleRouteDoc, startUpstream } from '../helpers/upstreams.js';
import { atFileEnd } from '../helpers/cleanup.js';

// With workers, the primary's watch is the one that comes back (relayed-watch.ts).
for (const workers of [1, 2]) it(`a proxy${workers > 1 ? ` with --workers ${workers}` : ''} with --cache-dir starts from its cached config while etcd is down, then follows etcd again`, async () => {
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
  const args = ['--cache-dir', cacheDir, '--workers', String(workers)];

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
  const file = join(cacheDir, 'last-good-config.json');
  const cached = { format: 1, prefix: '/other', savedAt: '2026-01-01T00:00:00Z', revision: 5, version: null, versionExact: false, entries: {} };
  await writeFile(file, JSON.stringify(cached), { mode: 0o600 });
  const proxy = await startProxyProcess('http://127.0.0.1:1', { args: ['--cache-dir', cacheDir], waitReady: false });
  await waitFor('the log line about the cache', () => /written for prefix \/other/.test(proxy.output()) || undefined, 10_000);
  assert.equal((await fetch(`${proxy.admin}/readyz`)).status, 503);
  await proxy.stop();

  // A file of the wrong shape is named by its field.
  await writeFile(file, JSON.stringify({ ...cached, prefix: '/signalbox', revision: 'five' }));
  const again = await startProxyProcess('http://127.0.0.1:1', { args: ['--cache-dir', cacheDir], waitReady: false });
  await waitFor('the log line naming the bad field', () => /"err":"revision: [^"]*number[^"]*".*config cache is not usable/.test(again.output()) || undefined, 10_000);
  assert.equal((await fetch(`${again.admin}/readyz`)).status, 503);
});

it('the cache holds TLS keys: its folder is created 0700 and its file 0600', async () => {
  const etcd = await startTestEtcd();
  const up = await startUpstream('a');
  const client = createEtcdClient([etcd.endpoint]);
  atFileEnd(() => client.close());
  const doc = validateDocument(singleRouteDoc(up.url));
  assert.ok(doc.ok);
  await new ConfigWriter(client, new Keys()).write(doc.config, { author: 'test', source: 'api', message: 'cached' });

  const cacheDir = join(await mkdtemp(join(tmpdir(), 'signalbox-cache-')), 'new', 'cache');
  const proxy = await startProxyProcess(etcd.endpoint, { args: ['--cache-dir', cacheDir] });
  const file = join(cacheDir, 'last-good-config.json');
  await waitFor('the cache file', () => stat(file).then(() => true), 10_000);
  await proxy.stop();
  assert.equal((await stat(cacheDir)).mode & 0o777, 0o700, 'folder mode');
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'file mode');
});

/** `signalbox proxy --cache-dir dir` to its exit (bounded): it must refuse before it listens. */
async function refusedStart(cacheDir: string): Promise<{ code: number | null; output: string }> {
  const p = spawnSignalbox(['proxy', '--etcd', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--cache-dir', cacheDir]);
  await waitFor(() => `the proxy to exit (${p.output()})`, () => p.proc.exitCode !== null, 10_000);
  return { code: p.proc.exitCode, output: p.output() };
}

it('a proxy refuses to start, exit 1 with one line naming the fix, when the cache file or folder is open to others', async () => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'signalbox-cache-'));
  const file = join(cacheDir, 'last-good-config.json');
  await writeFile(file, '{}');
  await chmod(file, 0o644);
  const fileOpen = await refusedStart(cacheDir);
  assert.equal(fileOpen.code, 1);
  assert.equal(
    fileOpen.output,
    `signalbox: proxy: --cache-dir: the cache file ${file} is open to other users (mode 0644) and holds TLS private keys; ` +
      `run "chmod 600 ${file}" (and replace the certificates' keys if others may have read them)\n`,
  );

  await chmod(file, 0o600);
  const folder = join(cacheDir, 'shared');
  await mkdir(folder);
  await chmod(folder, 0o755);
  const folderOpen = await refusedStart(folder);
  assert.equal(folderOpen.code, 1);
  assert.match(folderOpen.output, new RegExp(`the cache folder ${folder} is open to other users \\(mode 0755\\).*run "chmod 700 ${folder}"`));
});
