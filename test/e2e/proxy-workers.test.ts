// `signalbox proxy --workers 2`: one port, one admin port and one registry entry over two worker
// processes. Both workers serve; a version counts as applied only once both serve it; a killed
// worker is replaced while the other keeps its connections; SIGTERM drains every worker.
import assert from 'node:assert/strict';
import { Agent, request, type IncomingMessage } from 'node:http';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { ProxyRegistry } from '../../src/store/proxy-registry.js';
import type { WorkerDetail } from '../../src/proxy/worker-status.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { freeze } from '../helpers/launch.js';
import { freePort } from '../../src/util/ports.js';
import { runCli, spawnSignalbox, startControlPlaneProcess, startProxyProcess, waitFor, type ProxyProcess } from '../helpers/processes.js';
import { singleRouteDoc, startUpstream } from '../helpers/upstreams.js';

const keys = new Keys();

interface PoolStatus {
  id: string;
  version: number | null;
  ready: boolean;
  workers: WorkerDetail[];
  workerRestarts: number;
}

async function pool(id: string, args: string[] = []) {
  const etcd = await startTestEtcd();
  const client = createEtcdClient([etcd.endpoint]);
  atFileEnd(() => client.close());
  const writer = new ConfigWriter(client, keys);
  const write = async (doc: unknown, message: string) => {
    const v = validateDocument(doc);
    assert.ok(v.ok);
    return (await writer.write(v.config, { author: 'test', source: 'api', message })).version.version;
  };
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const up = await startUpstream('up', (req, res) => {
    if (req.url !== '/slow') return false;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first-');
    void released.then(() => res.end('second'));
    return true;
  });
  const first = await write(singleRouteDoc(up.url), 'first');
  const proxy = await startProxyProcess(etcd.endpoint, { id, args: ['--workers', '2', ...args] });
  const status = async () => (await proxy.status()) as unknown as PoolStatus;
  return { etcd: etcd.endpoint, client, write, up, first, proxy, status, release };
}

/** GET on `agent` (a keep-alive agent of one socket): the body and the socket's local port. */
function get(proxy: ProxyProcess, path: string, agent: Agent | false = false): Promise<{ status: number; body: string; localPort: number; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = request(`${proxy.url}${path}`, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, localPort: req.socket!.localPort!, res }));
    });
    req.on('error', reject);
    req.end();
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const requestsOf = (s: PoolStatus) => new Map(s.workers.map((w) => [w.pid, w.requests ?? 0]));

it('--workers 2: both workers serve one port; /status, /metrics and the registry show one proxy with per-worker detail', async () => {
  const { etcd, client, up, first, proxy, status } = await pool('pool-serve');
  const s = await status();
  assert.equal(s.id, 'pool-serve');
  assert.equal(s.version, first);
  assert.equal(s.workers.length, 2);
  assert.deepEqual(s.workers.map((w) => w.worker).sort(), [1, 2]);
  assert.notEqual(s.workers[0]!.pid, s.workers[1]!.pid);
  assert.ok(s.workers.every((w) => w.ready && w.version === first && alive(w.pid)));

  // New connections go round the workers: ten of them reach both.
  for (let i = 0; i < 10; i++) assert.equal((await get(proxy, '/x')).body, 'up');
  const served = requestsOf(await status());
  assert.ok([...served.values()].every((n) => n > 0), `every worker answered some: ${JSON.stringify([...served])}`);
  assert.equal([...served.values()].reduce((a, b) => a + b, 0), 10);
  assert.equal(up.seen.length, 10);

  const metrics = await (await fetch(`${proxy.admin}/metrics`)).text();
  assert.match(metrics, /^signalbox_requests_total\{route="all",code="200"\} 10$/m, 'the workers\' counts are added up');
  assert.match(metrics, new RegExp(`^signalbox_config_version ${first}$`, 'm'));
  assert.match(metrics, /^signalbox_workers 2$/m);
  assert.equal(metrics.match(/^# TYPE signalbox_requests_total counter$/gm)?.length, 1);

  const listed = await ProxyRegistry.list(client, keys);
  assert.deepEqual(listed.map((p) => p.id), ['pool-serve'], 'one registry entry for the pool');
  const entry = listed[0]!.status as PoolStatus;
  assert.deepEqual(entry.workers.map((w) => w.pid).sort(), s.workers.map((w) => w.pid).sort());
  assert.ok(entry.workers.every((w) => w.requests === undefined), 'no request counts in etcd, where they would be stale');

  const stack = await startControlPlaneProcess(etcd);
  const res = await fetch(`${stack.api}/api/v1/proxies`, { headers: { authorization: `Bearer ${stack.token}` } });
  const fleet = (await res.json()) as { proxies: { id: string; inSync: boolean; workers: WorkerDetail[] }[] };
  assert.deepEqual(fleet.proxies.map((p) => [p.id, p.inSync, p.workers.length]), [['pool-serve', true, 2]], 'GET /proxies: one entry');
  const cli = await runCli(['status'], stack.env);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /; 1 proxy, 1 in sync/);
  assert.match(cli.stdout, new RegExp(`^pool-serve +${first} +in sync +connected +1 +2/2 `, 'm'));
});

it('a version counts as applied (registry, /status) only once every worker serves it', async () => {
  const { client, write, up, first, proxy, status } = await pool('pool-apply');
  const [a, b] = (await status()).workers;
  await freeze(b!.pid);
  let thawed = false;
  atFileEnd(() => {
    if (!thawed) process.kill(b!.pid, 'SIGCONT');
  });
  const second = await write(singleRouteDoc(up.url, { routes: [{ id: 'all', match: { paths: ['/*'] }, upstream: 'svc', timeoutMs: 5000 }] }), 'second');
  const entry = () => ProxyRegistry.list(client, keys).then((l) => l.find((p) => p.id === 'pool-apply')?.status as PoolStatus | undefined);
  // Worker a applied it (the registry carries its detail) while b, stopped, still serves the first.
  const half = await waitFor('worker a on the second version in the registry', async () => {
    const e = await entry();
    return e?.workers.find((w) => w.pid === a!.pid)?.version === second ? e : undefined;
  });
  assert.equal(half.version, first, 'not reported applied while a worker serves the older version');
  assert.equal(half.workers.find((w) => w.pid === b!.pid)?.version, first);
  assert.equal((await status()).version, first, '/status agrees');

  process.kill(b!.pid, 'SIGCONT');
  thawed = true;
  const whole = await waitFor('the second version reported applied', async () => {
    const e = await entry();
    return e?.version === second ? e : undefined;
  });
  assert.ok(whole.workers.every((w) => w.version === second), 'reported only with both workers on it');
  assert.equal((await status()).version, second);
  assert.equal((await get(proxy, '/x')).body, 'up');
});

it('kill -9 of one worker: the other keeps its keep-alive connection and serves; the dead one is replaced', async () => {
  const { proxy, status } = await pool('pool-crash');
  // Two keep-alive connections; which worker holds each is read from the request counts.
  const agents = [new Agent({ keepAlive: true, maxSockets: 1 }), new Agent({ keepAlive: true, maxSockets: 1 })];
  atFileEnd(() => agents.forEach((a) => a.destroy()));
  const owner = async (agent: Agent) => {
    const before = requestsOf(await status());
    const r = await get(proxy, '/x', agent);
    assert.equal(r.body, 'up');
    const after = requestsOf(await status());
    const pid = [...after].find(([p, n]) => n === (before.get(p) ?? 0) + 1)?.[0];
    assert.ok(pid !== undefined);
    return { pid, localPort: r.localPort };
  };
  const c0 = await owner(agents[0]!);
  let c1 = await owner(agents[1]!);
  // Round-robin gives the next connection to the other worker; should a third connection be
  // needed, the agents' sockets stay as they are.
  for (let i = 0; c1.pid === c0.pid && i < 4; i++) {
    agents[1]!.destroy();
    agents[1] = new Agent({ keepAlive: true, maxSockets: 1 });
    c1 = await owner(agents[1]!);
  }
  assert.notEqual(c1.pid, c0.pid, 'the two connections are on different workers');

  process.kill(c0.pid, 'SIGKILL');
  await waitFor('the killed worker gone', () => !alive(c0.pid));
  const survivor = await get(proxy, '/x', agents[1]!);
  assert.equal(survivor.body, 'up');
  assert.equal(survivor.localPort, c1.localPort, "the surviving worker's keep-alive connection was not dropped");
  assert.equal(survivor.res.headers.connection, 'keep-alive');

  const replaced = await waitFor('a new worker in the dead one\'s place', async () => {
    const s = await status();
    return s.workers.length === 2 && s.workers.every((w) => w.ready) && !s.workers.some((w) => w.pid === c0.pid) ? s : undefined;
  });
  assert.equal(replaced.workerRestarts, 1);
  assert.ok(replaced.workers.some((w) => w.pid === c1.pid), 'the survivor is the same process');
  const fresh = replaced.workers.find((w) => w.pid !== c1.pid)!;
  assert.equal(fresh.restarts, 1);
  assert.ok(alive(fresh.pid));
  // New connections reach the replacement too.
  const before = requestsOf(replaced).get(fresh.pid) ?? 0;
  await waitFor('the replacement answers', async () => {
    await get(proxy, '/x');
    return (requestsOf(await status()).get(fresh.pid) ?? 0) > before;
  });
  const second = await get(proxy, '/x', agents[1]!);
  assert.equal(second.localPort, c1.localPort);
});

/** Watches etcd holds open now (its own gauge). */
async function etcdWatchers(endpoint: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  return Number(/^etcd_debugging_mvcc_watcher_total (\d+)$/m.exec(text)?.[1]);
}

it('one etcd watch per proxy: the primary relays every version to its workers, and a replacement starts from it', async () => {
  const { etcd, write, up, proxy, status } = await pool('pool-watch');
  assert.equal(await etcdWatchers(etcd), 1, 'one watch for two workers');
  const onlyAt = (path: string) => singleRouteDoc(up.url, { routes: [{ id: 'one', match: { paths: [path] }, upstream: 'svc' }] });
  // A connection per request: round-robin hands them to both workers.
  const servedByAll = async (path: string) => (await Promise.all([0, 1, 2, 3].map(() => get(proxy, path)))).map((r) => r.status);

  const second = await write(onlyAt('/second'), 'second');
  await waitFor('both workers on the second version', async () => (await status()).workers.every((w) => w.version === second));
  assert.deepEqual(await servedByAll('/second'), [200, 200, 200, 200]);

  const [killed] = (await status()).workers;
  process.kill(killed!.pid, 'SIGKILL');
  await waitFor('a replacement serving', async () => {
    const s = await status();
    return s.workers.length === 2 && s.workers.every((w) => w.ready && w.pid !== killed!.pid && w.version === second);
  });
  const third = await write(onlyAt('/third'), 'third');
  await waitFor('both workers on the third version', async () => (await status()).workers.every((w) => w.version === third));
  assert.deepEqual(await servedByAll('/third'), [200, 200, 200, 200]);
  assert.deepEqual(await servedByAll('/second'), [404, 404, 404, 404]);
  assert.equal(await etcdWatchers(etcd), 1, 'still one watch after a worker was replaced');
});

it("a rate limit is the proxy's, not each worker's: a client whose connections go to both workers gets the burst once", async () => {
  const { write, up, proxy, status } = await pool('pool-rate');
  const policies = [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 0.1, burst: 6 }];
  const limited = await write(singleRouteDoc(up.url, { routes: [{ id: 'all', match: { paths: ['/*'] }, upstream: 'svc', policies: ['rl'] }], policies }), 'rate limit');
  await waitFor('both workers on the rate-limited version', async () => (await status()).version === limited);
  const before = requestsOf(await status());
  const answers: number[] = [];
  // A connection per request: round-robin hands them to the two workers in turn.
  for (let i = 0; i < 30; i++) answers.push((await get(proxy, '/x')).status);
  assert.deepEqual([answers.filter((s) => s === 200).length, answers.filter((s) => s === 429).length], [6, 24], answers.join(' '));
  const after = requestsOf(await status());
  for (const [pid, n] of after) assert.ok(n - (before.get(pid) ?? 0) >= 10, `worker ${pid} served ${n - (before.get(pid) ?? 0)} of the 30`);
});

/**
 * A second target, `sick`, checked on /health every 200 ms (out after two failures, back after
 * one pass), with both workers on that version. `health.failing` makes its checks answer 503;
 * `checksIn(ms)` counts the checks it gets over the next `ms`.
 */
async function checkedTarget({ write, up, status }: Awaited<ReturnType<typeof pool>>) {
  const health = { failing: false };
  const sick = await startUpstream('sick', (req, res) => {
    if (req.url !== '/health') return false;
    res.writeHead(health.failing ? 503 : 200).end();
    return true;
  });
  const healthCheck = { path: '/health', intervalMs: 200, unhealthyThreshold: 2, healthyThreshold: 1 };
  const checked = await write(singleRouteDoc(up.url, { upstreams: [{ id: 'svc', targets: [{ url: up.url }, { url: sick.url }], healthCheck }] }), 'health checks');
  await waitFor('both workers on the checked version', async () => (await status()).version === checked);
  const checks = () => sick.seen.filter((p) => p === '/health').length;
  const checksIn = async (ms: number) => {
    const from = checks();
    await sleep(ms);
    return checks() - from;
  };
  return { health, checksIn };
}

it('health checks are sent by worker 1 alone and judged by both: one check per interval, a failing target out of every worker', async () => {
  const p = await pool('pool-health');
  const { proxy, status } = p;
  const { health, checksIn } = await checkedTarget(p);
  // Every ~200 ms (±10 %) from one worker: about 15 in 3 s; two workers would send about 30.
  const sent = await checksIn(3000);
  assert.ok(sent >= 5 && sent <= 20, `${sent} checks of one target in 3 s at intervalMs 200`);

  health.failing = true;
  // Two failures in a row take it out; then each worker sends every request to the other target.
  const before = requestsOf(await status());
  await waitFor('every worker holding the failing target out', async () => {
    const bodies: string[] = [];
    for (let i = 0; i < 10; i++) bodies.push((await get(proxy, '/x')).body);
    return bodies.every((b) => b === 'up');
  });
  for (const [pid, n] of requestsOf(await status())) assert.ok(n - (before.get(pid) ?? 0) >= 5, `worker ${pid} served its share`);
});

it('the health checks\' worker dies: the other worker sends them from then on, and its replacement only follows', async () => {
  const p = await pool('pool-health-handover');
  const { proxy, status } = p;
  const { checksIn } = await checkedTarget(p);
  const leader = (await status()).workers.find((w) => w.worker === 1)!;
  process.kill(leader.pid, 'SIGKILL');
  const replacement = await waitFor('worker 1 replaced and serving', async () => {
    const w = (await status()).workers.find((x) => x.worker === 1);
    return w !== undefined && w.pid !== leader.pid && w.ready ? w : undefined;
  }, 30_000);
  // Frozen, the replacement sends nothing: whatever checks still come are worker 2's.
  process.kill(replacement.pid, 'SIGSTOP');
  try {
    const sent = await checksIn(3000);
    assert.ok(sent >= 5 && sent <= 20, `${sent} checks in 3 s at intervalMs 200 with worker 1's replacement frozen`);
  } finally {
    process.kill(replacement.pid, 'SIGCONT');
  }
  const handover = proxy
    .output()
    .split('\n')
    .filter((l) => l.includes('health checks now sent by another worker'))
    .map((l) => (JSON.parse(l) as { worker: number }).worker);
  assert.deepEqual(handover, [2]);
});

it('a worker that keeps dying is restarted later each time (no crash loop spinning the CPU)', async () => {
  const { proxy, status } = await pool('pool-loop');
  for (let i = 0; i < 3; i++) {
    const dying = (await status()).workers.find((w) => w.worker === 1)!;
    process.kill(dying.pid, 'SIGKILL');
    await waitFor(`replacement ${i + 1} serving`, async () => {
      const w = (await status()).workers.find((x) => x.worker === 1);
      return w !== undefined && w.pid !== dying.pid && w.ready;
    }, 30_000);
  }
  const delays = proxy
    .output()
    .split('\n')
    .filter((l) => l.includes('proxy worker died'))
    .map((l) => JSON.parse(l) as { worker: number; restartInMs: number })
    .filter((l) => l.worker === 1)
    .map((l) => l.restartInMs);
  assert.equal(delays.length, 3);
  assert.ok(delays[0]! < delays[1]! && delays[1]! < delays[2]!, `each restart waits longer: ${delays.join(', ')} ms`);
  assert.match(await (await fetch(`${proxy.admin}/metrics`)).text(), /^signalbox_worker_restarts_total 3$/m);
  assert.equal((await status()).workers.find((w) => w.worker === 2)!.restarts, 0, 'the other worker was left alone');
});

it('SIGTERM to the primary: readyz 503, requests in flight finish, every worker exits, the registry entry goes, exit 0', async () => {
  const { client, up, proxy, status, release } = await pool('pool-drain', ['--drain-timeout-ms', '20000']);
  const pids = (await status()).workers.map((w) => w.pid);
  assert.equal(pids.length, 2);
  const chunks: string[] = [];
  const slow = new Promise<string>((resolve, reject) => {
    const req = request(`${proxy.url}/slow`, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => chunks.push(c));
      res.on('end', () => resolve(chunks.join('')));
      res.on('aborted', () => reject(new Error('cut')));
    });
    req.on('error', reject);
    req.end();
  });
  await waitFor('the first half of /slow', () => chunks.join('') === 'first-');
  assert.ok(up.seen.includes('/slow'));

  proxy.proc.kill('SIGTERM');
  await waitFor('/readyz 503', async () => (await fetch(`${proxy.admin}/readyz`)).status === 503);
  release();
  assert.equal(await slow, 'first-second', 'the response in flight completed whole');
  const code = await waitFor('the primary to exit', () => (proxy.proc.exitCode ?? undefined) as number | undefined, 20_000);
  assert.equal(code, 0);
  for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
  assert.equal((await ProxyRegistry.list(client, keys)).some((p) => p.id === 'pool-drain'), false);
});

it('workers whose primary died (kill -9) drain and exit by themselves', async () => {
  const { proxy, status } = await pool('pool-orphans');
  const pids = (await status()).workers.map((w) => w.pid);
  proxy.proc.kill('SIGKILL');
  await waitFor('every worker gone', () => pids.every((pid) => !alive(pid)), 20_000);
});

it('a worker that cannot start (its port is taken) fails the start: exit 1, naming the worker and the cause', async () => {
  const etcd = await startTestEtcd();
  const taken = await startUpstream('taken');
  const port = new URL(taken.url).port;
  const proxy = spawnSignalbox(['proxy', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${await freePort()}`, '--workers', '2']);
  const code = await waitFor('exit', () => (proxy.proc.exitCode ?? undefined) as number | undefined, 20_000);
  assert.equal(code, 1);
  assert.match(proxy.output(), /EADDRINUSE 127\.0\.0\.1:\d+/);
  assert.match(proxy.output(), /signalbox: proxy: worker \d \(pid \d+\) exited with code 1 before every worker served/);
});

it('--workers must be a whole number from 1 to 64 or "auto"', async () => {
  for (const bad of ['0', 'two', '65']) {
    const proxy = await startProxyProcess('http://127.0.0.1:1', { args: ['--workers', bad], waitReady: false });
    const code = await waitFor('exit', () => (proxy.proc.exitCode ?? undefined) as number | undefined);
    assert.equal(code, 2);
    assert.match(proxy.output(), /--workers must be/);
  }
});
