// `signalbox dev`: the whole system on one machine, for a first look and for local work.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { loadConfigFiles } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { formatIssue } from '../config/validate.js';
import { startControlPlane } from '../control-plane/server.js';
import { createEtcdClient } from '../store/client.js';
import { ConfigWriter } from '../store/config-writer.js';
import { Keys } from '../store/keys.js';
import { startEchoUpstream } from './echo-upstream.js';
import { portTaken } from '../net.js';
import { ManagedEtcd } from './managed-etcd.js';
import { freePort } from '../util/ports.js';
import { ProxyChild } from './proxy-child.js';

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

/** Ctrl-C should stop dev soon: requests in flight get this long, not a production proxy's 30 s. */
const DEV_DRAIN_TIMEOUT_MS = 5_000;

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

    const demo = await applyDemoIfEmpty(etcd.endpoint, opts.prefix, echo.url);

    const proxy = await ProxyChild.start({
      id: 'dev-proxy',
      etcd: etcd.endpoint,
      prefix: opts.prefix,
      listen: { host: '127.0.0.1', port: opts.proxyPort },
      adminListen: { host: '127.0.0.1', port: opts.adminPort },
      drainTimeoutMs: DEV_DRAIN_TIMEOUT_MS,
      logFile: opts.logFile,
    });
    stack.push(() => proxy.stop());

    const lines = [
      '',
      'Signalbox dev is running. Ctrl-C stops everything it started.',
      `  proxy          ${proxy.url}   (its own process, pid ${proxy.pid})`,
      `  proxy admin    ${proxy.adminUrl}/status`,
      `  control plane  ${cp.url}/api/v1`,
      `  dashboard      ${cp.url}/   (log in with the admin token)`,
      `  admin token    ${token}   (also in ${tokenFile}; the CLI reads it from there)`,
      `  etcd           ${etcd.endpoint}   (data in ${join(dir, 'etcd')})${ports.note}`,
      `  echo upstream  ${echo.url}`,
      `  config         ${demo}`,
      `  logs           ${opts.logFile}`,
      '',
      `Try:  curl ${proxy.url}/hello`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
    return { close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * examples/demo.yaml, its echo upstream pointed at the one dev started (the file says port 9100;
 * --echo-port may choose another), written if etcd holds no config yet.
 */
async function applyDemoIfEmpty(endpoint: string, prefix: string, echoUrl: string): Promise<string> {
  const client = createEtcdClient([endpoint]);
  try {
    const writer = new ConfigWriter(client, new Keys(prefix));
    const live = await writer.readCommitted();
    if (live.version) {
      const elsewhere = live.config.upstreams.find((u) => u.id === 'echo' && u.targets.every((t) => t.url !== echoUrl));
      const note = elsewhere ? `; its upstream "echo" points at ${elsewhere.targets.map((t) => t.url).join(', ')}, not at ${echoUrl}` : '';
      return `version ${live.version.version} already in etcd (demo not applied${note})`;
    }
    const demo = await loadConfigFiles([DEMO_FILE]);
    if (!demo.ok) throw new Error(`examples/demo.yaml is invalid:\n${demo.issues.map(formatIssue).join('\n')}`);
    const written = await writer.write(pointAtEcho(demo.config, echoUrl), { author: 'signalbox dev', source: 'cli', message: 'demo config (examples/demo.yaml)' });
    return `examples/demo.yaml applied as version ${written.version.version}`;
  } finally {
    client.close();
  }
}

function pointAtEcho(config: Config, echoUrl: string): Config {
  return { ...config, upstreams: config.upstreams.map((u) => (u.id === 'echo' ? { ...u, targets: [{ url: echoUrl }] } : u)) };
}
