// TLS to targets against real HTTPS upstreams, with a private CA made here with openssl: the CA
// given in tls.ca, the name in serverName (sent as SNI and verified), insecureSkipVerify, and a
// client certificate the upstream requires, for requests and health checks alike.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { before, describe, it, type TestContext } from 'node:test';
import { json, proxy, send, type Proxy } from '../helpers/data-plane.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { waitFor } from '../helpers/processes.js';

const T = { timeout: 20_000 };
const run = promisify(execFile);

interface Pems {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA; a server certificate for users.internal and 127.0.0.1; a client certificate. */
async function makeCerts(): Promise<Pems> {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-upstream-tls-'));
  atFileEnd(() => rm(dir, { recursive: true, force: true }));
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=upstream-test-ca');
  const signed = async (name: string, cn: string, ext: string) => {
    await writeFile(f(`${name}.ext`), ext);
    await openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    await openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-out', f(`${name}.pem`), '-extfile', f(`${name}.ext`));
  };
  await signed('server', 'users.internal', 'subjectAltName=DNS:users.internal,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await signed('client', 'signalbox', 'extendedKeyUsage=clientAuth\n');
  const read = (name: string) => readFile(f(name), 'utf8');
  return { ca: await read('ca.pem'), serverCert: await read('server.pem'), serverKey: await read('server.key'), clientCert: await read('client.pem'), clientKey: await read('client.key') };
}

interface Secure {
  url: string;
  /** SNI of each handshake, in order (null: none sent). */
  snis: (string | null)[];
  /** CN of the client certificate of each request, when one was presented. */
  clients: (string | null)[];
  checks: number;
}

async function httpsUpstream(t: TestContext, options: ServerOptions): Promise<Secure> {
  const state: Secure = { url: '', snis: [], clients: [], checks: 0 };
  const server = createServer(options, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    state.clients.push(peer && peer.subject ? String(peer.subject.CN) : null);
    if (req.url === '/healthz') state.checks++;
    res.end('secure');
  });
  server.on('secureConnection', (s: TLSSocket) => state.snis.push(typeof s.servername === 'string' ? s.servername : null));
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  state.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

const doc = (url: string, upstream: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  upstreams: [{ id: 'u', targets: [{ url }], ...upstream }],
  routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
  ...extra,
});

async function ask(p: Proxy) {
  const r = await send(p.url, '/x');
  return { status: r.status, body: r.status === 200 ? r.body : json(r) };
}

describe('upstream tls', () => {
  let pems: Pems;
  before(async () => {
    pems = await makeCerts();
  });

  it('trusts the private CA given in tls.ca; without it the target is refused with 502', T, async (t) => {
    const up = await httpsUpstream(t, { cert: pems.serverCert, key: pems.serverKey });
    assert.deepEqual(await ask(await proxy(t, doc(up.url, { tls: { ca: pems.ca } }))), { status: 200, body: 'secure' });
    assert.deepEqual(up.snis, [null], 'an IP address is not sent as SNI');
    assert.deepEqual(await ask(await proxy(t, doc(up.url, {}))), { status: 502, body: { error: 'bad_gateway' } }, "Node's bundled CAs do not know it");
  });

  it('sends serverName as SNI and verifies the certificate against it: another name is refused with 502', T, async (t) => {
    const up = await httpsUpstream(t, { cert: pems.serverCert, key: pems.serverKey });
    assert.deepEqual(await ask(await proxy(t, doc(up.url, { tls: { ca: pems.ca, serverName: 'users.internal' } }))), { status: 200, body: 'secure' });
    assert.deepEqual(up.snis, ['users.internal']);
    assert.deepEqual(await ask(await proxy(t, doc(up.url, { tls: { ca: pems.ca, serverName: 'orders.internal' } }))), { status: 502, body: { error: 'bad_gateway' } });
  });

  it('with insecureSkipVerify, accepts a certificate no CA it knows vouches for, for any name', T, async (t) => {
    const up = await httpsUpstream(t, { cert: pems.serverCert, key: pems.serverKey });
    assert.deepEqual(await ask(await proxy(t, doc(up.url, { tls: { insecureSkipVerify: true, serverName: 'orders.internal' } }))), { status: 200, body: 'secure' });
    assert.deepEqual(up.snis, ['orders.internal']);
  });

  it('presents the client certificate an upstream requires (mTLS), to requests and health checks alike', T, async (t) => {
    const up = await httpsUpstream(t, { cert: pems.serverCert, key: pems.serverKey, ca: pems.ca, requestCert: true, rejectUnauthorized: true });
    const certificates = [{ id: 'client', snis: [], cert: pems.clientCert, key: pems.clientKey }];
    const healthCheck = { path: '/healthz', intervalMs: 100, unhealthyThreshold: 1 };

    const without = await proxy(t, doc(up.url, { tls: { ca: pems.ca }, healthCheck }));
    assert.deepEqual(await ask(without), { status: 502, body: { error: 'bad_gateway' } });
    const refused = without.holder.current!.upstreams.get('u')!.targets[0]!.checker!;
    await waitFor('a refused check', () => refused.last?.result === 'error');

    const p = await proxy(t, doc(up.url, { tls: { ca: pems.ca, clientCertificate: 'client' }, healthCheck }, { certificates }));
    assert.deepEqual(await ask(p), { status: 200, body: 'secure' });
    const checker = p.holder.current!.upstreams.get('u')!.targets[0]!.checker!;
    await waitFor('a check that passed', () => checker.last?.result === 'pass');
    assert.ok(up.checks >= 1);
    assert.ok(up.clients.length >= 2 && up.clients.every((cn) => cn === 'signalbox'), JSON.stringify(up.clients));
  });
});
