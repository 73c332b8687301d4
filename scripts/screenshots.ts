// `npm run screenshots`: the README's pictures of the dashboard, taken from a real stack (etcd, a
// control plane, two proxies, one run of the GitOps agent) in headless Chromium. Every process it
// starts is ended by PID.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { ManagedEtcd } from '../src/dev/managed-etcd.js';
import { freePort } from '../src/util/ports.js';
import { launchChromium } from '../test/helpers/browser.js';
import { launch, waitFor, type Spawned } from '../test/helpers/launch.js';

const OUT = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));
const TOKEN = 'screenshot-token';

const upstream = (id: string, ...ports: number[]) => ({ id, targets: ports.map((p) => ({ url: `http://10.0.0.${p % 10}:${p}` })) });
const FIRST = {
  upstreams: [upstream('users', 9101, 9102), upstream('catalog', 9201), upstream('legacy', 9301)],
  routes: [
    { id: 'users-api', match: { hosts: ['api.example.com'], paths: ['/users', '/users/:id'], methods: ['GET', 'POST'] }, upstream: 'users', policies: ['rl-default'] },
    { id: 'users-canary', match: { hosts: ['api.example.com'], paths: ['/users/*'], headers: { 'x-canary': '1' } }, upstream: 'users' },
    { id: 'catalog', match: { paths: ['/catalog', '/catalog/*'], methods: ['GET'] }, upstream: 'catalog', policies: ['rl-default'] },
    { id: 'legacy', match: { hosts: ['*.example.com'], paths: ['/*'] }, upstream: 'legacy' },
  ],
  policies: [{ id: 'rl-default', type: 'rate-limit', requestsPerSecond: 100, burst: 200 }],
};
const SECOND = {
  ...FIRST,
  upstreams: [...FIRST.upstreams, upstream('orders', 9401, 9402)],
  routes: [...FIRST.routes, { id: 'orders', match: { paths: ['/orders', '/orders/:id'], methods: ['GET', 'POST'] }, upstream: 'orders', policies: ['rl-strict'] }],
  policies: [...FIRST.policies, { id: 'rl-strict', type: 'rate-limit', requestsPerSecond: 10 }],
};

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-screenshots-'));
  const started: Spawned[] = [];
  const etcd = new ManagedEtcd({ dataDir: join(dir, 'etcd') });
  try {
    await etcd.start();
    await writeFile(join(dir, 'token'), TOKEN);
    const apiPort = await freePort();
    const api = `http://127.0.0.1:${apiPort}`;
    started.push(launch(['control-plane', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${apiPort}`, '--admin-token-file', join(dir, 'token')]));
    await waitFor('the control plane', async () => (await fetch(`${api}/healthz`)).ok);
    const put = async (doc: unknown, source: string, message: string) => {
      const res = await fetch(`${api}/api/v1/config`, {
        method: 'PUT',
        body: JSON.stringify(doc),
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-signalbox-source': source, 'x-signalbox-message': encodeURIComponent(message) },
      });
      if (!res.ok) throw new Error(`PUT /config: ${res.status} ${await res.text()}`);
    };
    await put(FIRST, 'cli', 'users, catalog and the legacy catch-all');
    await put(SECOND, 'gitops', 'orders service behind a strict rate limit');
    for (const id of ['edge-1', 'edge-2']) {
      const admin = await freePort();
      started.push(launch(['proxy', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${await freePort()}`, '--admin-listen', `127.0.0.1:${admin}`, '--id', id]));
      await waitFor(`proxy ${id}`, async () => (await fetch(`http://127.0.0.1:${admin}/readyz`)).ok);
    }

    await mkdir(OUT, { recursive: true });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
      page.setDefaultTimeout(10_000);
      const shot = (name: string, fullPage = false) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage });

      await page.goto(`${api}/`);
      await page.getByLabel('Token').fill(TOKEN);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Routes' }).waitFor();
      await page.getByRole('searchbox', { name: 'Search routes' }).fill('users');
      await shot('routes');

      await page.getByRole('link', { name: 'Editor' }).click();
      const editor = page.getByRole('textbox', { name: 'Config (YAML)' });
      await waitFor('the editor', async () => (await editor.inputValue()).includes('id: orders'));
      const text = await editor.inputValue();
      await editor.fill(text.replace('upstream: orders', 'upstream: order'));
      await page.locator('#errors li').first().waitFor();
      await page.getByRole('button', { name: /^line \d+$/ }).click();
      await shot('editor-error');

      await editor.fill(text.replace('requestsPerSecond: 10\n', 'requestsPerSecond: 25\n    burst: 50\n').replace('methods: [GET, POST]\n    upstream: orders', 'methods: [GET, POST, PUT]\n    upstream: orders'));
      await page.getByText(/^Valid\. 2 changes/).waitFor();
      await page.getByRole('button', { name: 'Apply…' }).click();
      await page.getByLabel('Message').fill('orders: allow PUT, raise its rate limit');
      await page.locator('#preview').scrollIntoViewIfNeeded();
      await shot('editor-preview');

      await page.getByRole('button', { name: /^Apply on top of version/ }).click();
      await page.getByText('Applied: version 3 is live.').waitFor();
      await shot('history', true);

      await waitFor('both proxies on version 3', async () => {
        const res = await fetch(`${api}/api/v1/proxies`, { headers: { authorization: `Bearer ${TOKEN}` } });
        const { proxies } = (await res.json()) as { proxies: { inSync: boolean }[] };
        return proxies.length === 2 && proxies.every((p) => p.inSync);
      });
      await page.getByRole('link', { name: 'Fleet' }).click();
      await page.locator('#proxies').waitFor();
      await shot('fleet');

      // A git checkout holding version 2, synced once by the agent: version 3 was written in the
      // dashboard, outside git, so the agent reports drift and leaves it.
      const repo = join(dir, 'deploy');
      const folder = join(repo, 'signalbox');
      await mkdir(folder, { recursive: true });
      const git = (...args: string[]) => promisify(execFile)('git', ['-C', repo, '-c', 'user.name=ci', '-c', 'user.email=ci@example.com', ...args]);
      await git('init', '-q');
      await writeFile(join(folder, 'upstreams.yaml'), stringify({ upstreams: SECOND.upstreams }));
      await writeFile(join(folder, 'routes.yaml'), stringify({ routes: SECOND.routes, policies: SECOND.policies }));
      await git('add', '-A');
      await git('commit', '-q', '-m', 'Orders service behind a strict rate limit');
      const agent = launch(['gitops', '--once', '--dir', folder], { SIGNALBOX_SERVER: api, SIGNALBOX_TOKEN: TOKEN });
      started.push(agent);
      const [code] = (await once(agent.proc, 'exit')) as [number];
      if (code !== 1 || !agent.output().includes('drift: version 3')) throw new Error(`gitops --once: expected drift, got exit ${code}: ${agent.output()}`);
      await page.getByRole('link', { name: 'GitOps' }).click();
      await page.locator('#drift-changes').waitFor();
      await shot('gitops');

      await page.getByRole('link', { name: 'Tokens' }).click();
      for (const [name, role] of [['gitops', 'editor'], ['grafana', 'viewer'], ['ci-deploy', 'editor']]) {
        await page.getByLabel('Name (optional)').fill(name!);
        await page.getByLabel('Role').selectOption(role!);
        await page.getByRole('button', { name: 'Create token' }).click();
        await page.locator(`#tokens tr[data-token="${name}"]`).waitFor();
      }
      await shot('tokens', true);
    } finally {
      await browser.close();
    }
    process.stdout.write(`screenshots written to ${OUT}\n`);
  } finally {
    for (const p of started.reverse()) await p.stop();
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`screenshots: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
