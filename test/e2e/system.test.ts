// The backbone end to end: CLI → control plane → etcd → proxy, as separate real processes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, it, before } from 'node:test';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestEtcd } from '../helpers/etcd.js';
import { runCli, startControlPlaneProcess, startProxyProcess, waitFor, writeDoc, type ProxyProcess } from '../helpers/processes.js';
import { freeze } from '../helpers/launch.js';
import { singleRouteDoc, startUpstream, type Upstream } from '../helpers/upstreams.js';
import type { ManagedEtcd } from '../../src/dev/managed-etcd.js';

const exec = promisify(execFile);

describe('backbone: apply → etcd → proxy hot swap', () => {
  let etcd: ManagedEtcd;
  let stack: Awaited<ReturnType<typeof startControlPlaneProcess>>;
  let proxy: ProxyProcess;
  let a: Upstream;
  let b: Upstream;
  let releaseSlow: () => void;
  const slowReleased = new Promise<void>((r) => (releaseSlow = r));

  const apply = async (doc: unknown, ...flags: string[]) => {
    const file = await writeDoc(stack.dir, `doc-${Math.random().toString(36).slice(2)}.json`, doc);
    return runCli(['apply', '-f', file, ...flags], stack.env);
  };
  const body = async (path: string) => (await fetch(proxy.url + path)).text();
  const etcdctl = (...args: string[]) => exec('etcdctl', ['--endpoints', etcd.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });

  before(async () => {
    etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
    a = await startUpstream('a', (req, res) => {
      if (req.url !== '/slow') return false;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a-slow-');
      void slowReleased.then(() => res.end('done'));
      return true;
    });
    b = await startUpstream('b');
  });

  it('apply through the CLI writes version 1 and a proxy started afterwards serves it', async () => {
    const r = await apply(singleRouteDoc(a.url), '--message', 'first');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /applied: version 1/);
    proxy = await startProxyProcess(etcd.endpoint);
    assert.equal(await body('/x'), 'a');
    const s = await proxy.status();
    assert.equal(s.version, 1);
    assert.equal(s.lastError, null);
    assert.equal(s.etcd, 'connected');
  });

  it('validate and apply refuse a bad document with every problem placed, and write nothing', async () => {
    const file = join(stack.dir, 'bad.yaml');
    await writeFile(file, 'upstreams:\n  - id: users\n    targets: []\nroutes:\n  - id: r\n    match: { paths: ["/u"] }\n    upstream: usrs\n    retry: 3\n');
    const v = await runCli(['validate', file]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /bad\.yaml:8: routes\[0\]\.retry: unknown field/);
    const applied = await runCli(['apply', '-f', file], stack.env);
    assert.equal(applied.code, 1);
    assert.match(applied.stderr, /nothing sent/);
    const versions = await runCli(['get', 'versions', '-o', 'json'], stack.env);
    assert.deepEqual(JSON.parse(versions.stdout).versions.map((x: { version: number }) => x.version), [1]);
  });

  it('a request in flight finishes on the old upstream while new requests use the new config', async () => {
    const slow = fetch(proxy.url + '/slow');
    await waitFor('upstream a to receive /slow', () => a.seen.includes('/slow'));
    const r = await apply(singleRouteDoc(b.url));
    assert.equal(r.code, 0, r.stderr);
    await waitFor('proxy at version 2', async () => (await proxy.status()).version === 2);
    assert.equal(await body('/x'), 'b');
    releaseSlow();
    assert.equal(await (await slow).text(), 'a-slow-done');
  });

  it('a revision written straight to etcd that does not validate is refused whole; the next valid one heals', async () => {
    const bad = { id: 'bad', match: { paths: ['/bad'] }, upstream: 'nope' };
    await etcdctl('put', '/signalbox/config/routes/bad', JSON.stringify(bad));
    const s = await waitFor('lastError', async () => (await proxy.status()).lastError ?? undefined);
    assert.match(s.errors.join('\n'), /routes\/bad.*unknown upstream "nope"/);
    assert.equal(await body('/x'), 'b', 'the last good config still serves');
    assert.equal((await proxy.status()).version, 2);

    const r = await apply(singleRouteDoc(b.url, { routes: [{ id: 'all', match: { paths: ['/*'] }, upstream: 'svc' }, { id: 'extra', match: { paths: ['/extra'] }, upstream: 'svc' }] }));
    assert.equal(r.code, 0, r.stderr);
    await waitFor('proxy at version 3 without error', async () => {
      const st = await proxy.status();
      return st.version === 3 && st.lastError === null;
    });
    const keys = (await etcdctl('get', '--prefix', '--keys-only', '/signalbox/config/routes/')).stdout.split('\n').filter(Boolean);
    assert.deepEqual(keys.sort(), ['/signalbox/config/routes/all', '/signalbox/config/routes/extra']);
  });

  it('two applies expecting the same version: one succeeds, the other gets 409', async () => {
    const [x, y] = await Promise.all([
      apply(singleRouteDoc(a.url), '--expect-version', '3'),
      apply(singleRouteDoc(b.url, { policies: [] }), '--expect-version', '3', '--message', 'second'),
    ]);
    const codes = [x.code, y.code].sort();
    assert.deepEqual(codes, [0, 1], x.stderr + y.stderr);
    assert.match((x.code ? x : y).stderr, /409/);
  });

  it('etcd killed: the proxy serves from memory; etcd back: the next change is applied', async () => {
    const before = (await proxy.status()).version!;
    const served = await body('/x');
    await etcd.kill();
    await waitFor('proxy to notice etcd is gone', async () => (await proxy.status()).etcd === 'disconnected');
    assert.equal(await body('/x'), served, 'serving from memory while etcd is down');
    await etcd.start();
    await waitFor('proxy reconnected', async () => (await proxy.status()).etcd === 'connected');
    const r = await apply(singleRouteDoc(served === 'a' ? b.url : a.url));
    assert.equal(r.code, 0, r.stderr);
    await waitFor('the change after the restart', async () => (await proxy.status()).version === before + 1);
    assert.equal(await body('/x'), served === 'a' ? 'b' : 'a');
  });

  it('a proxy whose revision was compacted while it was away re-reads the whole config', async () => {
    const before = await proxy.status();
    // Three real changes: each differs from the one before it (an equal document writes nothing).
    const seq = (await body('/x')) === 'a' ? [b, a, b] : [a, b, a];
    await freeze(proxy.proc.pid!);
    try {
      await etcd.kill();
      await etcd.start();
      for (const up of seq) assert.match((await apply(singleRouteDoc(up.url))).stdout, /applied: version/);
      const rev = JSON.parse((await etcdctl('endpoint', 'status', '-w', 'json')).stdout)[0].Status.header.revision;
      await etcdctl('compact', String(rev));
    } finally {
      proxy.proc.kill('SIGCONT');
    }
    let last: unknown;
    const after = await waitFor('proxy at the newest version', async () => {
      const s = await proxy.status();
      last = s;
      return s.version === (before.version as number) + 3 ? s : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; last status ${JSON.stringify(last)}; proxy output:\n${proxy.output()}`);
    });
    assert.ok((after.resyncs as number) > (before.resyncs as number), 'the proxy did a full re-read');
    assert.equal(await body('/x'), seq[2]!.name);
  });

  it('status shows each proxy in sync; rollback writes a new version equal to an old one', async () => {
    const st = await runCli(['status', '-o', 'json'], stack.env);
    assert.equal(st.code, 0, st.stderr);
    const fleet = JSON.parse(st.stdout) as { liveVersion: number; proxies: { id: string; version: number; inSync: boolean }[] };
    const me = fleet.proxies.find((p) => p.version !== undefined && p.inSync);
    assert.ok(me, st.stdout);
    assert.equal(me.version, fleet.liveVersion);

    // Version 1 sent everything to a, version 2 to b: go back to the one not live now.
    const [target, upstream] = (await body('/x')) === 'a' ? [2, 'b'] : [1, 'a'];
    const rb = await runCli(['rollback', String(target)], stack.env);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stdout, new RegExp(`rolled back to version ${target} as version ${fleet.liveVersion + 1}`));
    await waitFor('proxy at the rollback version', async () => (await proxy.status()).version === fleet.liveVersion + 1);
    assert.equal(await body('/x'), upstream);
    const v2 = await runCli(['get', 'versions', '-o', 'json'], stack.env);
    const newest = JSON.parse(v2.stdout).versions.find((v: { version: number }) => v.version === fleet.liveVersion + 1);
    assert.match(newest.message, new RegExp(`rollback to version ${target}`));
  });
});
