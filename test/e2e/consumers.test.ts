// Consumers through the whole system (real etcd, control plane and proxy processes, a real
// upstream): a plain key and password go in once, are held only as hashes, export and apply back
// unchanged, and are never seen again: not in GET /config, export, `get`, history, diffs, error
// messages, logs or the proxy's /status; yet the proxy lets their owners in.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { startTestEtcd } from '../helpers/etcd.js';
import { callApi, runCli, startControlPlaneProcess, startProxyProcess, waitFor, writeDoc, type ProxyProcess, type Stack } from '../helpers/processes.js';
import { startUpstream } from '../helpers/upstreams.js';

const KEY = 'k3y-of-alice-7f0c2b9e41d8';
const PASSWORD = 'pa55word-of-bob-93be';
const KEY_DIGEST = `sha256:${createHash('sha256').update(KEY).digest('hex')}`;
const SECRETS = [KEY, PASSWORD];

function assertNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `${where} shows a secret in the clear:\n${text}`);
}

describe('consumers end to end: secrets never in the clear, export applies back unchanged', () => {
  let stack: Stack & { cp: { output(): string } };
  let proxy: ProxyProcess;
  let doc: Record<string, unknown>;
  const cli = (args: string[]) => runCli(args, stack.env);
  const api = (method: string, path: string, body?: unknown) => callApi(stack, method, path, body);

  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
    const up = await startUpstream('up');
    doc = {
      upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
      routes: [
        { id: 'by-key', match: { paths: ['/key/*'] }, upstream: 'u', policies: ['keys'] },
        { id: 'by-password', match: { paths: ['/basic/*'] }, upstream: 'u', policies: ['passwords'] },
      ],
      policies: [
        { id: 'keys', type: 'key-auth' },
        { id: 'passwords', type: 'basic-auth', realm: 'api' },
      ],
      consumers: [
        { id: 'alice', keys: [KEY] },
        { id: 'bob', basic: { username: 'bob', password: PASSWORD } },
      ],
    };
    const applied = await cli(['apply', '-f', await writeDoc(stack.dir, 'consumers.json', doc)]);
    assert.equal(applied.code, 0, applied.stderr);
    proxy = await startProxyProcess(etcd.endpoint);
  });

  it('the proxy, reading etcd, lets the key and the password in and nothing else', async () => {
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${proxy.url}${path}`, { headers });
    assert.equal((await get('/key/x')).status, 401);
    assert.equal((await get('/key/x', { 'x-api-key': KEY })).status, 200);
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    const refused = await get('/basic/x', basic('bob', 'nope'));
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'), 'Basic realm="api", charset="UTF-8"');
    assert.equal((await get('/basic/x', basic('bob', PASSWORD))).status, 200);
  });

  it('GET /config, export, get consumers, versions and diffs show hashes only', async () => {
    const config = await api('GET', '/config');
    assert.equal(config.status, 200);
    const consumers = (JSON.parse(config.text) as { consumers: { id: string; keys?: string[]; basic?: { password: string } }[] }).consumers;
    assert.deepEqual(consumers[0], { id: 'alice', keys: [KEY_DIGEST] });
    assert.match(consumers[1]!.basic!.password, /^scrypt\$16384\$8\$1\$/);
    const reads = [config.text, (await api('GET', '/consumers')).text, (await api('GET', '/consumers/bob')).text, (await api('GET', '/versions/1')).text];
    for (const args of [['export'], ['export', '-o', 'json'], ['get', 'consumers', '-o', 'yaml'], ['get', 'consumers'], ['history']]) {
      const r = await cli(args);
      assert.equal(r.code, 0, r.stderr);
      reads.push(r.stdout);
    }
    // A change to the consumers, and its diff.
    const changed = await api('PUT', '/consumers/alice', { id: 'alice', keys: [KEY_DIGEST, 'second-key-of-alice-0001'] });
    assert.equal(changed.status, 200, changed.text);
    const versions = (JSON.parse((await api('GET', '/versions')).text) as { versions: { version: number }[] }).versions.map((v) => v.version);
    const diff = await api('GET', `/versions/${Math.min(...versions)}/diff/${Math.max(...versions)}`);
    assert.equal(diff.status, 200, diff.text);
    assert.ok(diff.text.includes(KEY_DIGEST), 'the diff shows the key as its digest');
    reads.push(diff.text);
    const dry = await cli(['diff', '-f', await writeDoc(stack.dir, 'again.json', doc)]);
    reads.push(dry.stdout, dry.stderr);
    for (const [i, text] of reads.entries()) assertNoSecret(text, `read ${i}`);
    assert.ok(!diff.text.includes('second-key-of-alice-0001'));
  });

  it('export then apply: unchanged; the plain document applied again is unchanged too (the stored hash is kept)', async () => {
    const before = await cli(['history', '-o', 'json']);
    const live = (JSON.parse(before.stdout) as { versions: { version: number }[] }).versions[0]!.version;
    const file = join(stack.dir, 'exported.yaml');
    assert.equal((await cli(['export', '--file', file])).code, 0);
    const again = await cli(['apply', '-f', file]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, `unchanged: version ${live}\n`);

    // The original document with alice's second key: the plain password matches the stored hash.
    const plain = { ...doc, consumers: [{ id: 'alice', keys: [KEY, 'second-key-of-alice-0001'] }, (doc.consumers as unknown[])[1]] };
    const replay = await cli(['apply', '-f', await writeDoc(stack.dir, 'plain-again.json', plain)]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal(replay.stdout, `unchanged: version ${live}\n`);
  });

  it('a duplicate key is refused with its path and a fingerprint, never the key', async () => {
    const bad = await api('PUT', '/consumers/mallory', { id: 'mallory', keys: [KEY] });
    assert.equal(bad.status, 400);
    const body = JSON.parse(bad.text) as { details: { path: string; message: string }[] };
    assert.equal(body.details[0]!.path, 'consumers[2].keys[0]');
    assert.match(body.details[0]!.message, /^key sha256:[0-9a-f]{12} already belongs to consumer "alice"$/);
    assertNoSecret(bad.text, 'the error');
    assert.ok(!bad.text.includes(KEY_DIGEST.slice(7)), 'not even the digest');
    const file = await writeDoc(stack.dir, 'dup.json', { ...doc, consumers: [...(doc.consumers as unknown[]), { id: 'mallory', keys: [KEY] }] });
    const cliBad = await cli(['apply', '-f', file]);
    assert.equal(cliBad.code, 1);
    assertNoSecret(cliBad.stdout + cliBad.stderr, 'apply -f with a duplicate');
  });

  it("the proxy's /status and both processes' logs hold no secret", async () => {
    await waitFor('proxy on the last version', async () => (await proxy.status()).version !== null);
    assertNoSecret(JSON.stringify(await proxy.status()), '/status');
    assertNoSecret(proxy.output(), 'proxy log');
    assertNoSecret(stack.cp.output(), 'control plane log');
  });
});
