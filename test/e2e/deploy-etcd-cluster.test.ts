// The worked example of deploy/etcd-cluster, run on loopback: its make-certs.sh makes the
// certificates, its etcd.env configures three etcd members (ports moved apart, since they share
// one address), and a control plane and a proxy reach them with the Signalbox settings the
// example gives. Then a member stops and the fleet carries on. The RBAC user of the example is
// covered by etcd-secured.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../src/util/ports.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { spawnProcess } from '../helpers/launch.js';
import { runCli, spawnSignalbox, startProxyProcess, waitForProcess, writeDoc } from '../helpers/processes.js';
import { singleRouteDoc, startUpstream } from '../helpers/upstreams.js';

const EXAMPLE = fileURLToPath(new URL('../../../deploy/etcd-cluster/', import.meta.url));
const run = promisify(execFile);

/** etcd.env as a member's environment: placeholders, ports and paths of this run. */
async function memberEnv(member: { name: string; client: number; peer: number; dataDir: string }, cluster: string, pki: string): Promise<NodeJS.ProcessEnv> {
  const text = (await readFile(join(EXAMPLE, 'etcd.env'), 'utf8'))
    .replaceAll('@NAME@', member.name)
    .replaceAll('@IP@', '127.0.0.1')
    .replaceAll(':2379', `:${member.client}`)
    .replaceAll(':2380', `:${member.peer}`)
    .replaceAll('@CLUSTER@', cluster)
    .replaceAll('/var/lib/etcd/default', member.dataDir)
    .replaceAll('/etc/etcd/pki', pki);
  const env: NodeJS.ProcessEnv = {};
  for (const line of text.split('\n')) {
    const m = /^(ETCD_[A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

test('the 3-member TLS etcd of deploy/etcd-cluster serves a control plane and a proxy, and survives losing a member', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-cluster-'));
  atFileEnd(() => rm(dir, { recursive: true, force: true }));
  const pki = join(dir, 'pki');
  await run(join(EXAMPLE, 'make-certs.sh'), [pki, 'etcd-1=127.0.0.1', 'etcd-2=127.0.0.1', 'etcd-3=127.0.0.1']);

  const members = [];
  for (const name of ['etcd-1', 'etcd-2', 'etcd-3']) members.push({ name, client: await freePort(), peer: await freePort(), dataDir: join(dir, name) });
  const cluster = members.map((m) => `${m.name}=https://127.0.0.1:${m.peer}`).join(',');
  const etcds = [];
  for (const m of members) {
    const p = spawnProcess('etcd', [], await memberEnv(m, cluster, pki));
    atFileEnd(p.stop);
    etcds.push(p);
  }

  // The Signalbox settings of the example's step 4, but for the user.
  const env = {
    SIGNALBOX_ETCD: members.map((m) => `https://127.0.0.1:${m.client}`).join(','),
    SIGNALBOX_ETCD_CACERT: join(pki, 'ca.pem'),
    SIGNALBOX_ETCD_CERT: join(pki, 'signalbox-client.pem'),
    SIGNALBOX_ETCD_KEY: join(pki, 'signalbox-client-key.pem'),
  };
  const port = await freePort();
  const cp = spawnSignalbox(['control-plane', '--listen', `127.0.0.1:${port}`, '--insecure'], env);
  const api = `http://127.0.0.1:${port}`;
  await waitForProcess(cp, 'control plane', async () => (await fetch(`${api}/healthz`)).ok, 30_000);
  const proxy = await startProxyProcess(env.SIGNALBOX_ETCD, { env, waitReady: false });

  const a = await startUpstream('first');
  const b = await startUpstream('second');
  const apply = async (upstream: string, version: number) => {
    const r = await runCli(['apply', '-f', await writeDoc(dir, `v${version}.json`, singleRouteDoc(upstream)), '--server', api]);
    assert.equal(r.code, 0, r.stderr);
    await waitForProcess(proxy, `proxy at version ${version}`, async () => (await proxy.status()).version === version, 30_000);
  };
  await apply(a.url, 1);
  assert.equal(await (await fetch(`${proxy.url}/x`)).text(), 'first');

  await etcds[0]!.stop();
  await apply(b.url, 2);
  assert.equal(await (await fetch(`${proxy.url}/x`)).text(), 'second', 'two of three members still commit, and the proxy still follows');
  assert.equal((await proxy.status()).etcd, 'connected');
});
