// Real signalbox processes for end-to-end tests, started through the CLI users run and ended by PID.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/util/ports.js';
import { atFileEnd } from './cleanup.js';
import { CLI, launch, waitForProcess, type Spawned } from './launch.js';

export { waitFor, waitForProcess, type Spawned } from './launch.js';

/**
 * How long a process may take to start serving. Not a timing goal: one that exits fails at once;
 * this only bounds a start on a machine that other test files load at the same time.
 */
const START_MS = 30_000;

/** Start a signalbox process that is stopped when the test file ends (or earlier, by stop()). */
export function spawnSignalbox(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const p = launch(args, env);
  atFileEnd(p.stop);
  return p;
}

/** Run a CLI command to completion: exit code and output. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(proc, 'exit')) as [number];
  return { code, stdout, stderr };
}

export async function getJson<T = Record<string, unknown>>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as T };
}

export interface Stack {
  etcd: string;
  prefix: string;
  api: string;
  token: string;
  env: NodeJS.ProcessEnv;
  dir: string;
}

/** One call to the control plane's API with the stack's admin token: the status and the body as text. */
export async function callApi(stack: Stack, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${stack.api}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/** A control plane process against `etcd`, with a token file; the env a CLI call needs. */
export async function startControlPlaneProcess(etcd: string, prefix = '/signalbox'): Promise<Stack & { cp: Spawned }> {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-e2e-'));
  const token = `t-${Math.random().toString(36).slice(2)}`;
  await writeFile(join(dir, 'token'), token);
  const port = await freePort();
  const cp = spawnSignalbox(['control-plane', '--etcd', etcd, '--prefix', prefix, '--listen', `127.0.0.1:${port}`, '--admin-token-file', join(dir, 'token')]);
  const api = `http://127.0.0.1:${port}`;
  await waitForProcess(cp, 'control plane /healthz', async () => (await fetch(`${api}/healthz`)).ok, START_MS);
  return { etcd, prefix, api, token, dir, cp, env: { SIGNALBOX_SERVER: api, SIGNALBOX_TOKEN: token } };
}

export interface ProxyProcess extends Spawned {
  url: string;
  admin: string;
  status(): Promise<Record<string, unknown> & { version: number | null; lastError: { errors: string[] } | null; etcd: string }>;
}

export async function startProxyProcess(
  etcd: string,
  opts: { prefix?: string; id?: string; waitReady?: boolean; args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<ProxyProcess> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const p = spawnSignalbox([
    'proxy', '--etcd', etcd, '--prefix', opts.prefix ?? '/signalbox', '--listen', `127.0.0.1:${port}`,
    '--admin-listen', `127.0.0.1:${adminPort}`, '--id', opts.id ?? `proxy-${port}`, ...(opts.args ?? []),
  ], opts.env);
  const admin = `http://127.0.0.1:${adminPort}`;
  const status = async () => (await getJson<Awaited<ReturnType<ProxyProcess['status']>>>(`${admin}/status`)).body;
  if (opts.waitReady ?? true) await waitForProcess(p, 'proxy ready', async () => (await fetch(`${admin}/readyz`)).ok, START_MS);
  return { ...p, url: `http://127.0.0.1:${port}`, admin, status };
}

/** Write a config document to a temp file for `signalbox apply -f`. */
export async function writeDoc(dir: string, name: string, doc: unknown): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(doc, null, 2));
  return file;
}
