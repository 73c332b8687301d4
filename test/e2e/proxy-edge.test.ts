// The edge rules through a real proxy process reading its config from a real etcd: path
// normalization, CONNECT, and --trusted-proxies / SIGNALBOX_TRUSTED_PROXIES for X-Forwarded-*.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { rawRequest } from '../helpers/data-plane.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { runCli, startProxyProcess } from '../helpers/processes.js';
import { startUpstream } from '../helpers/upstreams.js';

it('a proxy process normalizes paths, refuses CONNECT, and keeps X-Forwarded-* only from trusted peers', async () => {
  const etcd = await startTestEtcd();
  const echo = await startUpstream('echo', (req, res) => {
    res.end(JSON.stringify({ url: req.url, xff: req.headers['x-forwarded-for'], proto: req.headers['x-forwarded-proto'] }));
    return true;
  });
  const client = createEtcdClient([etcd.endpoint]);
  atFileEnd(() => client.close());
  const doc = validateDocument({
    upstreams: [{ id: 'echo', targets: [{ url: echo.url }] }],
    routes: [
      { id: 'public', match: { paths: ['/public/*'] }, upstream: 'echo' },
      { id: 'admin', match: { paths: ['/admin/*'], headers: { 'x-admin-key': 'secret' } }, upstream: 'echo' },
    ],
  });
  assert.ok(doc.ok);
  await new ConfigWriter(client, new Keys()).write(doc.config, { author: 'test', source: 'api', message: 'edge' });

  const plain = await startProxyProcess(etcd.endpoint);
  const byFlag = await startProxyProcess(etcd.endpoint, { args: ['--trusted-proxies', '10.0.0.0/8,127.0.0.1'] });
  const byEnv = await startProxyProcess(etcd.endpoint, { env: { SIGNALBOX_TRUSTED_PROXIES: '127.0.0.0/8' } });

  // Raw bytes: fetch would resolve the dot segments itself (WHATWG URL) before sending.
  const bypass = await rawRequest(plain.url, 'GET /public/%2e%2e/admin/x HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal(bypass.status, 404);
  const normal = await rawRequest(plain.url, 'GET /public/%2e%2e/public/x?y=.. HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal((JSON.parse(normal.body) as { url: string }).url, '/public/x?y=..');
  const connect = await rawRequest(plain.url, 'CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n');
  assert.equal(connect.status, 405);

  const headers = { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'https' };
  const seen = async (url: string) => (await (await fetch(`${url}/public/x`, { headers })).json()) as { xff: string; proto: string };
  assert.deepEqual(await seen(plain.url), { url: '/public/x', xff: '127.0.0.1', proto: 'http' });
  assert.deepEqual(await seen(byFlag.url), { url: '/public/x', xff: '203.0.113.5, 127.0.0.1', proto: 'https' });
  assert.deepEqual(await seen(byEnv.url), { url: '/public/x', xff: '203.0.113.5, 127.0.0.1', proto: 'https' });
  assert.deepEqual(echo.seen, ['/public/x?y=..', '/public/x', '/public/x', '/public/x']);
});

it('refuses a --trusted-proxies entry that is no address or CIDR, naming it (exit 2)', async () => {
  const r = await runCli(['proxy', '--etcd', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--trusted-proxies', '10.0.0.0/8,10.0.0.0/33']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /--trusted-proxies: "10\.0\.0\.0\/33" is not an IP address or CIDR/);
});
