// A route's policies run in order, and one that answers stops the chain: a real proxy process
// reading its config from a real etcd, behind a trusted proxy, three filters in two orders.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/processes.js';
import { startUpstream, type Upstream } from '../helpers/upstreams.js';

const APP = 'https://app.example.com';

describe('policy chain through etcd', { timeout: 60_000 }, () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    const etcd = await startTestEtcd();
    up = await startUpstream('up', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.headers));
      return true;
    });
    const doc = validateDocument({
      upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
      routes: [
        { id: 'filter-first', match: { paths: ['/a/*'] }, upstream: 'u', policies: ['office', 'cors-app', 'hdrs'] },
        { id: 'cors-first', match: { paths: ['/b/*'] }, upstream: 'u', policies: ['cors-app', 'office', 'hdrs'] },
      ],
      policies: [
        { id: 'office', type: 'ip-filter', allow: ['10.0.0.0/8'] },
        { id: 'cors-app', type: 'cors', origins: [APP], credentials: true },
        { id: 'hdrs', type: 'headers', request: { set: { 'x-route': '$route', 'x-client': '$clientIp' } }, response: { set: { 'x-served-by': 'signalbox' } } },
      ],
    });
    assert.ok(doc.ok, JSON.stringify(!doc.ok && doc.issues));
    const client = createEtcdClient([etcd.endpoint]);
    after(() => client.close());
    await new ConfigWriter(client, new Keys()).write(doc.config, { author: 'test', source: 'api', message: 'filters' });
    proxy = await startProxyProcess(etcd.endpoint, { args: ['--trusted-proxies', '127.0.0.1'] });
  });

  const from = (client: string) => ({ origin: APP, 'x-forwarded-for': client });

  it('allowed through all three: CORS headers on the answer, the headers policy both ways', async () => {
    for (const path of ['/a/1', '/b/1']) {
      const r = await fetch(`${proxy.url}${path}`, { headers: from('10.1.2.3') });
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('access-control-allow-origin'), APP, path);
      assert.equal(r.headers.get('x-served-by'), 'signalbox', path);
      const seen = (await r.json()) as Record<string, string>;
      assert.equal(seen['x-route'], path === '/a/1' ? 'filter-first' : 'cors-first');
      assert.equal(seen['x-client'], '10.1.2.3', 'the client the trusted proxy named');
    }
  });

  it('ip-filter before cors: its 403 stops the chain, so no CORS headers and no header changes', async () => {
    const r = await fetch(`${proxy.url}/a/2`, { headers: from('203.0.113.9') });
    assert.equal(r.status, 403);
    assert.deepEqual(await r.json(), { error: 'forbidden' });
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    assert.equal(r.headers.get('x-served-by'), null);
  });

  it('cors before ip-filter: the 403 carries the CORS headers (the page can read it); headers after it never ran', async () => {
    const r = await fetch(`${proxy.url}/b/2`, { headers: from('203.0.113.9') });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('access-control-allow-origin'), APP);
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(r.headers.get('vary'), 'Origin');
    assert.equal(r.headers.get('x-served-by'), null);
  });

  it('a preflight from a refused address is still answered by cors (it carries nothing to filter on)', async () => {
    const r = await fetch(`${proxy.url}/a/3`, { method: 'OPTIONS', headers: { ...from('203.0.113.9'), 'access-control-request-method': 'PUT' } });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), APP);
  });

  it('the refused requests and the preflight never reached the upstream', () => {
    assert.deepEqual(up.seen, ['/a/1', '/b/1']);
  });
});
