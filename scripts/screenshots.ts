// `npm run screenshots`: the README's pictures of the dashboard, taken from a real stack (etcd, a
// control plane, two proxies with three minutes of traffic to real upstreams, one run of the
// GitOps agent) in headless Chromium. Every process it starts is ended by PID.
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
import { demoUpstream, sendDemoLoad } from './demo-traffic.js';

const OUT = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));
const TOKEN = 'screenshot-token';

/** Long enough for the traffic charts to show a few minutes. */
const TRAFFIC_SECONDS = Number(process.env.SCREENSHOT_TRAFFIC_SECONDS ?? 180);

/** The configs, for upstreams at these URLs (real ones: the screenshots show live traffic). */
function configs(url: Record<'users1' | 'users2' | 'catalog' | 'legacy' | 'orders1' | 'orders2', string>) {
  const upstream = (id: string, ...urls: string[]) => ({ id, targets: urls.map((u) => ({ url: u })) });
  const first = {
    upstreams: [upstream('users', url.users1, url.users2), upstream('catalog', url.catalog), upstream('legacy', url.legacy)],
    routes: [
      { id: 'users-api', match: { hosts: ['api.example.com'], paths: ['/users', '/users/:id'], methods: ['GET', 'POST'] }, upstream: 'users', policies: ['rl-default'] },
      { id: 'users-canary', match: { hosts: ['api.example.com'], paths: ['/users/*'], headers: { 'x-canary': '1' } }, upstream: 'users' },
      { id: 'catalog', match: { paths: ['/catalog', '/catalog/*'], methods: ['GET'] }, upstream: 'catalog', policies: ['rl-default'] },
      { id: 'legacy', match: { hosts: ['*.example.com'], paths: ['/*'] }, upstream: 'legacy' },
    ],
    policies: [{ id: 'rl-default', type: 'rate-limit', requestsPerSecond: 100, burst: 200 }],
  };
  const second = {
    ...first,
    upstreams: [...first.upstreams, upstream('orders', url.orders1, url.orders2)],
    routes: [...first.routes, { id: 'orders', match: { paths: ['/orders', '/orders/:id'], methods: ['GET', 'POST'] }, upstream: 'orders', policies: ['rl-strict'] }],
    policies: [...first.policies, { id: 'rl-strict', type: 'rate-limit', requestsPerSecond: 10 }],
  };
  return { first, second };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-screenshots-'));
  const started: Spawned[] = [];
  let stopServices = async (): Promise<unknown> => undefined;
  const load = new AbortController();
  let loading: Promise<void> = Promise.resolve();
  const etcd = new ManagedEtcd({ dataDir: join(dir, 'etcd') });
  try {
    await etcd.start();
    await writeFile(join(dir, 'token'), TOKEN);
    const jitter = (base: number, spread: number) => () => base + Math.random() * spread;
    const services = {
      users1: await demoUpstream(jitter(4, 12)),
      users2: await demoUpstream(jitter(4, 12)),
      // An occasional 503, and a minute of them a little after the start.
      catalog: await demoUpstream(jitter(1, 3), (t) => Math.random() < 0.02 || (t > 60_000 && t < 80_000 && Math.random() < 0.4)),
      legacy: await demoUpstream(() => (Math.random() < 0.05 ? 180 + Math.random() * 120 : 30 + Math.random() * 40)),
      orders1: await demoUpstream(jitter(8, 10)),
      orders2: await demoUpstream(jitter(8, 10)),
    };
    stopServices = () => Promise.all(Object.values(services).map((s) => s.close()));
    const { first: FIRST, second: SECOND } = configs(Object.fromEntries(Object.entries(services).map(([k, s]) => [k, s.url])) as Parameters<typeof configs>[0]);
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
    const proxies: string[] = [];
    for (const id of ['edge-1', 'edge-2']) {
      const [port, admin] = [await freePort(), await freePort()];
      started.push(launch(['proxy', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`, '--id', id]));
      await waitFor(`proxy ${id}`, async () => (await fetch(`http://127.0.0.1:${admin}/readyz`)).ok);
      proxies.push(`http://127.0.0.1:${port}`);
    }
    const trafficUntil = Date.now() + TRAFFIC_SECONDS * 1000;
    loading = sendDemoLoad(proxies, [
      { path: '/users/42', headers: { host: 'api.example.com' }, weight: 5 },
      { path: '/users/7', headers: { host: 'api.example.com', 'x-canary': '1' }, weight: 1 },
      { path: '/catalog/shoes', weight: 4 },
      { path: '/help/faq', headers: { host: 'www.example.com' }, weight: 2 },
      { path: '/orders/1001', weight: 2 },
      { path: '/nothing-here', weight: 0.3 },
    ], load.signal);

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
      // The traffic charts want a few minutes of history.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, trafficUntil - Date.now())));
      await page.getByRole('link', { name: 'Routes' }).click();
      await page.locator('#objects .metric').first().waitFor();
      await shot('routes');
      await page.getByRole('link', { name: 'Fleet' }).click();
      await page.locator('#fleet-traffic').waitFor();
      await shot('fleet', true);

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
    load.abort();
    await loading;
    await stopServices();
    for (const p of started.reverse()) await p.stop();
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`screenshots: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
