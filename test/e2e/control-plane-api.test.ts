// The control plane's REST API against a real etcd, as a separate process: auth, whole-config
// writes with ETag/If-Match, per-object edits, errors in the contract's shape, versions, rollback.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { startTestEtcd } from '../helpers/etcd.js';
import { startControlPlaneProcess, type Stack } from '../helpers/processes.js';
import { singleRouteDoc } from '../helpers/upstreams.js';
import { CERT_A, KEY_A } from '../unit/tls-fixtures.js';

interface ApiError {
  error: string;
  details?: { path: string; message: string; line?: number }[];
}

describe('control plane REST API', () => {
  let stack: Stack;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${stack.api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, etag: res.headers.get('etag'), body: (await res.json()) as Record<string, unknown> & ApiError };
  };
  const versions = async () => ((await call('GET', '/versions')).body.versions as { version: number }[]).map((v) => v.version);

  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
  });

  it('refuses requests without the bearer token, or with a wrong one', async () => {
    const none = await fetch(`${stack.api}/api/v1/config`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.deepEqual(await none.json(), { error: 'missing bearer token' });
    const wrong = await call('GET', '/config', undefined, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid token');
  });

  it('PUT /config with an invalid document: 400 listing every problem with its path; nothing written', async () => {
    const doc = 'upstreams:\n  - id: users\n    targets: [{ url: "ftp://x" }]\nroutes:\n  - id: r\n    match: { paths: ["/u"] }\n    upstream: usrs\n';
    const r = await call('PUT', '/config', doc, { 'content-type': 'application/yaml' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid config');
    const byPath = new Map(r.body.details!.map((d) => [d.path, d]));
    assert.match(byPath.get('routes[0].upstream')!.message, /unknown upstream "usrs"/);
    assert.equal(byPath.get('routes[0].upstream')!.line, 7);
    assert.ok(byPath.has('upstreams[0].targets[0].url'), JSON.stringify(r.body.details));
    assert.deepEqual(await versions(), []);
  });

  it('PUT /config writes version 1 with its ETag; a stale If-Match gets 409 and writes nothing', async () => {
    const r = await call('PUT', '/config', singleRouteDoc('http://127.0.0.1:9'), { 'x-signalbox-message': 'first%20config' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.etag, '"1"');
    assert.deepEqual(r.body.changes, [
      { kind: 'upstreams', id: 'svc', op: 'add' },
      { kind: 'routes', id: 'all', op: 'add' },
    ]);
    const get = await call('GET', '/config');
    assert.equal(get.etag, '"1"');
    assert.deepEqual((get.body.routes as { id: string }[]).map((x) => x.id), ['all']);

    const stale = await call('PUT', '/config', singleRouteDoc('http://127.0.0.1:10'), { 'if-match': '"0"' });
    assert.equal(stale.status, 409);
    assert.match(stale.body.error, /expected version 0, live version is 1/);
    assert.deepEqual(await versions(), [1]);
    const info = await call('GET', '/versions/1');
    assert.equal((info.body.version as { message: string }).message, 'first config');
  });

  it('PUT and DELETE of one object write a new version each; references are checked', async () => {
    const route = { id: 'users', match: { paths: ['/users/*'], methods: ['GET'] }, upstream: 'svc' };
    const put = await call('PUT', '/routes/users', route);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.etag, '"2"');
    assert.deepEqual((await call('GET', '/routes/users')).body, route);

    const dangling = await call('PUT', '/routes/orders', { id: 'orders', match: { paths: ['/o'] }, upstream: 'nope' });
    assert.equal(dangling.status, 400);
    assert.ok(dangling.body.details!.some((d) => /^routes\[\d+\]\.upstream$/.test(d.path) && /unknown upstream "nope"/.test(d.message)));
    const typo = await call('PUT', '/routes/orders', { id: 'orders', match: { paths: ['/o'] }, upstream: 'svc', retry: 2 });
    assert.equal(typo.status, 400);
    assert.deepEqual(typo.body.details, [{ path: 'retry', message: 'unknown field' }]);
    const mismatch = await call('PUT', '/routes/orders', { ...route, id: 'other' });
    assert.equal(mismatch.status, 400);

    assert.equal((await call('DELETE', '/routes/users')).status, 200);
    assert.equal((await call('DELETE', '/routes/users')).status, 404);
    assert.equal((await call('GET', '/widgets')).status, 404);
    assert.deepEqual(await versions(), [3, 2, 1]);
  });

  it('POST /config/validate says what would change without writing; POST /rollback writes an old config anew', async () => {
    const check = await call('POST', '/config/validate', singleRouteDoc('http://127.0.0.1:9', { routes: [] }));
    assert.equal(check.body.valid, true);
    assert.equal(check.body.liveVersion, 3);
    assert.deepEqual(check.body.changes, [{ kind: 'routes', id: 'all', op: 'remove' }]);
    assert.deepEqual(await versions(), [3, 2, 1]);

    const rb = await call('POST', '/rollback', { version: 2 });
    assert.equal(rb.status, 200, JSON.stringify(rb.body));
    assert.equal(rb.etag, '"4"');
    assert.deepEqual((await call('GET', '/config')).body, (await call('GET', '/versions/2')).body.config);
    assert.equal((await call('POST', '/rollback', { version: 99 })).status, 404);
  });

  it('GET /versions/:a/diff/:b lists each object changed between two versions, before and after', async () => {
    const d = await call('GET', '/versions/1/diff/2');
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.equal((d.body.from as { version: number }).version, 1);
    assert.equal((d.body.to as { version: number }).version, 2);
    const route = { id: 'users', match: { paths: ['/users/*'], methods: ['GET'] }, upstream: 'svc' };
    assert.deepEqual(d.body.changes, [{ kind: 'routes', id: 'users', op: 'add', after: route }]);
    const back = await call('GET', '/versions/2/diff/1');
    assert.deepEqual(back.body.changes, [{ kind: 'routes', id: 'users', op: 'remove', before: route }]);
    assert.equal((await call('GET', '/versions/1/diff/99')).status, 404);
  });

  it('PATCH merges into one object (null removes a field); the result is validated whole', async () => {
    const route = { id: 'users', match: { paths: ['/users/*'], methods: ['GET'] }, upstream: 'svc' };
    assert.equal((await call('PUT', '/routes/users', route)).status, 200);
    const patched = await call('PATCH', '/routes/users', { match: { methods: null, hosts: ['api.example.test'] } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.changes, [{ kind: 'routes', id: 'users', op: 'change' }]);
    assert.deepEqual((await call('GET', '/routes/users')).body, { ...route, match: { paths: ['/users/*'], hosts: ['api.example.test'] } });

    const dangling = await call('PATCH', '/routes/users', { upstream: 'nope' });
    assert.equal(dangling.status, 400);
    assert.ok(dangling.body.details!.some((d) => /unknown upstream "nope"/.test(d.message)), JSON.stringify(dangling.body));
    const renamed = await call('PATCH', '/routes/users', { id: 'other' });
    assert.equal(renamed.status, 400);
    assert.equal((await call('PATCH', '/routes/users', [1])).status, 400);
    assert.equal((await call('PATCH', '/routes/ghost', { upstream: 'svc' })).status, 404);
    assert.equal((await call('DELETE', '/routes/users')).status, 200);
  });

  it('DELETE of an upstream or policy a route uses: 409 naming the routes; nothing written', async () => {
    const before = await versions();
    const r = await call('DELETE', '/upstreams/svc');
    assert.equal(r.status, 409);
    assert.match(r.body.error, /upstreams\/svc is used by route all\b/);
    assert.deepEqual(r.body.details, [{ path: 'routes[0].upstream', message: 'route "all" uses upstreams/svc' }]);
    assert.deepEqual(await versions(), before);
  });

  it('DELETE of a certificate an upstream presents to its targets: 409 naming the upstream; nothing written', async () => {
    assert.equal((await call('PUT', '/certificates/client', { id: 'client', snis: [], cert: CERT_A, key: KEY_A })).status, 200);
    const secure = { id: 'secure', targets: [{ url: 'https://127.0.0.1:9443' }], tls: { clientCertificate: 'client' } };
    assert.equal((await call('PUT', '/upstreams/secure', secure)).status, 200);
    const before = await versions();
    const r = await call('DELETE', '/certificates/client');
    assert.equal(r.status, 409);
    assert.equal(r.body.error, 'certificates/client is used by upstream secure; change or delete it first');
    assert.deepEqual(r.body.details, [{ path: 'upstreams[0].tls.clientCertificate', message: 'upstream "secure" uses certificates/client' }]);
    assert.deepEqual(await versions(), before);
    assert.equal((await call('DELETE', '/upstreams/secure')).status, 200);
    assert.equal((await call('DELETE', '/certificates/client')).status, 200);
  });

  it('DELETE of an upstream a route only splits to: 409 naming the split arm', async () => {
    assert.equal((await call('PUT', '/upstreams/canary', { id: 'canary', targets: [] })).status, 200);
    const route = { id: 'split', match: { paths: ['/split/*'] }, split: [{ upstream: 'svc', weight: 9 }, { upstream: 'canary', weight: 1 }] };
    const put = await call('PUT', '/routes/split', route);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const before = await versions();
    const r = await call('DELETE', '/upstreams/canary');
    assert.equal(r.status, 409);
    assert.match(r.body.error, /upstreams\/canary is used by route split\b/);
    assert.deepEqual(r.body.details, [{ path: 'routes[1].split[1].upstream', message: 'route "split" uses upstreams/canary' }]);
    assert.deepEqual(await versions(), before);
    assert.equal((await call('DELETE', '/routes/split')).status, 200);
    assert.equal((await call('DELETE', '/upstreams/canary')).status, 200);
  });

  it('GET /openapi.json describes the API', async () => {
    const spec = (await call('GET', '/openapi.json')).body as unknown as { openapi: string; paths: Record<string, unknown> };
    assert.match(spec.openapi, /^3\./);
    for (const p of ['/config', '/config/validate', '/versions', '/rollback', '/proxies']) assert.ok(p in spec.paths, p);
  });
});
