// The dashboard as a user drives it, in headless Chromium against a real control plane, etcd and
// proxy: log in, search the routes, edit a route in the YAML editor (a bad edit is refused with its
// line), review the diff, apply, find the version in the history, roll back, see the fleet follow,
// and have a stale edit refused.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { startControlPlaneProcess, startProxyProcess, waitFor, type ProxyProcess, type Stack } from '../helpers/processes.js';
import { startUpstream } from '../helpers/upstreams.js';

describe('dashboard', () => {
  let stack: Stack;
  let proxy: ProxyProcess;
  let browser: Browser;
  let start: Record<string, unknown>;

  const call = async (method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) => {
    const res = await fetch(`${stack.api}/api/v1${path}`, { method, body: init.body, headers: { authorization: `Bearer ${stack.token}`, ...init.headers } });
    return { status: res.status, etag: res.headers.get('etag'), type: res.headers.get('content-type'), text: await res.text() };
  };
  const configOf = async (version: number) => JSON.parse((await call('GET', `/versions/${version}`)).text).config as unknown;
  const servedBy = async (path: string) => (await fetch(`${proxy.url}${path}`)).text();

  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
    const [blue, green] = [await startUpstream('blue'), await startUpstream('green')];
    start = {
      upstreams: [{ id: 'blue', targets: [{ url: blue.url }] }, { id: 'green', targets: [{ url: green.url }] }],
      routes: [
        { id: 'orders', match: { paths: ['/orders/*'], methods: ['GET'] }, upstream: 'green' },
        { id: 'users', match: { paths: ['/users', '/users/*'] }, upstream: 'blue' },
      ],
    };
    const put = await call('PUT', '/config', { body: JSON.stringify(start), headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 200, put.text);
    proxy = await startProxyProcess(etcd.endpoint, { id: 'edge-1' });
    browser = await launchChromium();
    atFileEnd(() => browser.close());
  });

  it('serves its files with content types and keeps requests inside dashboard/', async () => {
    for (const [path, type] of [['/', 'text/html'], ['/app.js', 'text/javascript'], ['/style.css', 'text/css']]) {
      const res = await fetch(stack.api + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type')!, new RegExp(`^${type}`), path);
      assert.match(res.headers.get('content-security-policy')!, /default-src 'self'/);
    }
    // Encoded so that fetch() does not resolve the dots itself.
    for (const path of ['/..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/package.json', '/..%2fsrc/control-plane/dashboard.ts', '/nope.html']) {
      assert.equal((await fetch(stack.api + path)).status, 404, path);
    }
    assert.equal((await fetch(stack.api + '/', { method: 'POST' })).status, 405);
    const api = await fetch(`${stack.api}/api/v2/config`);
    assert.equal(api.status, 404);
    assert.match(((await api.json()) as { error: string }).error, /no endpoint/, 'API paths stay with the API');
  });

  it('gives the editor the live config as YAML, and validation per-object before and after', async () => {
    const yaml = await call('GET', '/config', { headers: { accept: 'application/yaml' } });
    assert.equal(yaml.status, 200);
    assert.match(yaml.type!, /^application\/yaml/);
    assert.equal(yaml.etag, '"1"');
    assert.match(yaml.text, /- id: users\n {4}match:\n {6}paths: \[\/users, \/users\/\*\]\n {4}upstream: blue\n/);

    const edited = yaml.text.replace('upstream: blue', 'upstream: green');
    const checked = JSON.parse((await call('POST', '/config/validate?detail=1', { body: edited, headers: { 'content-type': 'application/yaml' } })).text);
    assert.deepEqual(checked.changes, [{
      kind: 'routes', id: 'users', op: 'change',
      before: { id: 'users', match: { paths: ['/users', '/users/*'] }, upstream: 'blue' },
      after: { id: 'users', match: { paths: ['/users', '/users/*'] }, upstream: 'green' },
    }]);
  });

  it('log in, search, edit a route with a diff preview, apply, find it in the history, roll back, see the fleet', { timeout: 120_000 }, async () => {
    const page: Page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      // The refused login (401) and the stale apply (409) below are reported by the browser itself.
      if (msg.type() === 'error' && !/Failed to load resource.*(401|409)/.test(msg.text())) pageErrors.push(msg.text());
    });
    await page.goto(stack.api + '/');

    // A wrong token is refused with a message; the right one opens the routes table.
    await page.getByLabel('Token').fill('not-the-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('The control plane refused this token (invalid token)').waitFor();
    await page.getByLabel('Token').fill(stack.token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Routes' }).waitFor();
    const rows = page.locator('#objects tbody tr:visible');
    assert.deepEqual(await rows.locator('td:first-child').allTextContents(), ['orders', 'users']);
    await page.getByRole('searchbox', { name: 'Search routes' }).fill('/users');
    await waitFor('search to leave one route', async () => (await rows.count()) === 1);
    assert.match(await rows.first().textContent() ?? '', /users.*blue/);
    assert.match(await page.locator('#live').textContent() ?? '', /live version 1/);

    // The editor: a bad edit is refused with its line and Apply stays disabled.
    await page.getByRole('link', { name: 'Editor' }).click();
    const editor = page.getByRole('textbox', { name: 'Config (YAML)' });
    await waitFor('the live config in the editor', async () => (await editor.inputValue()).includes('id: users'));
    const original = await editor.inputValue();
    const usersUpstream = /(- id: users\n(?:.*\n)*? {4}upstream: )blue/;
    assert.match(original, usersUpstream);
    const bad = original.replace(usersUpstream, '$1bleu');
    const badLine = bad.split('\n').findIndex((l) => l.includes('upstream: bleu')) + 1;
    await editor.fill(bad);
    await page.getByText('1 problem; nothing can be applied until all are fixed.').waitFor();
    assert.match(await page.locator('#errors').textContent() ?? '', new RegExp(`line ${badLine}: routes\\[1\\]\\.upstream unknown upstream "bleu"`));
    assert.equal(await page.getByRole('button', { name: 'Apply…' }).isDisabled(), true);

    // Fixed: valid, Apply shows the per-object diff first, then writes version 2.
    await editor.fill(original.replace(usersUpstream, '$1green'));
    await page.getByText('Valid. 1 change: routes/users changed.').waitFor();
    await page.getByRole('button', { name: 'Apply…' }).click();
    const preview = page.locator('#preview');
    await preview.getByRole('heading', { name: 'Review: 1 change against version 1' }).waitFor();
    assert.deepEqual(await preview.locator('.fields tbody tr td').allTextContents(), ['upstream', '"blue"', '"green"']);
    assert.equal(await editor.getAttribute('readonly'), '', 'what is reviewed is what gets applied');
    await preview.getByLabel('Message').fill('users to green');
    await preview.getByRole('button', { name: 'Apply on top of version 1' }).click();

    // The history shows the new version, from the dashboard, with its diff.
    await page.getByText('Applied: version 2 is live.').waitFor();
    const v2 = page.locator('#versions tr[data-version="2"]');
    assert.match(await v2.textContent() ?? '', /2live.*dashboard.*admin.*users to green/);
    assert.match(await page.locator('#version-diff').textContent() ?? '', /Version 2: what changed since version 1.*changed routes\/users.*upstream"blue""green"/);
    assert.equal(await waitFor('the proxy to serve version 2', async () => (await servedBy('/users/7')) === 'green' || undefined), true);

    // Roll back to version 1, confirmed in a dialog: version 3, equal to version 1.
    await page.getByRole('button', { name: 'Roll back to 1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back to version 1?' });
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await page.getByText('Rolled back: version 3 is live, equal to version 1.').waitFor();
    assert.match(await page.locator('#versions tr[data-version="3"]').textContent() ?? '', /3live.*dashboard.*rollback to version 1/);
    assert.match(await page.locator('#version-diff').textContent() ?? '', /changed routes\/users.*"green""blue"/);

    assert.deepEqual(await configOf(3), await configOf(1));
    assert.deepEqual(await configOf(1), { ...start, policies: [], certificates: [] });
    assert.equal(await waitFor('the proxy to serve version 3', async () => (await servedBy('/users/7')) === 'blue' || undefined), true);

    // The fleet view: the proxy, the version it runs, in sync.
    await waitFor('the proxy to report version 3', async () => (await proxy.status()).version === 3);
    await page.getByRole('link', { name: 'Fleet' }).click();
    const row = page.locator('#proxies tr[data-proxy="edge-1"]');
    await row.waitFor();
    assert.match(await row.textContent() ?? '', /^edge-13in syncconnected2—$/);

    // An edit started from version 3 does not overwrite a change someone else made meanwhile.
    await page.getByRole('link', { name: 'Editor' }).click();
    await waitFor('version 3 in the editor', async () => (await editor.inputValue()).includes('upstream: blue'));
    const meanwhile = { ...start, routes: [{ id: 'orders', match: { paths: ['/orders/*'], methods: ['GET', 'HEAD'] }, upstream: 'green' }, (start.routes as unknown[])[1]] };
    assert.equal((await call('PUT', '/config', { body: JSON.stringify(meanwhile), headers: { 'content-type': 'application/json' } })).status, 200);
    await editor.fill((await editor.inputValue()).replace(usersUpstream, '$1green'));
    await page.getByText('the live config is now version 4 and this edit started from version 3').waitFor();
    await page.getByRole('button', { name: 'Apply…' }).click();
    await preview.getByRole('button', { name: 'Apply on top of version 3' }).click();
    await preview.getByText('Not applied: someone changed the config first (409: config changed meanwhile: expected version 3, live version is 4).').waitFor();
    assert.deepEqual(await configOf(4), { ...meanwhile, policies: [], certificates: [] });
    assert.equal((await call('GET', '/versions/5')).status, 404);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });
});
