// `signalbox dev`: the whole system on one machine, for a first look and for local work.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { loadConfigFiles } from '../config/load.js';
import { formatIssue } from '../config/validate.js';
import { startControlPlane } from '../control-plane/server.js';
import { startProxy } from '../proxy/main.js';
import { createEtcdClient } from '../store/client.js';
import { ConfigWriter } from '../store/config-writer.js';
import { Keys } from '../store/keys.js';
import { startEchoUpstream } from './echo-upstream.js';
import { portTaken } from '../net.js';
import { ManagedEtcd } from './managed-etcd.js';
import { freePort } from '../util/ports.js';

export interface DevOptions {
  dir: string;
  proxyPort: number;
  apiPort: number;
  adminPort: number;
  echoPort: number;
  etcdPort: number;
  prefix: string;
  logger: Logger;
  logFile: string;
}

export const DEMO_FILE = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));

async function devToken(dir: string): Promise<{ token: string; file: string }> {
  const file = join(dir, 'admin-token');
  if (existsSync(file)) return { token: (await readFile(file, 'utf8')).trim(), file };
  const token = randomBytes(24).toString('base64url');
  await writeFile(file, token + '\n', { mode: 0o600 });
  return { token, file };
}

/** Ports the user chose must be free; etcd's default ones are often held by a system etcd. */
async function checkPorts(opts: DevOptions): Promise<{ etcdPort: number; peerPort: number; note: string }> {
  for (const [flag, port] of [['--proxy-port', opts.proxyPort], ['--api-port', opts.apiPort], ['--admin-port', opts.adminPort], ['--echo-port', opts.echoPort]] as const) {
    if (await portTaken(port)) throw new Error(`port ${port} is in use (another program, or a signalbox dev still running); choose another with ${flag}`);
  }
  if (!(await portTaken(opts.etcdPort)) && !(await portTaken(opts.etcdPort + 1))) return { etcdPort: opts.etcdPort, peerPort: opts.etcdPort + 1, note: '' };
  const [etcdPort, peerPort] = [await freePort(), await freePort()];
  return { etcdPort, peerPort, note: `   (${opts.etcdPort} was in use, e.g. by a system etcd)` };
}

export async function runDev(opts: DevOptions): Promise<{ close(): Promise<void> }> {
  const dir = resolve(opts.dir);
  await mkdir(dir, { recursive: true });
  const ports = await checkPorts(opts);
  const stack: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const step of stack.reverse()) await step().catch(() => undefined);
  };
  try {
    const etcd = new ManagedEtcd({ dataDir: join(dir, 'etcd'), clientPort: ports.etcdPort, peerPort: ports.peerPort });
    await etcd.start();
    stack.push(() => etcd.stop());

    const echo = await startEchoUpstream({ host: '127.0.0.1', port: opts.echoPort });
    stack.push(() => new Promise((r) => echo.server.close(() => r())));

    const { token, file: tokenFile } = await devToken(dir);
    const cp = await startControlPlane({
      etcd: [etcd.endpoint],
      prefix: opts.prefix,
      listen: { host: '127.0.0.1', port: opts.apiPort },
      token,
      logger: opts.logger.child({ component: 'control-plane' }),
    });
    stack.push(() => cp.close());

    const demo = await applyDemoIfEmpty(etcd.endpoint, opts.prefix);

    const proxy = await startProxy({
      id: 'dev-proxy',
      etcd: [etcd.endpoint],
      prefix: opts.prefix,
      listen: { host: '127.0.0.1', port: opts.proxyPort },
      adminListen: { host: '127.0.0.1', port: opts.adminPort },
      logger: opts.logger.child({ component: 'proxy' }),
    });
    stack.push(() => proxy.close());

    const lines = [
      '',
      'Signalbox dev is running. Ctrl-C stops everything it started.',
      `  proxy          ${proxy.urls.http}`,
      `  proxy admin    ${proxy.urls.admin}/status`,
      `  control plane  ${cp.url}/api/v1`,
      `  dashboard      ${cp.url}/   (log in with the admin token)`,
      `  admin token    ${token}   (also in ${tokenFile}; the CLI reads it from there)`,
      `  etcd           ${etcd.endpoint}   (data in ${join(dir, 'etcd')})${ports.note}`,
      `  echo upstream  ${echo.url}`,
      `  config         ${demo}`,
      `  logs           ${opts.logFile}`,
      '',
      `Try:  curl ${proxy.urls.http}/hello`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
    return { close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function applyDemoIfEmpty(endpoint: string, prefix: string): Promise<string> {
  const client = createEtcdClient([endpoint]);
  try {
    const writer = new ConfigWriter(client, new Keys(prefix));
    const live = await writer.readCommitted();
    if (live.version) return `version ${live.version.version} already in etcd (demo not applied)`;
    const demo = await loadConfigFiles([DEMO_FILE]);
    if (!demo.ok) throw new Error(`examples/demo.yaml is invalid:\n${demo.issues.map(formatIssue).join('\n')}`);
    const written = await writer.write(demo.config, { author: 'signalbox dev', source: 'cli', message: 'demo config (examples/demo.yaml)' });
    return `examples/demo.yaml applied as version ${written.version.version}`;
  } finally {
    client.close();
  }
}
