// What the forwarding benchmark measures Signalbox against: the upstream itself, nginx as a
// reverse proxy and a hand-written Node proxy. Every one is a child process on 127.0.0.1, in the
// foreground, ended by its own PID (through Children).
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/util/ports.js';
import { waitForProcess, type Spawned } from '../test/helpers/launch.js';
import type { Children } from './stack.js';

/** What the upstream answers to every request (nginx and the Node fallback alike). */
export const BODY = 'signalbox forwarding bench: a fixed 200 body\n';

const NODE_SERVERS = fileURLToPath(new URL('./node-servers.js', import.meta.url));

/** A program on PATH, or in the sbin folders a non-root PATH often leaves out (Debian's nginx). */
export function findProgram(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** Wait until `url` answers 200; fail at once with the process's output if it exits first. */
export async function waitServing(what: string, url: string, p: Spawned): Promise<void> {
  await waitForProcess(p, what, async () => (await fetch(url)).ok);
}

export async function tempDir(children: Children, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `signalbox-bench-${name}-`));
  children.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * nginx from its own temp prefix. `daemon off` keeps it in the foreground and `master_process
 * off` makes it one process (its worker's work, without a master), so it is the PID we spawned
 * and nothing outlives it; one process is also what a Signalbox proxy is. With `workers` above 1
 * it runs a master and that many workers, as `signalbox proxy --workers N` does; the master,
 * the PID we spawned, stops them when it is stopped (SIGTERM: fast shutdown).
 */
export async function startNginx(children: Children, nginx: string, name: string, http: string, workers = 1): Promise<Spawned> {
  const dir = await tempDir(children, name);
  const conf = [
    'daemon off;',
    ...(workers > 1 ? ['master_process on;', `worker_processes ${workers};`] : ['master_process off;']),
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 4096; }',
    'http {',
    '  access_log off;',
    // Its own temp paths: the compiled-in ones (/var/lib/nginx) may not exist or be writable.
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`),
    // wrk and the proxies keep their connections for the whole run; nginx's default would close
    // each after 1,000 requests and measure reconnects instead.
    '  keepalive_requests 1000000;',
    http,
    '}',
  ].join('\n');
  await writeFile(join(dir, 'nginx.conf'), conf);
  // -e: the error log before the config is read would otherwise be /var/log/nginx/error.log.
  return children.spawn(nginx, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]);
}

export interface Upstream {
  kind: string;
  /** The same server on two ports: the weighted targets of the measured upstream. */
  targets: string[];
}

/**
 * nginx answering a fixed 200 when installed: it spends the least of the shared CPU per request,
 * which leaves the most to the proxy being measured. A Node http server otherwise.
 */
export async function startUpstream(children: Children, nginx: string | null): Promise<Upstream> {
  const ports = [await freePort(), await freePort()];
  const targets = ports.map((port) => `http://127.0.0.1:${port}`);
  let p: Spawned;
  if (nginx) {
    const listen = ports.map((port) => `listen 127.0.0.1:${port};`).join(' ');
    p = await startNginx(children, nginx, 'upstream', `  server { ${listen} default_type text/plain; location / { return 200 ${JSON.stringify(BODY)}; } }`);
  } else {
    p = children.spawn(process.execPath, [NODE_SERVERS, 'upstream', ...ports.map(String)]);
  }
  await Promise.all(targets.map((t) => waitServing(`upstream ${t}`, t, p)));
  return { kind: nginx ? 'nginx (return 200), 1 process' : 'node:http (nginx not installed), 1 process', targets };
}

/** A proxy under test: where it listens and its process, whose CPU time the bench reads. */
export interface ProxyUnderTest {
  url: string;
  pid: number;
}

/** nginx as the reverse proxy, `http` being its upstreams and server (see routes.ts). */
export async function startNginxProxy(children: Children, nginx: string, http: (port: number) => string, probePath: string, workers = 1): Promise<ProxyUnderTest> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const p = await startNginx(children, nginx, 'proxy', http(port), workers);
  await waitServing('nginx proxy', `${url}${probePath}`, p);
  return { url, pid: p.proc.pid! };
}

/**
 * A Node proxy of node-servers.ts: `proxy`, the one a team would hand-write (node:http in, an
 * undici keep-alive pool per target out), or `floor`, the least such a proxy can do; the floor
 * runs as `workers` node:cluster workers behind one port when that is above 1.
 */
export async function startNodeProxy(children: Children, kind: 'proxy' | 'floor', targets: string[], probePath: string, workers = 1): Promise<ProxyUnderTest> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const p = children.spawn(process.execPath, [NODE_SERVERS, kind, String(port), ...targets], { WORKERS: String(workers) });
  await waitServing('node proxy', `${url}${probePath}`, p);
  return { url, pid: p.proc.pid! };
}
