// The control plane and a proxy as users run them against a production-like etcd: client TLS with
// client certificates (flags), and an RBAC user (environment variables). Real processes, real
// etcds, certificates made with openssl by the test.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createEtcdClient } from '../../src/store/client.js';
import { freePort } from '../../src/util/ports.js';
import { enableAuth, makeTestCerts, startTestEtcd } from '../helpers/etcd.js';
import { runCli, spawnSignalbox, startProxyProcess, waitFor, waitForProcess, writeDoc } from '../helpers/processes.js';
import { singleRouteDoc, startUpstream } from '../helpers/upstreams.js';

const PASSWORD = 'cp-and-proxy-pw-4e1b';

/** A control plane with these extra args/env; its API URL and the env a CLI call needs. */
async function controlPlane(etcd: string, args: string[], env: NodeJS.ProcessEnv) {
  const port = await freePort();
  const cp = spawnSignalbox(['control-plane', '--etcd', etcd, '--listen', `127.0.0.1:${port}`, '--insecure', ...args], env);
  const api = `http://127.0.0.1:${port}`;
  await waitForProcess(cp, 'control plane /healthz', async () => (await fetch(`${api}/healthz`)).ok);
  return { cp, api };
}

/** Apply a one-route config through the control plane; the proxy serves it. */
async function appliedAndServed(api: string, proxy: { url: string; status(): Promise<{ version: number | null }> }): Promise<void> {
  const upstream = await startUpstream('secured-upstream');
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-secured-'));
  const file = await writeDoc(dir, 'config.json', singleRouteDoc(upstream.url));
  const applied = await runCli(['apply', '-f', file, '--server', api]);
  assert.equal(applied.code, 0, applied.stderr);
  await waitFor('the proxy applies version 1', async () => (await proxy.status()).version === 1);
  const res = await fetch(`${proxy.url}/anything`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'secured-upstream');
}

test('control plane and proxy reach an etcd with client TLS through --etcd-cacert, --etcd-cert and --etcd-key', async () => {
  const certs = await makeTestCerts();
  const etcd = await startTestEtcd({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFile: certs.ca } });
  const tlsArgs = ['--etcd-cacert', certs.ca, '--etcd-cert', certs.clientCert, '--etcd-key', certs.clientKey];
  const { api } = await controlPlane(etcd.endpoint, tlsArgs, {});
  const proxy = await startProxyProcess(etcd.endpoint, { args: tlsArgs });
  await appliedAndServed(api, proxy);
  assert.equal((await proxy.status()).etcd, 'connected');
});

test('control plane and proxy log in as an etcd user from SIGNALBOX_ETCD_USER and _PASSWORD; the password is printed nowhere', async () => {
  const etcd = await startTestEtcd();
  const admin = createEtcdClient(etcd.endpoint);
  await enableAuth(admin, { name: 'gateway', password: PASSWORD, prefix: '/signalbox/' });
  admin.close();
  const env = { SIGNALBOX_ETCD_USER: 'gateway', SIGNALBOX_ETCD_PASSWORD: PASSWORD, SIGNALBOX_LOG_LEVEL: 'debug' };
  const { cp, api } = await controlPlane(etcd.endpoint, [], env);
  const proxy = await startProxyProcess(etcd.endpoint, { env });
  await appliedAndServed(api, proxy);
  assert.ok(!cp.output().includes(PASSWORD), 'the control plane never prints the password');
  assert.ok(!proxy.output().includes(PASSWORD), 'the proxy never prints the password');
});

test('a client certificate without its key is a usage error naming both flags', async () => {
  const certs = await makeTestCerts();
  const port = await freePort();
  const r = await runCli(['control-plane', '--etcd', 'https://127.0.0.1:1', '--listen', `127.0.0.1:${port}`, '--insecure', '--etcd-cert', certs.clientCert]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--etcd-cert needs the client certificate's private key: --etcd-key/);
});
