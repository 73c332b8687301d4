// The audit trail cannot be forged: a version's message is one line of plain text when it is
// stored, and shown escaped wherever it is printed (CLI tables, JSON and YAML, the dashboard) when
// something else got into etcd; only the GitOps agent's token (or an admin's) may record a version
// as source gitops. Real etcd, a real control plane, the CLI, headless Chromium.
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { after, before, describe, it } from 'node:test';
import { createEtcdClient } from '../../src/store/client.js';
import { Keys } from '../../src/store/keys.js';
import { launchChromium } from '../helpers/browser.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { runCli, startControlPlaneProcess, type Stack } from '../helpers/processes.js';
import { singleRouteDoc } from '../helpers/upstreams.js';

type Body = Record<string, unknown> & { error?: string; token?: string; versions?: { version: number; source: string; author: string; message: string }[] };

const ESC = '\u001b';
/** What must never reach a terminal raw: controls but line feed, and the right-to-left override. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u202e]/;
/** A message that, printed raw, would turn a terminal red, start a fake row, and reverse the rest. */
const FORGED = `deploy ${ESC}[31mred\nv9  2026-01-01  gitops  admin  fake row\u202eesrever`;

describe('the audit trail', () => {
  let stack: Stack;
  let kv: Etcd3;
  const call = async (token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${stack.api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const admin = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => call(stack.token, method, path, body, headers);
  const token = async (request: Record<string, string>) => {
    const r = await admin('POST', '/tokens', request);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.token!;
  };
  const versions = async () => (await admin('GET', '/versions')).body.versions!;

  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
    kv = createEtcdClient([etcd.endpoint]);
    assert.equal((await admin('PUT', '/config', singleRouteDoc('http://127.0.0.1:9'), { 'x-signalbox-message': 'first' })).status, 200);
  });
  after(() => kv.close());

  it('a message with control characters is refused (400 naming the header and the character); nothing is written', async () => {
    for (const [raw, char] of [[`%1B%5B31mred`, 'U+001B'], ['two%0Alines', 'U+000A'], ['left%E2%80%AEright', 'U+202E'], ['del%7F', 'U+007F']] as const) {
      const r = await admin('PUT', '/routes/x', { id: 'x', match: { paths: ['/x'] }, upstream: 'svc' }, { 'x-signalbox-message': raw });
      assert.equal(r.status, 400, `${raw}: ${JSON.stringify(r.body)}`);
      assert.ok(r.body.error!.startsWith(`X-Signalbox-Message must be one line of plain text; it holds the control character ${char}`), r.body.error);
    }
    assert.deepEqual((await versions()).map((v) => v.version), [1]);
    const plain = await admin('PUT', '/routes/x', { id: 'x', match: { paths: ['/x'] }, upstream: 'svc' }, { 'x-signalbox-message': encodeURIComponent('ünïcode, "quotes" & tabs are fine') });
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    assert.equal((await versions())[0]!.message, 'ünïcode, "quotes" & tabs are fine');
  });

  it('X-Signalbox-Source: gitops only from a token created for gitops, or an admin; 403 from any other', async () => {
    const editor = await token({ role: 'editor', name: 'ci' });
    const viewer = await token({ role: 'viewer', name: 'reader' });
    const agent = await token({ role: 'editor', for: 'gitops' });
    const route = (id: string) => ({ id, match: { paths: [`/${id}`] }, upstream: 'svc' });
    const gitops = { 'x-signalbox-source': 'gitops' };

    const forged = await call(editor, 'PUT', '/routes/forged', route('forged'), gitops);
    assert.equal(forged.status, 403);
    assert.match(forged.body.error!, /X-Signalbox-Source: gitops is only accepted from a token created for the GitOps agent \(signalbox token create --role editor --for gitops\) or an admin's; token "ci" \(role editor\) is neither/);
    assert.equal((await call(viewer, 'GET', '/config', undefined, gitops)).status, 403);
    assert.ok(!(await versions()).some((v) => v.message.includes('forged')));

    const fromAgent = await call(agent, 'PUT', '/routes/synced', route('synced'), gitops);
    assert.equal(fromAgent.status, 200, JSON.stringify(fromAgent.body));
    const [latest] = await versions();
    assert.match(latest!.author, /^gitops-[0-9a-f]{6}$/);
    assert.equal(latest!.source, 'gitops');
    assert.equal((await admin('PUT', '/routes/by-admin', route('by-admin'), gitops)).status, 200);
    // Without the header, the same editor writes as what it is.
    assert.equal((await call(editor, 'PUT', '/routes/by-ci', route('by-ci'))).status, 200);
    assert.deepEqual((({ author, source }) => ({ author, source }))((await versions())[0]!), { author: 'ci', source: 'api' });

    const listed = (await admin('GET', '/tokens')).body.tokens as { name: string; for?: string }[];
    assert.deepEqual(listed.filter((t) => t.for).map((t) => t.for), ['gitops']);
    const viewerForGitops = await admin('POST', '/tokens', { role: 'viewer', for: 'gitops' });
    assert.equal(viewerForGitops.status, 400);
    assert.deepEqual(viewerForGitops.body.details, [{ path: 'role', message: 'a token for gitops has role editor' }]);
  });

  it('the CLI prints what got into the history some other way with its control characters escaped', async () => {
    const n = (await versions())[0]!.version;
    // Written straight into etcd, as anyone with etcd access (or an older version) could.
    const key = new Keys(stack.prefix).historyInfo(n);
    const info = JSON.parse((await kv.get(key).string())!) as Record<string, unknown>;
    await kv.put(key).value(JSON.stringify({ ...info, message: FORGED })).exec();

    const table = await runCli(['history', '--limit', '1'], stack.env);
    assert.equal(table.code, 0, table.stderr);
    assert.ok(!RAW_CONTROL.test(table.stdout), JSON.stringify(table.stdout));
    assert.equal(table.stdout.trimEnd().split('\n').length, 2, 'a header and one row');
    assert.ok(table.stdout.includes('deploy \\u{1b}[31mred\\u{a}v9  2026-01-01  gitops  admin  fake row\\u{202e}esrever'), table.stdout);
    const got = await runCli(['get', 'versions'], stack.env);
    assert.ok(got.stdout.includes('\\u{1b}[31mred') && !got.stdout.includes(ESC), got.stdout);

    for (const format of ['json', 'yaml']) {
      const doc = await runCli(['history', '--limit', '1', '-o', format], stack.env);
      assert.equal(doc.code, 0, doc.stderr);
      assert.ok(!RAW_CONTROL.test(doc.stdout), `${format}: ${JSON.stringify(doc.stdout)}`);
      // Escaped as the format escapes: the value read back is the message as stored.
      const parsed = format === 'json' ? JSON.parse(doc.stdout) : (await import('yaml')).parse(doc.stdout);
      assert.equal((parsed as { versions: { message: string }[] }).versions[0]!.message, FORGED);
    }
  });

  it('the dashboard shows that message escaped in the history', { timeout: 60_000 }, async () => {
    const browser = await launchChromium();
    atFileEnd(() => browser.close());
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${stack.api}/#/history`);
    await page.getByLabel('Token').fill(stack.token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.goto(`${stack.api}/#/history`);
    const n = (await versions())[0]!.version;
    const message = page.locator(`#versions tr[data-version="${n}"] td`).nth(4);
    await message.waitFor();
    assert.equal(await message.textContent(), 'deploy \\u{1b}[31mred\nv9  2026-01-01  gitops  admin  fake row\\u{202e}esrever');
  });
});
