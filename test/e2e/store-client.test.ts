// The etcd client: endpoint lists, and a restarted etcd used again promptly (etcd3's default
// circuit breaker keeps refusing calls for 5 s and more after etcd is back).
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { createEtcdClient } from '../../src/store/client.js';
import { parseEndpoints } from '../../src/store/etcd-access.js';
import { freePort } from '../../src/util/ports.js';
import { startTestEtcd } from '../helpers/etcd.js';

test('endpoints: comma-separated string or list, scheme added when missing', () => {
  assert.deepEqual(parseEndpoints('http://a:2379,http://b:2379'), ['http://a:2379', 'http://b:2379']);
  assert.deepEqual(parseEndpoints(['http://a:2379', ' b:2379 ']), ['http://a:2379', 'http://b:2379']);
  assert.throws(() => parseEndpoints(' , '), /no etcd endpoint/);
});

test('a restarted etcd is used again within 2 s by a caller that kept retrying while it was down', async (t) => {
  const etcd = await startTestEtcd();
  const client = createEtcdClient(etcd.endpoint);
  after(() => client.close());
  await client.put('/client-test/k').value('1');
  await etcd.kill();

  // A caller retrying every 100 ms, as the proxy and control plane do: its failures open the
  // circuit breaker, and keep it open, while etcd is down.
  let failures = 0;
  let stopped = false;
  let firstSuccess = 0;
  const caller = (async () => {
    while (!stopped) {
      const ok = await client.get('/client-test/k').string().then((v) => v === '1', () => false);
      if (ok) {
        firstSuccess = performance.now();
        return;
      }
      failures++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await new Promise((r) => setTimeout(r, 1_500));
  await etcd.start(); // resolves once etcd answers its health check
  const healthy = performance.now();
  const limit = new Promise((r) => setTimeout(r, 2_000));
  await Promise.race([caller, limit]);
  stopped = true;
  await caller;
  assert.ok(failures >= 5, `${failures} failed calls while etcd was down`);
  assert.ok(firstSuccess > 0 && firstSuccess - healthy <= 2_000, 'etcd was not used again within 2 s of its restart');
  t.diagnostic(`first successful call ${Math.max(0, Math.round(firstSuccess - healthy))} ms after etcd was healthy again (${failures} failures before)`);
});

test('with several endpoints, calls succeed while one of them is down', async () => {
  const etcd = await startTestEtcd();
  const dead = await freePort(); // nothing listens there
  const client = createEtcdClient(`http://127.0.0.1:${dead},${etcd.endpoint}`);
  after(() => client.close());
  for (let i = 0; i < 20; i++) await client.put(`/multi/k${i}`).value(String(i));
  assert.equal(await client.get('/multi/k19').string(), '19');
});

test('a call to an endpoint that accepts TCP but never answers fails at the call deadline', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => sockets.add(s)); // accepts, never speaks HTTP/2
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  const client = createEtcdClient(`http://127.0.0.1:${port}`, { callTimeoutMs: 300 });
  after(async () => {
    client.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });
  await assert.rejects(client.get('x').string(), (err: Error) => /deadline/i.test(err.message));
});
