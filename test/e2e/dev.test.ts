// `signalbox dev` as a user runs it: everything up, the demo reachable, Ctrl-C stops it all.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { freePort } from '../../src/util/ports.js';
import { runCli, spawnSignalbox, waitFor } from '../helpers/processes.js';

it('signalbox dev starts etcd, control plane, proxy and echo upstream with the demo, and Ctrl-C stops them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-dev-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const ports = { proxy: await freePort(), api: await freePort(), admin: await freePort(), etcd: await freePort() };
  const dev = spawnSignalbox([
    'dev', '--dir', dir, '--proxy-port', String(ports.proxy), '--api-port', String(ports.api),
    '--admin-port', String(ports.admin), '--etcd-port', String(ports.etcd), '--echo-port', '9100',
  ]);
  await waitFor('dev banner', () => dev.output().includes('Ctrl-C stops everything'), 30_000);
  const out = dev.output();
  const token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
  assert.ok(out.includes(`http://127.0.0.1:${ports.proxy}`), out);
  assert.ok(out.includes(`http://127.0.0.1:${ports.api}/api/v1`), out);
  assert.ok(out.includes(token), 'the banner shows the admin token');

  const echoed = (await (await fetch(`http://127.0.0.1:${ports.proxy}/hello/world`)).json()) as { upstream: string; url: string; headers: Record<string, string> };
  assert.equal(echoed.upstream, 'echo');
  assert.equal(echoed.url, '/hello/world');
  assert.equal(echoed.headers['x-forwarded-proto'], 'http');

  const versions = await runCli(['get', 'versions', '-o', 'json', '--server', `http://127.0.0.1:${ports.api}`, '--token', token]);
  assert.equal(versions.code, 0, versions.stderr);
  assert.match(versions.stdout, /demo config/);

  dev.proc.kill('SIGINT');
  await once(dev.proc, 'exit');
  await assert.rejects(fetch(`http://127.0.0.1:${ports.etcd}/health`), 'etcd was stopped with dev');
  await assert.rejects(fetch(`http://127.0.0.1:${ports.proxy}/hello`), 'the proxy was stopped with dev');
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
