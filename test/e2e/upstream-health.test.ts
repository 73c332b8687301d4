// Active health checks against real upstreams: a target that accepts connections but fails its
// health path is taken out and readmitted; results count only in a row; checks run on their own
// connections, jittered and bounded; a check cut off by a swap counts as nothing; active and
// passive health combine; a swap keeps the health of the targets it did not change. Last, the
// state as an operator sees it: /status, /metrics and the fleet view, through a real proxy on etcd.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, it, type TestContext } from 'node:test';
import { USER_AGENT } from '../../src/proxy/health-check.js';
import { TargetRegistry } from '../../src/proxy/target-registry.js';
import { proxy, send, upstream, type Proxy } from '../helpers/data-plane.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { getJson, startControlPlaneProcess, startProxyProcess, waitFor } from '../helpers/processes.js';

const T = { timeout: 30_000 };
const FAST = { path: '/healthz', intervalMs: 100, timeoutMs: 2_000, healthyThreshold: 2, unhealthyThreshold: 2 };

interface Target {
  name: string;
  url: string;
  /** What /healthz answers next; a function decides per check. */
  answer: number | (() => number);
  checks: number;
  traffic: number;
  /** Sockets by what they carried. */
  carried: Map<Socket, Set<'check' | 'traffic'>>;
  agents: Set<string | undefined>;
  accepted: number;
}

/** An upstream answering its name, and /healthz with `answer`; it records which socket carried what. */
async function target(t: TestContext, name: string, onTraffic?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<Target> {
  const state: Target = { name, url: '', answer: 200, checks: 0, traffic: 0, carried: new Map(), agents: new Set(), accepted: 0 };
  const mark = (req: IncomingMessage, kind: 'check' | 'traffic') => {
    const kinds = state.carried.get(req.socket) ?? new Set();
    kinds.add(kind);
    state.carried.set(req.socket, kinds);
  };
  const s = await upstream(t, (req, res) => {
    if (req.url === '/healthz') {
      state.checks++;
      mark(req, 'check');
      state.agents.add(req.headers['user-agent']);
      res.writeHead(typeof state.answer === 'number' ? state.answer : state.answer()).end();
      return;
    }
    state.traffic++;
    mark(req, 'traffic');
    if (onTraffic?.(req, res)) return;
    res.end(name);
  });
  s.server.on('connection', () => state.accepted++);
  state.url = s.url;
  return state;
}

const doc = (targets: { url: string; weight?: number }[], extra: Record<string, unknown> = {}) => ({
  upstreams: [{ id: 'u', targets, healthCheck: FAST, maxEjectionPercent: 100, ...extra }],
  routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
});

const pool = (p: Proxy) => p.holder.current!.upstreams.get('u')!;

async function bodies(p: Proxy, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await send(p.url, `/req-${i}`)).body);
  return out;
}

describe('active health checks', () => {
  it('take out a target that accepts connections but fails its health path, and readmit it once it passes again', T, async (t) => {
    const [a, b] = [await target(t, 'a'), await target(t, 'b')];
    const p = await proxy(t, doc([{ url: a.url }, { url: b.url }]));
    assert.deepEqual(new Set(await bodies(p, 4)), new Set(['a', 'b']));

    b.answer = 503;
    await waitFor('b out of rotation', () => !pool(p).inRotation(1));
    assert.equal(pool(p).targets[1]!.checker!.healthy, false);
    const trafficBefore = b.traffic;
    assert.deepEqual(new Set(await bodies(p, 6)), new Set(['a']));
    assert.equal(b.traffic, trafficBefore, 'no request reached b while it failed its checks');

    b.answer = 204;
    await waitFor('b back in rotation', () => pool(p).inRotation(1));
    assert.ok(new Set(await bodies(p, 4)).has('b'));

    // Checks never ride on the traffic's connections, and say who they are.
    for (const [, kinds] of b.carried) assert.equal(kinds.size, 1, 'a socket carried both checks and requests');
    assert.deepEqual([...b.agents], [USER_AGENT]);
  });

  it('count only results in a row: a target passing and failing by turns is never taken out', T, async (t) => {
    const [a, b] = [await target(t, 'a'), await target(t, 'b')];
    let n = 0;
    b.answer = () => (n++ % 2 === 0 ? 500 : 200);
    const changes: number[] = [];
    const p = await proxy(t, doc([{ url: a.url }, { url: b.url }]));
    p.targets.watch(() => changes.push(b.checks));
    await waitFor('ten checks of b', () => b.checks >= 10);
    assert.deepEqual(changes, [], 'no verdict changed: never two failures in a row');
    assert.equal(pool(p).inRotation(1), true);
    const checker = pool(p).targets[1]!.checker!;
    assert.ok(checker.totals.fail >= 4 && checker.totals.pass >= 4, JSON.stringify(checker.totals));
  });

  it('are spread over the interval, and never more at once than the process allows', T, async (t) => {
    // 12 targets whose /healthz answers only when told to.
    const held: ServerResponse[] = [];
    const firstAt: number[] = [];
    let inFlight = 0;
    let most = 0;
    const servers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        upstream(t, (req, res) => {
          if (req.url !== '/healthz') return void res.end(String(i));
          if (firstAt[i] === undefined) firstAt[i] = performance.now();
          inFlight++;
          most = Math.max(most, inFlight);
          res.on('close', () => inFlight--);
          held.push(res);
        }),
      ),
    );
    const targets = new TargetRegistry({ maxConcurrentChecks: 3 });
    await proxy(t, doc(servers.map((s) => ({ url: s.url })), { healthCheck: { ...FAST, intervalMs: 1_000, timeoutMs: 20_000 } }), { targets });
    for (let answered = 0; answered < 12; answered++) {
      await waitFor(`check ${answered + 3} under way`, () => held.length >= Math.min(answered + 3, 12 + answered));
      held[answered]!.writeHead(200).end();
    }
    await waitFor('every target checked', () => firstAt.filter((x) => x !== undefined).length === 12);
    assert.equal(most, 3, 'at most 3 checks at once');

    // Without the limit, 12 first checks at random points of one interval.
    const spread: number[] = [];
    const more = await Promise.all(Array.from({ length: 12 }, () => upstream(t, (req, res) => {
      if (req.url === '/healthz' && spread.length < 12) spread.push(performance.now());
      res.end();
    })));
    await proxy(t, doc(more.map((s) => ({ url: s.url })), { healthCheck: { ...FAST, intervalMs: 1_000 } }));
    await waitFor('12 first checks', () => spread.length === 12);
    assert.ok(Math.max(...spread) - Math.min(...spread) > 100, `first checks within ${Math.max(...spread) - Math.min(...spread)} ms of each other`);
  });

  it('a check cut off by a swap that drops its target counts as nothing', T, async (t) => {
    let hanging: ServerResponse | null = null;
    const slow = await upstream(t, (req, res) => {
      if (req.url === '/healthz') hanging = res;
      else res.end('slow');
    });
    const p = await proxy(t, doc([{ url: slow.url }], { healthCheck: { ...FAST, timeoutMs: 20_000, unhealthyThreshold: 1 } }));
    const checker = pool(p).targets[0]!.checker!;
    await waitFor('a check under way', () => hanging !== null);
    const cut = new Promise((r) => hanging!.on('close', r));
    p.swap({ upstreams: [], routes: [] });
    await cut;
    assert.equal(checker.closed, true);
    assert.deepEqual(checker.totals, { pass: 0, fail: 0, timeout: 0, error: 0 });
    assert.equal(checker.last, null);
    assert.equal(checker.healthy, true);
  });

  it('send the Host and headers the upstream gives them: a virtual-hosted target answers its health path only to those', T, async (t) => {
    const a = await target(t, 'a');
    const seen: { host?: string; token?: string | string[]; agent?: string }[] = [];
    const vhost = await upstream(t, (req, res) => {
      if (req.url !== '/healthz') return void res.end('vhost');
      seen.push({ host: req.headers.host, token: req.headers['x-check-token'], agent: req.headers['user-agent'] });
      res.writeHead(req.headers.host === 'users.internal' && req.headers['x-check-token'] === 's3cret' ? 200 : 404).end();
    });
    const targets = [{ url: a.url }, { url: vhost.url }];
    const p = await proxy(t, doc(targets));
    await waitFor('the virtual host out: its own name was not asked for', () => !pool(p).inRotation(1));
    assert.equal(seen[0]!.host, new URL(vhost.url).host, 'by default a check names the target URL\'s host and port');

    // A changed healthCheck starts afresh (healthy): what counts is that its checks pass.
    p.swap(doc(targets, { healthCheck: { ...FAST, host: 'users.internal', headers: { 'X-Check-Token': 's3cret' } } }));
    const checker = pool(p).targets[1]!.checker!;
    await waitFor('three checks of the virtual host under the new settings', () => checker.totals.pass + checker.totals.fail >= 3);
    assert.deepEqual({ ...checker.totals, pass: 0 }, { pass: 0, fail: 0, timeout: 0, error: 0 }, 'every check under the new settings passed');
    assert.deepEqual(seen.at(-1), { host: 'users.internal', token: 's3cret', agent: USER_AGENT });
    assert.equal(pool(p).inRotation(1), true);
    assert.ok(new Set(await bodies(p, 4)).has('vhost'));

    p.swap(doc(targets, { healthCheck: { ...FAST, host: 'users.internal', headers: { 'X-Check-Token': 's3cret', 'User-Agent': 'lb-probe/1' } } }));
    await waitFor('a check with its own User-Agent', () => seen.at(-1)!.agent === 'lb-probe/1');
    assert.equal(pool(p).inRotation(1), true);
  });
});

describe('active and passive health together', () => {
  it('a passively ejected target is readmitted by passing checks, well before its ejection would end', T, async (t) => {
    const a = await target(t, 'a');
    let reset = true;
    // Checks counted after the last reset: every check that started after the ejection (the
    // ejection follows that reset) is among them.
    let checksAtLastReset = 0;
    const b = await target(t, 'b', (req) => {
      if (!reset) return false;
      checksAtLastReset = b.checks;
      req.socket.destroy();
      return true;
    });
    // A clock that never moves: only the checks can end the ejection.
    const p = await proxy(t, doc([{ url: a.url }, { url: b.url }]), { upstream: { now: () => 0 } });
    await waitFor('b passed a check', () => b.checks >= 1);
    for (let i = 0; i < 4 && !pool(p).isEjected(1); i++) assert.equal((await send(p.url, '/x')).body, 'a', 'a reset GET goes to a');
    assert.equal(pool(p).isEjected(1), true);
    reset = false;
    await waitFor('b readmitted', () => !pool(p).isEjected(1));
    assert.ok(b.checks - checksAtLastReset >= FAST.healthyThreshold, `readmitted after ${b.checks - checksAtLastReset} checks`);
    assert.ok(new Set(await bodies(p, 4)).has('b'));
  });

  it("a swap that changes another target's weight keeps the ejections, the verdicts and the warm connections", T, async (t) => {
    const a = await target(t, 'a');
    const b = await target(t, 'b');
    const c = await target(t, 'c', (req) => (req.socket.destroy(), true));
    const targets = (wa: number) => [{ url: a.url, weight: wa }, { url: b.url }, { url: c.url }];
    const p = await proxy(t, doc(targets(1)), { upstream: { now: () => 0 } });
    b.answer = 503;
    await waitFor('b fails its checks', () => !pool(p).inRotation(1));
    for (let i = 0; i < 3 && !pool(p).isEjected(2); i++) await send(p.url, '/x');
    assert.equal(pool(p).isEjected(2), true, 'c ejected by its resets');
    c.answer = 503; // and kept out by its checks from here on
    assert.equal((await send(p.url, '/warm')).body, 'a');
    const acceptedByA = a.accepted;

    const before = pool(p);
    p.swap(doc(targets(3)));
    assert.notEqual(pool(p), before);
    assert.equal(pool(p).inRotation(1), false, "b's verdict survived the swap");
    assert.equal(pool(p).isEjected(2), true, "c's ejection survived the swap");
    assert.equal(pool(p).targets[1]!.checker, before.targets[1]!.checker, "b's checks went on, not restarted");
    assert.deepEqual(new Set(await bodies(p, 5)), new Set(['a']));
    assert.equal(a.accepted, acceptedByA, 'a served on its warm connection: no new one');
  });
});

describe('upstream health as an operator sees it', () => {
  it('/status lists each target with its check, /metrics has its gauge and counts, the fleet view its unhealthy targets', T, async (t) => {
    const etcd = await startTestEtcd();
    const cp = await startControlPlaneProcess(etcd.endpoint);
    const good = await target(t, 'good');
    const bad = await target(t, 'bad');
    bad.answer = 500;
    const config = doc([{ url: good.url }, { url: bad.url }]);
    const put = await fetch(`${cp.api}/api/v1/config`, { method: 'PUT', headers: { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json' }, body: JSON.stringify(config) });
    assert.equal(put.status, 200, await put.text());
    const px = await startProxyProcess(etcd.endpoint, { id: 'edge-1' });

    type Status = { upstreams: { id: string; balancer: string; targets: { url: string; healthy: boolean; check: { healthy: boolean; consecutiveFailures: number; lastCheck: { result: string; status: number } | null } | null }[] }[] };
    const status = await waitFor('bad out in /status', async () => {
      const s = (await getJson<Status>(`${px.admin}/status`)).body;
      return s.upstreams[0]?.targets[1]?.healthy === false ? s : undefined;
    });
    const [u] = status.upstreams;
    assert.equal(u!.id, 'u');
    assert.equal(u!.balancer, 'round-robin');
    assert.equal(u!.targets[0]!.healthy, true);
    assert.equal(u!.targets[1]!.url, bad.url);
    assert.equal(u!.targets[1]!.check!.healthy, false);
    assert.ok(u!.targets[1]!.check!.consecutiveFailures >= 2);
    assert.deepEqual({ result: u!.targets[1]!.check!.lastCheck!.result, status: u!.targets[1]!.check!.lastCheck!.status }, { result: 'fail', status: 500 });

    const metrics = await (await fetch(`${px.admin}/metrics`)).text();
    assert.match(metrics, new RegExp(`signalbox_upstream_target_healthy\\{upstream="u",target="${bad.url}"\\} 0`));
    assert.match(metrics, new RegExp(`signalbox_upstream_target_healthy\\{upstream="u",target="${good.url}"\\} 1`));
    const fails = new RegExp(`signalbox_health_checks_total\\{upstream="u",target="${bad.url}",result="fail"\\} (\\d+)`).exec(metrics);
    assert.ok(fails && Number(fails[1]) >= 2, 'failed checks counted');

    type Fleet = { proxies: { id: string; unhealthyTargets: { upstream: string; url: string }[]; unhealthyTargetCount: number; upstreams?: unknown }[] };
    const entry = await waitFor('the fleet view names the unhealthy target', async () => {
      const res = await fetch(`${cp.api}/api/v1/proxies`, { headers: { authorization: `Bearer ${cp.token}` } });
      const fleet = (await res.json()) as Fleet;
      const me = fleet.proxies.find((x) => x.id === 'edge-1');
      return me !== undefined && me.unhealthyTargetCount === 1 ? me : undefined;
    });
    assert.deepEqual(entry.unhealthyTargets, [{ upstream: 'u', url: bad.url }]);
    assert.equal(entry.upstreams, undefined, 'the per-target detail stays on the proxy');

    bad.answer = 200;
    await waitFor('the fleet view clears it', async () => {
      const res = await fetch(`${cp.api}/api/v1/proxies`, { headers: { authorization: `Bearer ${cp.token}` } });
      return ((await res.json()) as Fleet).proxies.find((x) => x.id === 'edge-1')?.unhealthyTargetCount === 0;
    });
  });
});
