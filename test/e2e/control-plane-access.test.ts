// Who may do what on the control plane, and what never leaves it: tokens with roles stored hashed
// in etcd, each write's author, and certificates' private keys. Real etcd, real control plane.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { after, before, describe, it } from 'node:test';
import { createEtcdClient } from '../../src/store/client.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { startControlPlaneProcess, waitFor, type Stack } from '../helpers/processes.js';
import { singleRouteDoc } from '../helpers/upstreams.js';
import { CERT_A, CERT_B, KEY_A, KEY_B } from '../unit/tls-fixtures.js';

type Body = Record<string, unknown> & { error?: string };

describe('control plane tokens, roles and secrets', () => {
  let stack: Stack;
  let etcd: Etcd3;
  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const admin = (method: string, path: string, body?: unknown) => call(stack.token, method, path, body);
  const createToken = async (role: string, name?: string) => {
    const r = await admin('POST', '/tokens', { role, ...(name ? { name } : {}) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as { name: string; role: string; token: string };
  };

  before(async () => {
    const server = await startTestEtcd();
    stack = await startControlPlaneProcess(server.endpoint);
    etcd = createEtcdClient([server.endpoint]);
  });
  after(() => etcd.close());

  it('a created token is shown once, stored only as its sha256, and listed without secrets', async () => {
    const created = await createToken('viewer', 'dash-reader');
    assert.match(created.token, /^sbx_/);
    assert.equal(created.role, 'viewer');
    const stored = await etcd.getAll().prefix(`${stack.prefix}/tokens/`).strings();
    assert.deepEqual(Object.keys(stored), [`${stack.prefix}/tokens/dash-reader`]);
    const record = Object.values(stored)[0]!;
    assert.ok(!record.includes(created.token), 'the secret itself is not in etcd');
    assert.equal(JSON.parse(record).sha256, createHash('sha256').update(created.token).digest('hex'));

    const list = await admin('GET', '/tokens');
    assert.deepEqual(
      (list.body.tokens as Body[]).map(({ name, role, createdBy }) => ({ name, role, createdBy })),
      [{ name: 'dash-reader', role: 'viewer', createdBy: 'admin' }],
    );
    assert.ok(!JSON.stringify(list.body).includes(created.token) && !JSON.stringify(list.body).includes('sha256'));
    assert.equal((await admin('POST', '/tokens', { role: 'viewer', name: 'dash-reader' })).status, 409);
    const bad = await admin('POST', '/tokens', { role: 'root', name: 'Bad Name' });
    assert.equal(bad.status, 400);
    assert.deepEqual((bad.body.details as { path: string }[]).map((d) => d.path).sort(), ['name', 'role']);
  });

  it('roles: viewer reads, editor writes config (as its author), admin manages tokens; 401 and 403 otherwise', async () => {
    const viewer = await createToken('viewer');
    const editor = await createToken('editor', 'ci-deploy');
    assert.match(viewer.name, /^viewer-[0-9a-f]{6}$/);

    assert.equal((await call(viewer.token, 'GET', '/config')).status, 200);
    const refused = await call(viewer.token, 'PUT', '/routes/x', { id: 'x', match: { paths: ['/x'] }, upstream: 'svc' });
    assert.equal(refused.status, 403);
    assert.match(refused.body.error!, /editor/);
    assert.equal((await call(viewer.token, 'POST', '/rollback', { version: 1 })).status, 403);

    const written = await call(editor.token, 'PUT', '/config', singleRouteDoc('http://127.0.0.1:9'));
    assert.equal(written.status, 200, JSON.stringify(written.body));
    const history = (await call(viewer.token, 'GET', '/versions')).body.versions as { author: string }[];
    assert.equal(history[0]!.author, 'ci-deploy');
    assert.equal((await call(editor.token, 'GET', '/tokens')).status, 403);
    assert.equal((await call(editor.token, 'POST', '/tokens', { role: 'admin' })).status, 403);

    assert.equal((await admin('DELETE', '/tokens/ci-deploy')).status, 200);
    const gone = await call(editor.token, 'GET', '/config');
    assert.equal(gone.status, 401, 'a deleted token stops working at once');
    assert.equal((await admin('DELETE', '/tokens/ci-deploy')).status, 404);
  });

  it('a token with a TTL works until it expires, then gets 401 saying so; its last use is listed', async () => {
    const short = await admin('POST', '/tokens', { role: 'viewer', name: 'short-lived', ttlSeconds: 2 });
    assert.equal(short.status, 201);
    const { token, createdAt, expiresAt } = short.body as { token: string; createdAt: string; expiresAt: string };
    assert.equal(Date.parse(expiresAt) - Date.parse(createdAt), 2000);
    const listed = async () => ((await admin('GET', '/tokens')).body.tokens as Body[]).find((t) => t.name === 'short-lived')!;
    assert.equal((await listed()).lastUsedAt, undefined, 'never used yet');

    assert.equal((await call(token, 'GET', '/config')).status, 200);
    let lastUsedAt: unknown;
    for (let i = 0; i < 100 && lastUsedAt === undefined; i++) {
      lastUsedAt = (await listed()).lastUsedAt;
      if (lastUsedAt === undefined) await sleep(20);
    }
    assert.ok(typeof lastUsedAt === 'string' && Date.parse(lastUsedAt) >= Date.parse(createdAt), `last used recorded: ${String(lastUsedAt)}`);

    await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 100);
    const expired = await call(token, 'GET', '/config');
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error, `token "short-lived" expired at ${expiresAt}; an admin can create a new one`);

    const tooLong = await admin('POST', '/tokens', { role: 'viewer', ttlSeconds: 11 * 365 * 86_400 });
    assert.equal(tooLong.status, 400);
    assert.deepEqual((tooLong.body.details as { path: string }[]).map((d) => d.path), ['ttlSeconds']);
  });

  it('deleting a token also forgets its last use; a token made again under that name starts unused', async () => {
    const t = await createToken('viewer', 'used-then-gone');
    assert.equal((await call(t.token, 'GET', '/config')).status, 200);
    await waitFor('the use recorded', async () => (await etcd.get(`${stack.prefix}/token-used/used-then-gone`).string()) !== null);
    assert.equal((await admin('DELETE', '/tokens/used-then-gone')).status, 200);
    assert.equal(await etcd.get(`${stack.prefix}/token-used/used-then-gone`).string(), null);
    await createToken('viewer', 'used-then-gone');
    const again = ((await admin('GET', '/tokens')).body.tokens as Body[]).find((x) => x.name === 'used-then-gone')!;
    assert.equal(again.lastUsedAt, undefined);
  });

  it("certificates' private keys are never returned; a write without key keeps the stored one", async () => {
    const cert = { id: 'site', snis: ['a.example.test'], cert: CERT_A, key: KEY_A };
    assert.equal((await admin('PUT', '/certificates/site', cert)).status, 200);

    const reads = await Promise.all(['/config', '/certificates', '/certificates/site', '/versions/2'].map((p) => admin('GET', p)));
    reads.push(await admin('GET', '/versions/1/diff/2'));
    for (const r of reads) {
      assert.equal(r.status, 200);
      assert.ok(!JSON.stringify(r.body).includes('PRIVATE KEY'), JSON.stringify(r.body).slice(0, 300));
    }
    const shown = (await admin('GET', '/certificates/site')).body;
    assert.match(shown.keySha256 as string, /^[0-9a-f]{64}$/);
    assert.equal(shown.notAfter, '2126-10-31T18:16:11.000Z');

    // What a read shows can be written back as it is: the key stays, nothing changes.
    const same = await admin('PUT', '/config', (await admin('GET', '/config')).body);
    assert.equal(same.status, 200, JSON.stringify(same.body));
    assert.equal(same.body.unchanged, true);
    const stored = await etcd.get(`${stack.prefix}/config/certificates/site`).string();
    assert.equal(JSON.parse(stored!).key, KEY_A);

    // A new cert whose key the control plane does not have must bring its own.
    const mismatch = await admin('PUT', '/certificates/site', { id: 'site', snis: ['b.example.test'], cert: CERT_B });
    assert.equal(mismatch.status, 400);
    assert.match(JSON.stringify(mismatch.body.details), /does not belong to this cert; give the cert's key too/);
    const replaced = await admin('PUT', '/certificates/site', { id: 'site', snis: ['b.example.test'], cert: CERT_B, key: KEY_B });
    assert.equal(replaced.status, 200);
    const missing = await admin('PUT', '/certificates/other', { id: 'other', snis: ['c.example.test'], cert: CERT_A });
    assert.equal(missing.status, 400);
    assert.match(JSON.stringify(missing.body.details), /stores no key for certificate \\"other\\"/);
  });
});
