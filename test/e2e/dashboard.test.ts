// The dashboard as a user drives it, in headless Chromium against a real control plane, etcd and
// proxy: log in, search the routes, edit a route in the YAML editor (a bad edit is refused with its
// line), review the diff, apply, find the version in the history, roll back, see the fleet follow,
// and have a stale edit refused; see what a real GitOps agent reported and ask it to sync; create a
// token, copy its secret, delete it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { stringify } from 'yaml';
import { launchChromium } from '../helpers/browser.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { runCli, startControlPlaneProcess, startProxyProcess, waitFor, type ProxyProcess, type Stack } from '../helpers/processes.js';
import { deadUrl } from '../helpers/data-plane.js';
import { startUpstream } from '../helpers/upstreams.js';

const run = promisify(execFile);

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
  const pageErrors: string[] = [];

  /** A new tab on the dashboard (its own sessionStorage) whose script errors end up in pageErrors. */
  const openDashboard = async (): Promise<Page> => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      // Refused tokens (401), roles (403) and stale writes (409) are reported by the browser itself.
      if (msg.type() === 'error' && !/Failed to load resource.*(401|403|409)/.test(msg.text())) pageErrors.push(msg.text());
    });
    await page.goto(stack.api + '/');
    return page;
  };
  const logIn = async (page: Page, token: string) => {
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
  };
  const loggedIn = async (token: string): Promise<Page> => {
    const page = await openDashboard();
    await logIn(page, token);
    await page.getByRole('heading', { name: 'Routes' }).waitFor();
    return page;
  };

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
    const page = await openDashboard();

    // A wrong token is refused with a message; the right one opens the routes table.
    await logIn(page, 'not-the-token');
    await page.getByText('The control plane refused this token (invalid token)').waitFor();
    await logIn(page, stack.token);
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
    assert.deepEqual(await configOf(1), { ...start, policies: [], certificates: [], consumers: [] });
    assert.equal(await waitFor('the proxy to serve version 3', async () => (await servedBy('/users/7')) === 'blue' || undefined), true);

    // The fleet view: the proxy, the version it runs, in sync.
    await waitFor('the proxy to report version 3', async () => (await proxy.status()).version === 3);
    await page.getByRole('link', { name: 'Fleet' }).click();
    const row = page.locator('#proxies tr[data-proxy="edge-1"] td');
    await row.first().waitFor();
    const cells = await row.allTextContents();
    assert.deepEqual([...cells.slice(0, 5), ...cells.slice(-2)], ['edge-1', '3', 'in sync', 'connected', '2', '—', '—']);
    assert.equal(cells.length, 10);
    assert.match(cells[5]!, /^\d+ ms$/, 'propagation of version 3');
    assert.match(cells[6]!, /^\d+ ms$/, 'its last apply');

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
    assert.deepEqual(await configOf(4), { ...meanwhile, policies: [], certificates: [], consumers: [] });
    assert.equal((await call('GET', '/versions/5')).status, 404);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });

  it('GitOps: no agent yet, then what a real agent reported (invalid, then drift), and sync requests recorded', { timeout: 60_000 }, async () => {
    const page = await loggedIn(stack.token);
    await page.getByRole('link', { name: 'GitOps' }).click();
    await page.getByRole('heading', { name: 'GitOps' }).waitFor();
    const state = page.locator('#gitops-state');
    assert.equal(await state.textContent(), 'No GitOps agent has reported yet. Start one with signalbox gitops --dir PATH and its state appears here.');
    assert.equal(await page.locator('#gitops-facts').textContent(), 'Last sync requestnone');

    // A git checkout whose commit routes payments to an upstream that does not exist, synced once
    // by a real agent: it reports `invalid` and applies nothing.
    const repo = await mkdtemp(join(tmpdir(), 'signalbox-dashboard-gitops-'));
    const git = async (...args: string[]) => (await run('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args])).stdout.trim();
    const commitFolder = async (upstream: string, subject: string) => {
      const text = stringify({ ...start, routes: [...(start.routes as unknown[]), { id: 'payments', match: { paths: ['/payments/*'] }, upstream }] });
      await writeFile(join(repo, 'signalbox.yaml'), text);
      await git('add', '-A');
      await git('commit', '-q', '-m', subject);
      return { text, commit: await git('rev-parse', 'HEAD') };
    };
    await git('init', '-q');
    const bad = await commitFolder('payments', 'Route payments to its own upstream');
    const syncOnce = () => runCli(['gitops', '--once', '--dir', repo], stack.env);
    const invalid = await syncOnce();
    assert.equal(invalid.code, 1, invalid.stderr);

    // "Sync now" records a sync request and shows the agent's report.
    await page.getByRole('button', { name: 'Sync now' }).click();
    const result = page.locator('#sync-result');
    await result.getByText(/^Sync request \d+ recorded\. The agent syncs when it sees it/).waitFor();
    const firstId = Number(/Sync request (\d+)/.exec(await result.textContent() ?? '')![1]);
    const recorded = JSON.parse((await call('GET', '/gitops')).text);
    assert.deepEqual(recorded.syncRequest, { id: firstId, force: false, requestedBy: 'admin', requestedAt: recorded.syncRequest.requestedAt });
    await state.getByText('invalid', { exact: true }).waitFor();
    assert.equal(await state.textContent(), 'invalidThe folder does not validate; the live config stays as it is. The next commit is tried again.');
    const facts = await page.locator('#gitops-facts').textContent() ?? '';
    for (const fact of [`Folder${repo}`, `Commit${bad.commit.slice(0, 12)} Route payments to its own upstream`, 'Live versionnot asked',
      'Last applied versionnone yet', 'Changes made outside gitreported as drift and left alone', `Last sync requestrequest ${firstId} by admin at `]) {
      assert.ok(facts.includes(fact), `${fact} in ${facts}`);
    }
    const badLine = bad.text.split('\n').indexOf('    upstream: payments') + 1;
    assert.ok(badLine > 0);
    await page.getByRole('heading', { name: '1 problem' }).waitFor();
    assert.deepEqual(await page.locator('#gitops-problems li').allTextContents(), [`signalbox.yaml:${badLine}: routes[2].upstream: unknown upstream "payments"`]);

    // The fix is committed, but version 4 was written outside git: the agent reports drift, and the
    // view shows it by itself (it refreshes every 5 s).
    const fix = await commitFolder('green', 'Route payments to green');
    const drift = await syncOnce();
    assert.equal(drift.code, 1, drift.stderr);
    await state.getByText('drift', { exact: true }).waitFor();
    assert.match(await state.textContent() ?? '', /^driftVersion 4 was written outside git by admin \(source api\)\. It is left alone until/);
    assert.match(await page.locator('#gitops-facts').textContent() ?? '', new RegExp(`Commit${fix.commit.slice(0, 12)} Route payments to green.*Live version4`));
    assert.match(await page.getByRole('heading', { name: 'Drift' }).locator('xpath=following-sibling::p[1]').textContent() ?? '',
      new RegExp(`^Version 4 was written by admin via api at .*\\. Applying commit ${fix.commit.slice(0, 12)} would change 2 objects:$`));
    assert.deepEqual((await page.locator('#drift-changes li').allTextContents()).sort(), ['+ routes/payments would be added', '~ routes/orders would be changed']);

    // Overwriting drift takes a confirmation; then a forced request is recorded.
    await page.getByRole('button', { name: 'Sync and overwrite drift…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Sync and overwrite drift?' });
    assert.match(await dialog.textContent() ?? '', /Version 4, written by admin via api, is overwritten: 2 objects change\./);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(JSON.parse((await call('GET', '/gitops')).text).syncRequest.id, firstId, 'cancelled: nothing requested');
    await page.getByRole('button', { name: 'Sync and overwrite drift…' }).click();
    await dialog.getByRole('button', { name: 'Sync and overwrite' }).click();
    await result.getByText(/^Sync request \d+ recorded \(forced: overwrites drift\)\./).waitFor();
    const forced = JSON.parse((await call('GET', '/gitops')).text).syncRequest;
    assert.equal(forced.force, true);
    assert.equal(Number(/Sync request (\d+)/.exec(await result.textContent() ?? '')![1]), forced.id);
    assert.ok(forced.id > firstId);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });

  it('tokens: an admin creates a viewer token, copies its secret shown once, deletes it; the viewer is told which role it lacks', { timeout: 60_000 }, async () => {
    const admin = await loggedIn(stack.token);
    await admin.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.api });
    await admin.getByRole('link', { name: 'Tokens' }).click();
    await admin.getByText('No tokens yet besides the bootstrap admin.').waitFor();
    await admin.getByLabel('Name (optional)').fill('reader');
    await admin.getByLabel('Role').selectOption('viewer');
    await admin.getByLabel('Expires').selectOption({ label: 'after 30 days' });
    await admin.getByRole('button', { name: 'Create token' }).click();

    const created = admin.getByRole('region', { name: 'Token reader created (viewer)' });
    await created.waitFor();
    assert.match(await created.textContent() ?? '', /Shown only once: copy the secret now\. The control plane keeps only its SHA-256 and cannot show it again/);
    const secret = await created.getByLabel('Secret').inputValue();
    assert.match(secret, /^sbx_/);
    await created.getByRole('button', { name: 'Copy' }).click();
    await created.getByText('Copied.').waitFor();
    assert.equal(await admin.evaluate('navigator.clipboard.readText()'), secret);
    const row = admin.locator('#tokens tr[data-token="reader"] td');
    await row.first().waitFor();
    const [name, role, at, by, expires, lastUsed, actions] = await row.allTextContents();
    assert.deepEqual([name, role, by, lastUsed, actions], ['reader', 'viewer', 'admin', 'not yet', 'Delete']);
    assert.match(at!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const days = (Date.parse(expires!.replace(' ', 'T')) - Date.parse(at!.replace(' ', 'T'))) / 86_400_000;
    assert.ok(days > 29.9 && days < 30.1, `expires 30 days after creation: ${at} → ${expires}`);

    // The secret works, as a viewer: it reads and may not write.
    const asReader = (method: string, body?: string) =>
      fetch(`${stack.api}/api/v1/config`, { method, body, headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' } });
    const read = await asReader('GET');
    assert.equal(read.status, 200);
    const write = await asReader('PUT', await read.text());
    assert.equal(write.status, 403);

    // In the dashboard, the viewer is told which role tokens and sync requests need.
    const viewer = await loggedIn(secret);
    await viewer.getByRole('link', { name: 'Tokens' }).click();
    await viewer.getByText('Not allowed for this token (403): token "reader" has role viewer; this needs admin. Ask an admin for a token with a higher role.').waitFor();
    await viewer.getByRole('link', { name: 'GitOps' }).click();
    await viewer.getByRole('button', { name: 'Sync now' }).click();
    await viewer.getByText('No sync requested: Not allowed for this token (403): token "reader" has role viewer; this needs editor.').waitFor();

    // Deleted after a confirmation: the token is refused at once, and the viewer's next request
    // returns it to the login.
    await admin.getByRole('button', { name: 'Delete token reader' }).click();
    await admin.getByRole('dialog', { name: 'Delete token reader?' }).getByRole('button', { name: 'Delete' }).click();
    await admin.getByText('Deleted token reader: it is refused from now on.').waitFor();
    await admin.getByText('No tokens yet besides the bootstrap admin.').waitFor();
    assert.equal((await asReader('GET')).status, 401);
    await viewer.getByRole('button', { name: 'Sync now' }).click();
    await viewer.getByRole('heading', { name: 'Log in' }).waitFor();
    await viewer.getByText(/^The control plane refused this token \(.+\)\. Log in with a valid token\.$/).waitFor();
    assert.deepEqual(pageErrors, []);
    await Promise.all([admin.close(), viewer.close()]);
  });

  it('the fleet view names the targets a proxy holds out because they fail their health checks', { timeout: 60_000 }, async () => {
    const sick = await startUpstream('sick', (req, res) => {
      if (req.url !== '/healthz') return false;
      res.writeHead(503).end();
      return true;
    });
    const live = JSON.parse((await call('GET', '/config')).text) as { upstreams: unknown[] };
    const checked = { id: 'checked', targets: [{ url: sick.url }], healthCheck: { path: '/healthz', intervalMs: 100, unhealthyThreshold: 1 } };
    const put = await call('PUT', '/config', { body: JSON.stringify({ ...live, upstreams: [...live.upstreams, checked] }), headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 200, put.text);
    await waitFor('the fleet to hear of the sick target', async () => {
      const fleet = JSON.parse((await call('GET', '/proxies')).text) as { proxies: { id: string; unhealthyTargetCount?: number }[] };
      return fleet.proxies.find((p) => p.id === 'edge-1')?.unhealthyTargetCount === 1;
    });
    const page = await loggedIn(stack.token);
    await page.getByRole('link', { name: 'Fleet' }).click();
    const cells = page.locator('#proxies tr[data-proxy="edge-1"] td');
    await cells.first().waitFor();
    assert.equal((await cells.allTextContents())[8], `checked ${sick.url}`);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });
  it('the Routes and Fleet pages chart live traffic per route and per proxy, and how long recent versions took', { timeout: 60_000 }, async () => {
    // The charts are a module of the dashboard's own, under the same strict policy: no inline
    // script or style, nothing from elsewhere.
    const charts = await fetch(`${stack.api}/charts.js`);
    assert.match(charts.headers.get('content-type')!, /^text\/javascript/);
    assert.equal(charts.headers.get('content-security-policy'), "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");

    // A route to a target that refuses connections: its answers are 502s.
    const live = JSON.parse((await call('GET', '/config')).text) as { upstreams: unknown[]; routes: unknown[] };
    const withBroken = {
      ...live,
      upstreams: [...live.upstreams, { id: 'gone', targets: [{ url: await deadUrl() }] }],
      routes: [...live.routes, { id: 'broken', match: { paths: ['/broken'] }, upstream: 'gone' }],
    };
    const put = await call('PUT', '/config', { body: JSON.stringify(withBroken), headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 200, put.text);
    const version = (JSON.parse(put.text) as { version: { version: number } }).version.version;
    await waitFor('the proxy on the new version', async () => (await proxy.status()).version === version);
    for (let i = 0; i < 6; i++) assert.equal(await servedBy('/users/7'), 'blue');
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${proxy.url}/broken`)).status, 502);

    const page = await loggedIn(stack.token);
    const cell = (route: string, metric: string) => page.locator(`#objects tr[data-id="${route}"] .metric[data-metric="${metric}"]`);
    const value = (route: string, metric: string) => cell(route, metric).locator('.chart-value').textContent();
    await cell('users', 'rps').waitFor();
    // The newest value is that of the newest bucket, which may have begun since the requests.
    assert.match(await value('users', 'rps') ?? '', /^\d+\.\d\d\/s$/);
    const [, peak] = /^requests\/s of route users over the last 5 minutes: now \S+\/s, peak (\S+)\/s$/.exec(await cell('users', 'rps').locator('svg').getAttribute('aria-label') ?? '') ?? [];
    assert.ok(Number(peak) > 0, `a peak of the 6 requests: ${peak}`);
    assert.equal(await value('users', 'errors'), '0 %');
    assert.match(await value('users', 'p99') ?? '', /^\d+(\.\d)? ms$/);
    assert.equal(await value('broken', 'errors'), '100 %', 'every answer of that route was a 502');
    assert.ok((await cell('broken', 'errors').locator('svg polyline, svg circle').count()) > 0, 'the chart draws the bucket it has');
    // A route without requests has no numbers rather than zeros.
    assert.deepEqual(await page.locator('#objects tr[data-id="orders"] td.traffic').allTextContents(), ['—']);
    assert.match(await page.locator('#traffic-note').textContent() ?? '', /^Live traffic over the last 5 minutes, in 10 s buckets, from 1 proxy; refreshed every 5 s\. $/);

    await page.getByRole('link', { name: 'Fleet' }).click();
    const fleetCharts = page.locator('#fleet-traffic figure');
    await fleetCharts.first().waitFor();
    assert.deepEqual(await fleetCharts.locator('figcaption').allTextContents(), ['Requests/s', 'Errors', 'p99']);
    assert.match(await fleetCharts.nth(1).locator('svg').getAttribute('aria-label') ?? '', /^error rate \(5xx\) of the fleet over the last 5 minutes: now \d+ %, peak \d+ %$/);
    const proxyRow = page.locator('#proxies tr[data-proxy="edge-1"]');
    assert.match(await proxyRow.locator('.metric[data-metric="rps"] .chart-value').textContent() ?? '', /^\d+\.\d\d\/s$/);

    // The version just written: applied by the one proxy, while it ran, so its time counts.
    const applied = (await proxy.status()) as unknown as { recentApplies: { version: number; propagationMs: number }[] };
    const mine = applied.recentApplies.find((a) => a.version === version)!;
    const row = await page.locator(`#convergence tr[data-version="${version}"] td`).allTextContents();
    assert.deepEqual([row[0], row[2], row[3], row[4]!.replace(/ at .*/, '')], [String(version), '1 proxy', mine.propagationMs >= 1000 ? `${(mine.propagationMs / 1000).toFixed(1)} s` : `${Math.round(mine.propagationMs)} ms`, 'edge-1']);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });
});
