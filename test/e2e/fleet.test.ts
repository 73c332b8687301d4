// The fleet as an operator watches it, with real etcd, a real control plane and two real proxy
// processes: how long each version took to reach each proxy and the whole fleet (in /status,
// /metrics, GET /proxies and `signalbox status`), a proxy that cannot apply the live version
// flagged as lagging once past the threshold (and counted in the control plane's /metrics), and
// live traffic asked from the proxies' admin ports and added up.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import type { Fleet, Traffic, TrafficSummary } from '../../src/api/schemas.js';
import { createEtcdClient } from '../../src/store/client.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { deadUrl } from '../helpers/data-plane.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { getJson, runCli, startControlPlaneProcess, startProxyProcess, waitFor, writeDoc, type ProxyProcess, type Stack } from '../helpers/processes.js';
import { startUpstream } from '../helpers/upstreams.js';

type Apply = { version: number; committedAt: string | null; appliedAt: string; propagationMs: number | null };
type Status = Awaited<ReturnType<ProxyProcess['status']>> & { lastApplyMs: number | null; propagationMs: number | null; recentApplies: Apply[] };

describe('fleet: convergence, lag and traffic', () => {
  let stack: Stack;
  let client: Etcd3;
  let edges: ProxyProcess[];
  let doc: (extraPath: string) => unknown;

  const api = async <T>(path: string, init: { token?: string | null } = {}) => {
    const token = init.token === undefined ? stack.token : init.token;
    const res = await fetch(`${stack.api}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), text, json: () => JSON.parse(text) as T };
  };
  const fleet = async (query = '') => (await api<Fleet>(`/api/v1/proxies${query}`)).json();
  const status = async (p: ProxyProcess) => (await p.status()) as Status;
  const apply = async (d: unknown) => {
    const r = await runCli(['apply', '-f', await writeDoc(stack.dir, `doc-${Math.random().toString(36).slice(2)}.json`, d)], stack.env);
    assert.equal(r.code, 0, r.stderr);
  };
  const allAt = (version: number) => waitFor(`both proxies at version ${version}`, async () => (await Promise.all(edges.map(status))).every((s) => s.version === version));
  const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

  before(async () => {
    const etcd = await startTestEtcd();
    client = createEtcdClient(etcd.endpoint);
    atFileEnd(() => client.close());
    stack = await startControlPlaneProcess(etcd.endpoint);
    const app = await startUpstream('app', (req, res) => {
      if (req.url !== '/users/slow') return false;
      setTimeout(() => res.end('slow'), 300);
      return true;
    });
    const dead = await deadUrl();
    doc = (extraPath) => ({
      upstreams: [{ id: 'app', targets: [{ url: app.url }] }, { id: 'gone', targets: [{ url: dead }] }],
      routes: [
        { id: 'users', match: { paths: ['/users', '/users/*', extraPath] }, upstream: 'app' },
        { id: 'broken', match: { paths: ['/broken'] }, upstream: 'gone' },
      ],
    });
    await apply(doc('/v1'));
    edges = [await startProxyProcess(etcd.endpoint, { id: 'edge-1' }), await startProxyProcess(etcd.endpoint, { id: 'edge-2' })];
  });

  it('each proxy reports commit → applied per version; the fleet view adds them up per version', async () => {
    await apply(doc('/v2'));
    await allAt(2);
    const v2 = (await api<{ versions: { version: number; at: string }[] }>('/api/v1/versions')).json().versions.find((v) => v.version === 2)!;

    const statuses = await Promise.all(edges.map(status));
    for (const [i, s] of statuses.entries()) {
      const [two, one] = s.recentApplies;
      assert.deepEqual({ ...two, appliedAt: undefined, propagationMs: undefined }, { version: 2, committedAt: v2.at, appliedAt: undefined, propagationMs: undefined });
      assert.equal(two!.propagationMs, Math.max(0, Date.parse(two!.appliedAt) - Date.parse(v2.at)), 'commit → applied, by the two clocks');
      assert.equal(s.propagationMs, two!.propagationMs);
      assert.equal(typeof s.lastApplyMs, 'number');
      // Version 1 was read at start: applied, but no propagation.
      assert.deepEqual({ version: one!.version, propagationMs: one!.propagationMs }, { version: 1, propagationMs: null });

      const metrics = await (await fetch(`${edges[i]!.admin}/metrics`)).text();
      assert.equal(gauge(metrics, 'signalbox_config_propagation_seconds_count'), 1, 'version 2 only');
      assert.equal(gauge(metrics, 'signalbox_config_propagation_seconds_sum'), two!.propagationMs! / 1000);
    }

    const slowest = statuses.reduce((a, b) => (b.recentApplies[0]!.propagationMs! > a.recentApplies[0]!.propagationMs! ? b : a));
    const view = await fleet();
    assert.equal(view.liveCommittedAt, v2.at);
    assert.deepEqual(view.convergence, [
      { version: 2, committedAt: v2.at, applied: 2, pending: 0, maxPropagationMs: slowest.propagationMs, lastProxy: slowest.id, lastAppliedAt: slowest.recentApplies[0]!.appliedAt },
      { version: 1, committedAt: statuses[0]!.recentApplies[1]!.committedAt, applied: 2, pending: 0, maxPropagationMs: null, lastProxy: null, lastAppliedAt: null },
    ]);
    assert.deepEqual(view.proxies.map((p) => [p.id, p.inSync, p.lagging, p.propagationMs]).sort(), statuses.map((s) => [s.id, true, false, s.propagationMs]).sort());

    const cli = await runCli(['status'], stack.env);
    assert.equal(cli.code, 0, cli.stderr);
    const ms = (n: number) => `${Math.round(n)} ms`;
    assert.match(cli.stdout, /^live version 2, committed \S+Z; 2 proxies, 2 in sync, 0 lagging \(not on it 30\.0 s after its commit\)$/m);
    assert.match(cli.stdout, new RegExp(`^edge-1 +2 +in sync +connected +2 +1 +${ms(statuses[0]!.propagationMs!)} +`, 'm'));
    assert.match(cli.stdout, new RegExp(`^2 +${v2.at.replace(/\.\d+Z$/, 'Z')} +2 +0 +${ms(slowest.propagationMs!)} +${slowest.id}$`, 'm'));
  });

  it('a proxy that cannot apply the live version is flagged lagging only past the threshold, and counted in /metrics', async () => {
    // Before anything lags. The control plane's /metrics needs a token, as every API read does.
    assert.equal((await api('/metrics', { token: null })).status, 401);
    const before = await api('/metrics');
    assert.equal(before.status, 200);
    assert.match(before.type!, /^text\/plain/);
    assert.equal(gauge(before.text, 'signalbox_proxies'), 2);
    assert.equal(gauge(before.text, 'signalbox_proxies_lagging'), 0);
    assert.equal(gauge(before.text, 'signalbox_config_live_version'), 2);
    assert.equal((await api('/metrics?lagThresholdMs=soon')).status, 400);

    // Version 3, committed by a writer that skipped validation: its route names no upstream, so
    // every proxy refuses it and keeps serving version 2.
    const info = JSON.parse((await client.get('/signalbox/config/version').string())!) as { version: number; at: string };
    const at = new Date().toISOString();
    await client
      .if('/signalbox/config/version', 'Mod', '>', 0)
      .then(client.put('/signalbox/config/routes/bad').value(JSON.stringify({ id: 'bad', match: { paths: ['/bad'] }, upstream: 'nope' })), client.put('/signalbox/config/version').value(JSON.stringify({ ...info, version: 3, at })))
      .commit();
    await waitFor('both proxies to refuse version 3', async () => (await Promise.all(edges.map(status))).every((s) => s.lastError?.errors.join().includes('unknown upstream "nope"') && s.version === 2));

    // Within the threshold (an hour): behind, not lagging.
    const patient = await fleet('?lagThresholdMs=3600000');
    assert.equal(patient.liveVersion, 3);
    assert.equal(patient.lagging, 0);
    assert.deepEqual(patient.proxies.map((p) => [p.inSync, p.lagging]), [[false, false], [false, false]]);
    assert.equal(gauge((await api('/metrics')).text, 'signalbox_proxies_lagging'), 0, 'the default threshold, 30 s, has not passed');

    // Past a threshold of 1 s: both flagged, the live version shown as applied by none.
    const strict = await waitFor('the proxies flagged as lagging', async () => {
      const f = await fleet('?lagThresholdMs=1000');
      return f.lagging === 2 && f;
    });
    assert.ok(Date.now() - Date.parse(at) > 1000);
    assert.deepEqual(strict.proxies.map((p) => p.lagging), [true, true]);
    assert.deepEqual(strict.convergence[0], { version: 3, committedAt: at, applied: 0, pending: 2, maxPropagationMs: null, lastProxy: null, lastAppliedAt: null });
    assert.equal(gauge((await api('/metrics?lagThresholdMs=1000')).text, 'signalbox_proxies_lagging'), 2);
    const cli = await runCli(['status', '--lag-threshold', '1s'], stack.env);
    assert.match(cli.stdout, /2 proxies, 0 in sync, 2 lagging \(not on it 1\.0 s after its commit\)/);
    assert.match(cli.stdout, /^edge-1 +2 +LAGGING +connected .*unknown upstream "nope"$/m);
    const usage = await runCli(['status', '--lag-threshold', '1'], stack.env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--lag-threshold must be a number and a unit/);

    // A valid version heals the fleet: nothing lags, even at 0 ms.
    await apply(doc('/v4'));
    await allAt(4);
    const healed = await fleet('?lagThresholdMs=0');
    assert.equal(healed.lagging, 0);
    assert.equal(gauge((await api('/metrics?lagThresholdMs=0')).text, 'signalbox_proxies_lagging'), 0);
    assert.deepEqual(healed.convergence.slice(0, 2).map((v) => [v.version, v.applied, v.pending]), [[4, 2, 0], [2, 2, 0]], 'version 3 was applied by none and is not live');
  });

  it('live traffic: each proxy sums its requests per route; the control plane adds up the fleet', async () => {
    const send = async (p: ProxyProcess, path: string, times: number) => {
      for (let i = 0; i < times; i++) await (await fetch(`${p.url}${path}`)).text();
    };
    const [one, two] = edges as [ProxyProcess, ProxyProcess];
    await send(one, '/users/1', 6);
    await send(one, '/broken', 2);
    await send(two, '/users/2', 3);
    await send(two, '/users/slow', 1);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

    const own = (await getJson<TrafficSummary>(`${one.admin}/traffic`)).body;
    const byRoute = Object.fromEntries(own.routes.map((r) => [r.route, [sum(r.requests), sum(r.errors)]]));
    assert.deepEqual(byRoute, { users: [6, 0], broken: [2, 2] });
    assert.deepEqual([sum(own.total.requests), sum(own.total.errors)], [8, 2]);
    for (const bad of ['0', '201', 'abc']) {
      const res = await fetch(`${one.admin}/traffic?top=${bad}`);
      assert.equal(res.status, 400, bad);
      assert.match(((await res.json()) as { error: string }).error, /^top must be an integer from 1 to 200/);
    }

    const traffic = (await api<Traffic>('/api/v1/traffic?top=5')).json();
    assert.deepEqual([traffic.fleet.requests, traffic.fleet.errors], [12, 2]);
    assert.deepEqual(traffic.routes.map((r) => [r.route, r.proxies, r.requests, r.errors]), [['users', 2, 10, 0], ['broken', 1, 2, 2]]);
    const users = traffic.routes[0]!;
    const p99 = Math.max(...users.p99Ms.filter((x): x is number => x !== null));
    // 300 ms: far above what a loaded machine adds to the fast requests, and inside one bucket.
    assert.ok(p99 > 250 && p99 <= 500, `the 300 ms request is the p99 of its bucket (250-500 ms): ${p99}`);
    assert.ok(Math.max(...traffic.routes[1]!.errorRate.filter((x): x is number => x !== null)) === 1, 'every /broken request was a 502');
    assert.deepEqual(traffic.proxies.map((p) => ['error' in p ? p.error : p.requests, p.id]).sort(), [[4, 'edge-2'], [8, 'edge-1']]);
    const perProxy = sum(traffic.proxies.map((p) => ('error' in p ? 0 : sum(p.requestsPerSecond))));
    assert.ok(Math.abs(sum(traffic.fleet.requestsPerSecond) - perProxy) < 0.1, 'the fleet rate is the sum of the proxies\' (each rounded to 0.01)');
    assert.deepEqual((await api<Traffic>('/api/v1/traffic?top=1')).json().routes.map((r) => r.route), ['users']);
    assert.equal((await api('/api/v1/traffic?top=0')).status, 400);

    // A proxy that does not answer is named with why; the others still count.
    two.proc.kill('SIGSTOP');
    try {
      const partial = (await api<Traffic>('/api/v1/traffic?top=3')).json();
      assert.equal(partial.fleet.requests, 8);
      const frozen = partial.proxies.find((p) => p.id === 'edge-2');
      assert.deepEqual(frozen, { id: 'edge-2', error: `no answer from ${two.admin} within 1500 ms` });
    } finally {
      two.proc.kill('SIGCONT');
    }

    // Registry entries anyone could write: listed with why, never a failure.
    await client.put('/signalbox/proxies/everywhere').value(JSON.stringify({ listen: { admin: 'http://0.0.0.0:9' } }));
    await client.put('/signalbox/proxies/junk').value('not json');
    try {
      const odd = (await api<Traffic>('/api/v1/traffic?top=4')).json();
      const why = Object.fromEntries(odd.proxies.filter((p) => 'error' in p).map((p) => [p.id, (p as { error: string }).error]));
      assert.match(why.everywhere!, /listens on every interface \(0\.0\.0\.0:9\)/);
      assert.equal(why.junk, 'no admin URL to ask (registered null)');
      assert.equal(odd.fleet.requests, 12);
      assert.equal((await api('/api/v1/proxies')).status, 200);
    } finally {
      await client.delete().key('/signalbox/proxies/everywhere');
      await client.delete().key('/signalbox/proxies/junk');
    }
  });
});
