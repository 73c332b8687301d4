// Global policies through the whole system (real etcd, control plane and proxy processes, a real
// upstream): they run on every route, before the route's own, and a request they answer never
// reaches the upstream; the field goes through GET /config, export and apply, history diffs and
// rollback; a policy they use cannot be deleted.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { startTestEtcd } from '../helpers/etcd.js';
import { callApi, runCli, startControlPlaneProcess, startProxyProcess, waitFor, writeDoc, type ProxyProcess, type Stack } from '../helpers/processes.js';
import { startUpstream, type Upstream } from '../helpers/upstreams.js';

const KEY = 'k3y-of-alice-5d1e0a7c93b2';

describe('globalPolicies end to end', () => {
  let stack: Stack;
  let proxy: ProxyProcess;
  let up: Upstream;
  let doc: Record<string, unknown>;
  const cli = (args: string[]) => runCli(args, stack.env);
  const api = (method: string, path: string, body?: unknown) => callApi(stack, method, path, body);
  // The global rate limit is keyed by x-client with a burst of 1 and no refill to speak of: each
  // client gets exactly one request through it.
  const get = async (path: string, client: string, headers: Record<string, string> = {}) => (await fetch(`${proxy.url}${path}`, { headers: { 'x-client': client, ...headers } })).status;
  const liveVersion = async () => (JSON.parse((await cli(['history', '-o', 'json'])).stdout) as { versions: { version: number }[] }).versions[0]!.version;
  const proxyAt = (version: number) => waitFor(`proxy on version ${version}`, async () => (await proxy.status()).version === version);

  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
    up = await startUpstream('up');
    doc = {
      upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
      routes: [
        { id: 'open', match: { paths: ['/open/*'] }, upstream: 'u' },
        // Lists the global policy again: it still runs once, at its global place.
        { id: 'keyed', match: { paths: ['/keyed/*'] }, upstream: 'u', policies: ['keys', 'gate'] },
      ],
      policies: [
        { id: 'gate', type: 'rate-limit', requestsPerSecond: 0.001, burst: 1, key: 'header:x-client' },
        { id: 'keys', type: 'key-auth' },
      ],
      consumers: [{ id: 'alice', keys: [KEY] }],
      globalPolicies: ['gate'],
    };
    const applied = await cli(['apply', '-f', await writeDoc(stack.dir, 'global.json', doc)]);
    assert.equal(applied.code, 0, applied.stderr);
    proxy = await startProxyProcess(etcd.endpoint);
    await proxyAt(1);
  });

  it('runs on every route, before the route\'s own policies, once; what it answers never reaches the upstream', async () => {
    // A route without policies of its own.
    assert.equal(await get('/open/1', 'a'), 200);
    assert.equal(await get('/open/2', 'a'), 429);
    // The global rate limit lets the first request on, and the route's key-auth answers it.
    assert.equal(await get('/keyed/1', 'b'), 401);
    // The second: 429, not key-auth's 401, so the global policy ran first.
    assert.equal(await get('/keyed/2', 'b'), 429);
    // With a key: through (with a burst of 1, a second run of the rate limit would have refused it) ...
    assert.equal(await get('/keyed/3', 'c', { 'x-api-key': KEY }), 200);
    // ... and a known key does not get past the global policy.
    assert.equal(await get('/keyed/4', 'c', { 'x-api-key': KEY }), 429);
    assert.deepEqual(up.seen, ['/open/1', '/keyed/3']);
  });

  it('GET /config and export show it; export applies back unchanged', async () => {
    const config = JSON.parse((await api('GET', '/config')).text) as Record<string, unknown>;
    assert.deepEqual(config.globalPolicies, ['gate']);
    assert.equal('settings' in config, false);
    const file = join(stack.dir, 'exported.yaml');
    assert.equal((await cli(['export', '--file', file])).code, 0);
    const exported = await cli(['export']);
    assert.match(exported.stdout, /^globalPolicies: \[gate\]$/m);
    const again = await cli(['apply', '-f', file]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, `unchanged: version ${await liveVersion()}\n`);
  });

  it('an unknown or repeated id is refused with its path, and nothing changes', async () => {
    const before = await liveVersion();
    const bad = await api('PUT', '/config', { ...doc, globalPolicies: ['gate', 'nope', 'gate'] });
    assert.equal(bad.status, 400);
    const details = (JSON.parse(bad.text) as { details: { path: string; message: string }[] }).details;
    assert.deepEqual(details.map(({ path, message }) => ({ path, message })), [
      { path: 'globalPolicies[2]', message: 'duplicate policy "gate" (also globalPolicies[0])' },
      { path: 'globalPolicies[1]', message: 'unknown policy "nope"' },
    ]);
    assert.equal(await liveVersion(), before);
  });

  it('deleting a policy it uses is refused (409), naming it', async () => {
    const res = await api('DELETE', '/policies/gate');
    assert.equal(res.status, 409, res.text);
    const body = JSON.parse(res.text) as { error: string; details: { path: string; message: string }[] };
    assert.match(body.error, /^policies\/gate is used by globalPolicies and route keyed; change or delete them first$/);
    assert.deepEqual(body.details[0], { path: 'globalPolicies[0]', message: 'globalPolicies uses policies/gate' });
    assert.equal((await api('GET', '/policies/gate')).status, 200);
  });

  it('a change shows in the history diff as "~ globalPolicies"; rollback restores it, and the proxy follows both', async () => {
    const v1 = await liveVersion();
    const without = { ...doc };
    delete without.globalPolicies;
    const applied = await cli(['apply', '-f', await writeDoc(stack.dir, 'without.json', without)]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /^~ globalPolicies$/m);
    const v2 = await liveVersion();
    await proxyAt(v2);
    // Client "a" used its one request on /open: without the global policy, /open lets it through.
    assert.equal(await get('/open/3', 'a'), 200);
    assert.equal('globalPolicies' in (JSON.parse((await api('GET', '/config')).text) as object), false);

    const diff = await cli(['history', '--diff', String(v1), String(v2)]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.equal(diff.stdout, `~ globalPolicies\n1 change(s) from version ${v1} to version ${v2}\n`);

    const back = await cli(['rollback', String(v1)]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /^~ globalPolicies$/m);
    const v3 = await liveVersion();
    assert.equal(v3, v2 + 1);
    await proxyAt(v3);
    assert.deepEqual((JSON.parse((await api('GET', '/config')).text) as { globalPolicies?: string[] }).globalPolicies, ['gate']);
    // The rate limit itself never changed, so its buckets survived both swaps: "a" is still out.
    assert.equal(await get('/open/4', 'a'), 429);
    assert.equal(await get('/open/5', 'd'), 200);
  });
});
