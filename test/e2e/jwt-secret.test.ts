// A jwt policy's HS secret through a real control plane and etcd: never in an answer, an export,
// a history diff or the log; shown as secretSha256; an export applies back unchanged; a policy
// written without it keeps the stored one.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { startTestEtcd } from '../helpers/etcd.js';
import { runCli, startControlPlaneProcess, writeDoc, type Stack } from '../helpers/processes.js';
import type { Spawned } from '../helpers/launch.js';

const SECRET = 'hs-secret-that-must-never-leave-the-control-plane';
const NEW_SECRET = 'another-secret-that-must-never-leave-either-1234';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const JWT = { id: 'auth', type: 'jwt', secret: SECRET, issuer: 'https://id.test', audience: 'app' };
const DOC = {
  upstreams: [{ id: 'u', targets: [{ url: 'http://127.0.0.1:9' }] }],
  routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', policies: ['auth'] }],
  policies: [JWT],
};

describe('jwt secret through the control plane', () => {
  let stack: Stack & { cp: Spawned };
  const cli = (args: string[]) => runCli(args, stack.env);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
  };
  const noSecret = (text: string, where: string) => {
    for (const s of [SECRET, NEW_SECRET]) assert.ok(!text.includes(s), `${where} shows a secret`);
  };

  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
  });

  it('reads show secretSha256, never the secret; export → apply is unchanged', async () => {
    const put = await call('PUT', '/config', DOC);
    assert.equal(put.status, 200, put.text);
    assert.equal((put.body.version as { version: number }).version, 1);
    noSecret(put.text, 'PUT /config answer');

    const config = await call('GET', '/config');
    noSecret(config.text, 'GET /config');
    const shown = (config.body.policies as Record<string, unknown>[])[0]!;
    assert.equal(shown.secretSha256, sha(SECRET));
    assert.equal(shown.secret, undefined);
    const one = await call('GET', '/policies/auth');
    noSecret(one.text, 'GET /policies/auth');
    assert.equal(one.body.secretSha256, sha(SECRET));
    noSecret((await call('GET', '/versions/1')).text, 'GET /versions/1');

    const file = join(stack.dir, 'exported.yaml');
    const exported = await cli(['export', '--file', file]);
    assert.equal(exported.code, 0, exported.stderr);
    const json = await cli(['export', '-o', 'json']);
    noSecret(json.stdout, 'export -o json');
    const table = await cli(['get', 'policies', '-o', 'table']);
    noSecret(table.stdout, 'get policies -o table');
    assert.match(table.stdout, new RegExp(`auth +jwt +issuer=https://id.test audience=app secretSha256=${sha(SECRET).slice(0, 20)}`));
    const again = await cli(['apply', '-f', file]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'unchanged: version 1\n');
    assert.equal((await call('PUT', '/config', config.body)).body.unchanged, true, 'GET /config put back as it is');
    assert.equal((await call('PUT', '/policies/auth', one.body)).body.unchanged, true, 'GET /policies/auth put back as it is');
  });

  it('a new secret is a change whose diff shows two fingerprints, not the secrets; the log never shows one', async () => {
    const put = await call('PUT', '/policies/auth', { ...JWT, secret: NEW_SECRET });
    assert.equal(put.status, 200, put.text);
    const v = (put.body.version as { version: number }).version;
    const diff = await call('GET', `/versions/${v - 1}/diff/${v}`);
    noSecret(diff.text, 'the versions diff');
    const change = (diff.body.changes as { before: Record<string, unknown>; after: Record<string, unknown> }[])[0]!;
    assert.equal(change.before.secretSha256, sha(SECRET));
    assert.equal(change.after.secretSha256, sha(NEW_SECRET));
    const history = await cli(['history', '-o', 'json']);
    noSecret(history.stdout, 'history');
    noSecret(stack.cp.output(), 'the control plane log');
  });

  it('without a key source: the stored secret is kept, checked against the algorithms given; a new id without one is refused', async () => {
    const keyless: Record<string, unknown> = { ...JWT };
    delete keyless.secret;
    const kept = await call('PUT', '/policies/auth', { ...keyless, audience: 'app2' });
    assert.equal(kept.status, 200, kept.text);
    const wrongAlg = await call('PUT', '/policies/auth', { ...keyless, algorithms: ['RS256'] });
    assert.equal(wrongAlg.status, 400);
    assert.deepEqual(wrongAlg.body.details, [{ path: 'policies[0].algorithms[0]', message: 'RS256 verifies with public keys (publicKey, jwks, jwksUrl), not with a secret (with the secret stored for "auth")' }]);
    const fresh = await call('PUT', '/policies/other', { ...keyless, id: 'other' });
    assert.equal(fresh.status, 400);
    assert.deepEqual(fresh.body.details, [{ path: 'policies[1]', message: 'required: one of secret, publicKey, jwks, jwksUrl; the control plane stores no secret for policy "other"' }]);
    noSecret(wrongAlg.text + fresh.text, 'errors');
    const file = await writeDoc(stack.dir, 'keyless.json', { ...DOC, routes: [{ ...DOC.routes[0], policies: ['other'] }], policies: [{ ...keyless, id: 'other' }] });
    const offline = await cli(['validate', file]);
    assert.equal(offline.code, 0, `offline, the secret is left to the control plane: ${offline.stderr}`);
  });
});
