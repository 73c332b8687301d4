// `signalbox dev` as a user runs it: everything up, the demo reachable, Ctrl-C stops it all.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { freePort } from '../../src/util/ports.js';
import { spawn } from 'node:child_process';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { CLI } from '../helpers/launch.js';
import { getJson, runCli, spawnSignalbox, waitFor } from '../helpers/processes.js';

/** Whether a process with this PID exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('signalbox dev starts etcd, control plane, proxy (its own process) and echo upstream with the demo, and Ctrl-C stops them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-dev-'));
  after(() => rm(dir, { recursive: true, force: true }));
  // Not the demo file's 9100: the demo config must follow --echo-port.
  const ports = { proxy: await freePort(), api: await freePort(), admin: await freePort(), etcd: await freePort(), echo: await freePort() };
  const dev = spawnSignalbox([
    'dev', '--dir', dir, '--proxy-port', String(ports.proxy), '--api-port', String(ports.api),
    '--admin-port', String(ports.admin), '--etcd-port', String(ports.etcd), '--echo-port', String(ports.echo),
  ], { SIGNALBOX_LOG_LEVEL: 'info' });
  await waitFor('dev banner', () => dev.output().includes('Ctrl-C stops everything'), 30_000);
  const out = dev.output();
  const token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
  assert.ok(out.includes(`http://127.0.0.1:${ports.proxy}`), out);
  assert.ok(out.includes(`http://127.0.0.1:${ports.api}/api/v1`), out);
  assert.ok(out.includes(token), 'the banner shows the admin token');

  const hello = await fetch(`http://127.0.0.1:${ports.proxy}/hello/world`);
  assert.equal(hello.status, 200, 'the demo config points at the echo upstream on --echo-port');
  const echoed = (await hello.json()) as { upstream: string; url: string; headers: Record<string, string> };
  assert.equal(echoed.upstream, 'echo');
  assert.equal(echoed.url, '/hello/world');
  assert.equal(echoed.headers['x-forwarded-proto'], 'http');

  // The proxy runs in a process of its own, so nothing the control plane does in dev's process
  // reaches proxied traffic; its log lines still go to dev's log file.
  const { pid } = (await getJson<{ pid: number }>(`http://127.0.0.1:${ports.admin}/status`)).body;
  assert.equal(typeof pid, 'number');
  assert.notEqual(pid, dev.proc.pid);
  assert.ok(out.includes(`pid ${pid}`), 'the banner names the proxy process');
  assert.ok(alive(pid));
  await waitFor('the proxy\'s log lines in signalbox.log', async () => (await readFile(join(dir, 'signalbox.log'), 'utf8')).includes('"name":"proxy"'));

  const versions = await runCli(['get', 'versions', '-o', 'json', '--server', `http://127.0.0.1:${ports.api}`, '--token', token]);
  assert.equal(versions.code, 0, versions.stderr);
  assert.match(versions.stdout, /demo config/);

  dev.proc.kill('SIGINT');
  await once(dev.proc, 'exit');
  assert.equal(alive(pid), false, 'no proxy process left behind');
  await assert.rejects(fetch(`http://127.0.0.1:${ports.etcd}/health`), 'etcd was stopped with dev');
  await assert.rejects(fetch(`http://127.0.0.1:${ports.proxy}/hello`), 'the proxy was stopped with dev');
});

it('a proxy started by a parent over IPC (as dev starts it) stops, exit 0, when that parent goes away', async () => {
  const etcd = await startTestEtcd();
  const [port, admin] = [await freePort(), await freePort()];
  const proc = spawn(process.execPath, [CLI, 'proxy', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, SIGNALBOX_LOG_LEVEL: 'warn' },
  });
  atFileEnd(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  await waitFor('proxy ready', async () => (await fetch(`http://127.0.0.1:${admin}/readyz`)).ok);
  proc.disconnect(); // what dev dying does to the channel
  const code = await waitFor('the proxy to exit', () => (proc.exitCode ?? undefined) as number | undefined, 20_000);
  assert.equal(code, 0);
});

it('signalbox dev with a port already in use says which flag to change, in one line, and starts nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-dev-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const holder = createServer().listen(0, '127.0.0.1');
  await once(holder, 'listening');
  after(() => holder.close());
  const taken = (holder.address() as AddressInfo).port;
  const r = await runCli(['dev', '--dir', dir, '--proxy-port', String(taken), '--etcd-port', String(await freePort())]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `signalbox: dev: port ${taken} is in use (another program, or a signalbox dev still running); choose another with --proxy-port\n`);
  await assert.rejects(readFile(join(dir, 'etcd', 'etcd.log')), 'etcd was not started');
});
