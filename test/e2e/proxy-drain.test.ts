// SIGTERM drains a real `signalbox proxy` process: /readyz turns 503 at once, no new connection
// is accepted, idle keep-alive connections close, requests in flight finish (or are cut at the
// drain timeout), the registry entry goes, and the process exits 0.
import assert from 'node:assert/strict';
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { it } from 'node:test';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { ProxyRegistry } from '../../src/store/proxy-registry.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { startProxyProcess, waitFor, type ProxyProcess } from '../helpers/processes.js';
import { singleRouteDoc, startUpstream } from '../helpers/upstreams.js';

const keys = new Keys();

/** An upstream whose /slow answers "first-" at once and "second" on release; /late sends nothing until release. */
async function slowUpstream() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const up = await startUpstream('fast', (req, res) => {
    if (req.url === '/slow') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first-');
      void released.then(() => res.end('second'));
      return true;
    }
    if (req.url === '/late') {
      void released.then(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('late');
      });
      return true;
    }
    if (req.url === '/never') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      return true;
    }
    return false;
  });
  return { up, release };
}

async function proxyWithConfig(upstreamUrl: string, opts: { args?: string[]; env?: NodeJS.ProcessEnv; id: string }) {
  const etcd = await startTestEtcd();
  const client = createEtcdClient([etcd.endpoint]);
  atFileEnd(() => client.close());
  const doc = validateDocument(singleRouteDoc(upstreamUrl));
  assert.ok(doc.ok);
  await new ConfigWriter(client, keys).write(doc.config, { author: 'test', source: 'api', message: 'drain' });
  const proxy = await startProxyProcess(etcd.endpoint, opts);
  return { proxy, client };
}

interface InFlight {
  res: Promise<IncomingMessage>;
  body: Promise<string>;
  /** Settles when the response ended (true) or broke off (false). */
  whole: Promise<boolean>;
  chunks: string[];
}

function get(proxy: ProxyProcess, path: string): InFlight {
  const chunks: string[] = [];
  let onRes!: (r: IncomingMessage) => void;
  const res = new Promise<IncomingMessage>((resolve) => (onRes = resolve));
  const whole = new Promise<boolean>((resolve) => {
    const req = request(`${proxy.url}${path}`, { agent: false }, (r) => {
      onRes(r);
      r.setEncoding('utf8');
      r.on('data', (c: string) => chunks.push(c));
      r.on('end', () => resolve(true));
      r.on('aborted', () => resolve(false));
      r.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
  return { res, chunks, whole, body: whole.then(() => chunks.join('')) };
}

/** A keep-alive connection that served one request and now sits idle; `closed` resolves when the proxy closes it. */
async function idleKeepAlive(proxy: ProxyProcess): Promise<{ closed: Promise<void> }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  atFileEnd(() => agent.destroy());
  const { socket, connection } = await new Promise<{ socket: Socket; connection?: string }>((resolve, reject) => {
    const req = request(`${proxy.url}/fast`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ socket: req.socket!, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(connection, 'keep-alive');
  return { closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

function connectionRefused(proxy: ProxyProcess): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(proxy.url).port), '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const exitCode = (proxy: ProxyProcess) => waitFor('the proxy to exit', () => (proxy.proc.exitCode ?? undefined) as number | undefined, 20_000);

it('SIGTERM: readyz 503 at once, new connections refused, idle keep-alive closed, in-flight responses finish whole, exit 0', async () => {
  const { up, release } = await slowUpstream();
  const { proxy, client } = await proxyWithConfig(up.url, { args: ['--drain-timeout-ms', '20000'], id: 'draining-proxy' });
  await waitFor('registered', async () => (await ProxyRegistry.list(client, keys)).some((p) => p.id === 'draining-proxy'));

  const idle = await idleKeepAlive(proxy);
  const slow = get(proxy, '/slow');
  await waitFor('the first half of /slow', () => slow.chunks.join('') === 'first-');
  const late = get(proxy, '/late');
  await waitFor('/late reached the upstream', () => up.seen.includes('/late'));
  let slowEnded = false;
  void slow.whole.then(() => (slowEnded = true));

  proxy.proc.kill('SIGTERM');
  await waitFor('/readyz 503', async () => (await fetch(`${proxy.admin}/readyz`)).status === 503);
  assert.equal(slowEnded, false, '/readyz turned 503 while /slow was still in flight');
  const status = await proxy.status();
  assert.equal(status.draining, true);
  assert.equal(status.ready, false);
  assert.equal((await fetch(`${proxy.admin}/healthz`)).status, 200, 'still alive while draining');
  assert.equal(await connectionRefused(proxy), 'ECONNREFUSED', 'a new connection is refused');
  await idle.closed; // the idle keep-alive connection is closed, not left to its timeout
  assert.equal(slowEnded, false, 'the idle connection closed while /slow was still in flight');

  release();
  assert.equal(await slow.body, 'first-second', 'the in-flight response completed whole');
  assert.equal(await slow.whole, true);
  const lateRes = await late.res;
  assert.equal(lateRes.headers.connection, 'close', 'a response started during the drain says its connection ends');
  assert.equal(await late.body, 'late');

  assert.equal(await exitCode(proxy), 0);
  assert.equal((await ProxyRegistry.list(client, keys)).some((p) => p.id === 'draining-proxy'), false, 'the registry entry is gone');
});

it('the drain timeout (SIGNALBOX_DRAIN_TIMEOUT_MS) cuts a request that never ends, then the proxy exits 0', async () => {
  const { up } = await slowUpstream();
  const { proxy } = await proxyWithConfig(up.url, { env: { SIGNALBOX_DRAIN_TIMEOUT_MS: '300' }, id: 'cut-proxy' });
  const never = get(proxy, '/never');
  await waitFor('the first bytes of /never', () => never.chunks.join('') === 'partial');

  proxy.proc.kill('SIGTERM');
  assert.equal(await never.whole, false, 'the request was cut, not completed');
  assert.equal(await exitCode(proxy), 0);
  assert.match(proxy.output(), /drain timeout reached/);
});

it('a drain timeout that is not a whole number is a usage error', async () => {
  const proxy = await startProxyProcess('http://127.0.0.1:1', { args: ['--drain-timeout-ms', '5s'], waitReady: false });
  assert.equal(await exitCode(proxy), 2);
  assert.equal(proxy.output(), 'signalbox: --drain-timeout-ms must be a whole number of at least 0, got "5s"\n');
});
