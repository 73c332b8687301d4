// WebSocket (and any Upgrade) through the proxy: real `ws` clients and servers. Sessions survive
// config swaps (through etcd, into a real proxy process) and hold neither runtime nor pool; the
// upgrade request goes through routing and policies like any other; `websocket: false` and
// `Upgrade: h2c` are forwarded as ordinary requests; SIGTERM cuts open sessions at the drain
// timeout and the proxy exits.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { compile, deadUrl, proxy, rawRequest, upstream } from '../helpers/data-plane.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { CERT_A, KEY_A } from '../unit/tls-fixtures.js';
import { startProxyProcess, waitFor, type ProxyProcess } from '../helpers/processes.js';
import { closed, connectWs, echoServer, refusedWs, roundTrip } from '../helpers/websocket.js';

const T = { timeout: 60_000 };
const keys = new Keys();

async function etcdWriter() {
  const etcd = await startTestEtcd();
  const client = createEtcdClient([etcd.endpoint]);
  atFileEnd(() => client.close());
  const writer = new ConfigWriter(client, keys);
  let version = 0;
  const write = async (doc: unknown): Promise<number> => {
    const r = validateDocument(doc);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
    version = (await writer.write(r.config, { author: 'test', source: 'api', message: 'ws' })).version.version;
    return version;
  };
  return { etcd, write };
}

async function served(p: ProxyProcess, version: number): Promise<void> {
  await waitFor(`the proxy to serve version ${version}`, async () => (await p.status()).version === version);
}

async function metricsText(p: ProxyProcess): Promise<string> {
  return (await fetch(`${p.admin}/metrics`)).text();
}

function metric(text: string, line: RegExp): number | undefined {
  const m = text.match(line);
  return m ? Number(m[1]) : undefined;
}

describe('WebSocket through a proxy process', T, () => {
  it('a session survives 10 swaps, including ones that remove its route and its upstream; new sessions follow the config', T, async () => {
    const a = await echoServer('a');
    const b = await echoServer('b');
    const { etcd, write } = await etcdWriter();
    const route = (id: string, upstream: string) => ({ id, match: { paths: ['/ws', '/ws/*'] }, upstream });
    const other = { id: 'other', match: { paths: ['/other'] }, upstream: 'b' };
    const ups = {
      a: { id: 'a', targets: [{ url: a.url }] },
      aHeavy: { id: 'a', targets: [{ url: a.url, weight: 5 }] },
      b: { id: 'b', targets: [{ url: b.url }] },
    };
    await write({ upstreams: [ups.a, ups.b], routes: [route('ws', 'a')] });
    const p = await startProxyProcess(etcd.endpoint, { id: 'ws-swaps' });

    const ws = await connectWs(`${p.url}/ws/chat`);
    assert.equal(await roundTrip(ws, 'hello'), 'a:hello');

    const swaps: { what: string; doc: unknown; newSessionsGo: string | number }[] = [
      { what: 'an unrelated route added', doc: { upstreams: [ups.a, ups.b], routes: [route('ws', 'a'), other] }, newSessionsGo: 'a' },
      { what: "its upstream's definition changed (a new pool)", doc: { upstreams: [ups.aHeavy, ups.b], routes: [route('ws', 'a'), other] }, newSessionsGo: 'a' },
      { what: 'its route removed', doc: { upstreams: [ups.aHeavy, ups.b], routes: [other] }, newSessionsGo: 404 },
      { what: 'its route and its upstream removed', doc: { upstreams: [ups.b], routes: [other] }, newSessionsGo: 404 },
      { what: 'a route of the same id to another upstream', doc: { upstreams: [ups.b], routes: [route('ws', 'b')] }, newSessionsGo: 'b' },
      { what: 'websocket: false on that route', doc: { upstreams: [ups.b], routes: [{ ...route('ws', 'b'), websocket: false }] }, newSessionsGo: 426 },
      { what: 'its upstream back', doc: { upstreams: [ups.a, ups.b], routes: [route('ws', 'a')] }, newSessionsGo: 'a' },
      { what: 'a policy on the route', doc: { upstreams: [ups.a, ups.b], routes: [{ ...route('ws', 'a'), policies: ['rl'] }], policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 1000 }] }, newSessionsGo: 'a' },
      { what: 'everything removed', doc: {}, newSessionsGo: 404 },
      { what: 'the first config again', doc: { upstreams: [ups.a, ups.b], routes: [route('ws', 'a')] }, newSessionsGo: 'a' },
    ];
    for (const [i, swap] of swaps.entries()) {
      await served(p, await write(swap.doc));
      assert.equal(await roundTrip(ws, `after swap ${i + 1}`), `a:after swap ${i + 1}`, `messages flow after: ${swap.what}`);
      if (typeof swap.newSessionsGo === 'string') {
        const fresh = await connectWs(`${p.url}/ws/chat`);
        assert.equal(await roundTrip(fresh, 'new'), `${swap.newSessionsGo}:new`, `a new session after: ${swap.what}`);
        fresh.close();
        await closed(fresh);
      } else {
        assert.equal((await refusedWs(`${p.url}/ws/chat`)).status, swap.newSessionsGo, `a new session after: ${swap.what}`);
      }
    }
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close(1000, 'done');
    assert.equal(await closed(ws), 1000, 'the session ends when a side closes it, with its close code');
    await waitFor('the upstream session closed', () => a.open === 0);
  });

  it('counts upgrades by route, and the upgraded connections open now, in /metrics', T, async () => {
    const a = await echoServer('a');
    const { etcd, write } = await etcdWriter();
    await write({ upstreams: [{ id: 'a', targets: [{ url: a.url }] }], routes: [{ id: 'chat', match: { paths: ['/ws'] }, upstream: 'a' }] });
    const p = await startProxyProcess(etcd.endpoint, { id: 'ws-metrics' });

    const before = await metricsText(p);
    assert.equal(metric(before, /^signalbox_upgraded_connections (\d+)$/m), 0);
    const one = await connectWs(`${p.url}/ws`);
    const two = await connectWs(`${p.url}/ws`);
    await roundTrip(two, 'x');
    let text = await metricsText(p);
    assert.equal(metric(text, /^signalbox_upgrades_total\{route="chat"\} (\d+)$/m), 2);
    assert.equal(metric(text, /^signalbox_upgraded_connections (\d+)$/m), 2);
    assert.equal(metric(text, /^signalbox_requests_total\{route="chat",code="101"\} (\d+)$/m), 2, 'the upgrade request is a request answered 101');

    one.close();
    await closed(one);
    await waitFor('one connection left', async () => metric(await metricsText(p), /^signalbox_upgraded_connections (\d+)$/m) === 1);
    two.terminate();
    await waitFor('none left', async () => metric(await metricsText(p), /^signalbox_upgraded_connections (\d+)$/m) === 0);
    text = await metricsText(p);
    assert.equal(metric(text, /^signalbox_upgrades_total\{route="chat"\} (\d+)$/m), 2);
  });

  it('SIGTERM: an open session works through the drain, is cut at the drain timeout, and the proxy exits 0', T, async () => {
    const a = await echoServer('a');
    const { etcd, write } = await etcdWriter();
    await write({ upstreams: [{ id: 'a', targets: [{ url: a.url }] }], routes: [{ id: 'chat', match: { paths: ['/ws'] }, upstream: 'a' }] });
    const p = await startProxyProcess(etcd.endpoint, { id: 'ws-drain', args: ['--drain-timeout-ms', '1500'] });
    const ws = await connectWs(`${p.url}/ws`);
    assert.equal(await roundTrip(ws, 'before'), 'a:before');
    const events: string[] = [];
    const wsClosed = closed(ws).then(() => events.push('session closed'));
    const exited = once(p.proc, 'exit').then(([code]) => {
      events.push('proxy exited');
      return code as number;
    });

    p.proc.kill('SIGTERM');
    await waitFor('/readyz 503', async () => (await fetch(`${p.admin}/readyz`)).status === 503);
    assert.equal(await roundTrip(ws, 'draining'), 'a:draining', 'the session still works while the proxy drains');
    events.push('message during the drain');
    await wsClosed;
    assert.equal(await exited, 0);
    assert.deepEqual(events, ['message during the drain', 'session closed', 'proxy exited']);
    assert.match(p.output(), /drain timeout reached/);
    await waitFor('the upstream side closed too', () => a.open === 0);
  });
});

describe('upgrade requests', T, () => {
  const doc = (url: string, route: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
    upstreams: [{ id: 'u', targets: [{ url }] }],
    routes: [{ id: 'ws', match: { paths: ['/ws'] }, upstream: 'u', ...route }],
    ...extra,
  });

  it('a session holds neither its runtime nor its upstream pool: both are let go while it stays open', T, async (t) => {
    const a = await echoServer('a');
    const p = await proxy(t, doc(a.url));
    const ws = await connectWs(`${p.url}/ws`);
    assert.equal(await roundTrip(ws, '1'), 'a:1');
    const first = p.holder.current!;
    const pool = first.upstreams.get('u')!;
    assert.equal(first.inFlight, 0, 'the runtime was released at the 101');

    p.holder.swap(compile({}, first));
    await first.released; // resolves once its last request ended and its pools closed
    assert.equal(pool.closed, true, 'the removed upstream closed its pool');
    assert.equal(await roundTrip(ws, '2'), 'a:2', 'the session outlives its route, its upstream and their runtime');
    ws.close();
    await closed(ws);
  });

  it('works on the TLS listener too (HTTP/1.1 by ALPN), with X-Forwarded-Proto https', T, async (t) => {
    const a = await echoServer('a');
    const p = await proxy(t, { ...doc(a.url), certificates: [{ id: 'a', snis: ['a.example.test'], cert: CERT_A, key: KEY_A }] }, { https: true });
    // ws passes servername on to tls.connect (its types do not list it): the certificate is chosen by SNI.
    const tlsOptions = { ca: CERT_A, servername: 'a.example.test', headers: { host: 'a.example.test' } } as WebSocket.ClientOptions;
    const ws = new WebSocket(`${p.httpsUrl!.replace('https', 'wss')}/ws`, tlsOptions);
    t.after(() => ws.terminate());
    await once(ws, 'open');
    assert.equal(await roundTrip(ws, 'secure'), 'a:secure');
    assert.equal(a.upgrades[0]!['x-forwarded-proto'], 'https');
  });

  it('an idle session outlives readTimeoutMs, which is about HTTP responses', T, async (t) => {
    const a = await echoServer('a');
    const p = await proxy(t, { upstreams: [{ id: 'u', targets: [{ url: a.url }], readTimeoutMs: 100 }], routes: [{ id: 'ws', match: { paths: ['/ws'] }, upstream: 'u' }] });
    const ws = await connectWs(`${p.url}/ws`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await roundTrip(ws, 'still here'), 'a:still here');
    ws.terminate();
  });

  it('websocket: false forwards the request without Upgrade: the upstream answers it as an ordinary request', T, async (t) => {
    const a = await echoServer('a');
    const p = await proxy(t, doc(a.url, { websocket: false }));
    const r = await refusedWs(`${p.url}/ws`, { 'x-mine': '1' });
    assert.equal(r.status, 426);
    assert.equal(r.body, 'a: upgrade required');
    assert.equal(a.upgrades.length, 0, 'no upgrade reached the upstream');
    const seen = a.plain[0]!;
    assert.equal(seen.upgrade, undefined);
    assert.doesNotMatch(String(seen.connection), /upgrade/i);
    assert.equal(seen['x-mine'], '1');
    assert.equal(seen['sec-websocket-version'], '13', 'end-to-end fields go as they came');
  });

  it('goes through the same checks as any request: no route 404, a rate limit 429, a bad path 400; none reaches the upstream', T, async (t) => {
    const a = await echoServer('a');
    const p = await proxy(t, doc(a.url, { policies: ['rl'] }, { policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 0.001, burst: 1 }] }));
    assert.equal((await refusedWs(`${p.url}/nowhere`)).status, 404);
    assert.equal((await refusedWs(`${p.url}/ws%00`)).status, 400);
    const ws = await connectWs(`${p.url}/ws`);
    ws.terminate();
    const limited = await refusedWs(`${p.url}/ws`);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'] !== undefined, true);
    assert.deepEqual(JSON.parse(limited.body), { error: 'rate_limited' });
    assert.equal(a.upgrades.length, 1, 'only the admitted upgrade reached the upstream');
    assert.equal(a.plain.length, 0);
  });

  it('sets X-Forwarded-* and passes Upgrade, Connection and the WebSocket fields to the target', T, async (t) => {
    const a = await echoServer('a');
    const p = await proxy(t, doc(a.url));
    const ws = await connectWs(`${p.url}/ws`, { 'x-forwarded-for': '203.0.113.9' }, ['chat']);
    const seen = a.upgrades[0]!;
    assert.equal(seen.upgrade, 'websocket');
    assert.match(String(seen.connection), /upgrade/i);
    assert.equal(seen['x-forwarded-for'], '127.0.0.1', 'an untrusted peer does not choose its address');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['sec-websocket-protocol'], 'chat');
    assert.equal(ws.protocol, 'chat', "the target's 101 fields reach the client");
    ws.terminate();
  });

  it('never tunnels Upgrade: h2c (it would carry requests no route sees): the request goes without it', T, async (t) => {
    const seen: IncomingHttpHeaders[] = [];
    let switched = 0;
    const up = await upstream(t, (req, res) => {
      seen.push(req.headers);
      res.end('plain');
    });
    up.server.on('upgrade', (_req, socket: Duplex) => {
      switched++;
      socket.end('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n');
    });
    const p = await proxy(t, doc(up.url));
    const r = await rawRequest(p.url, 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'plain');
    assert.equal(switched, 0);
    assert.equal(seen[0]!.upgrade, undefined);
    assert.equal(seen[0]!['http2-settings'], undefined, 'the field Connection named is dropped');
  });

  it('a target that is down gets 502; one that answers without 101 has its answer passed on', T, async (t) => {
    const p = await proxy(t, doc(await deadUrl()));
    const down = await refusedWs(`${p.url}/ws`);
    assert.equal(down.status, 502);
    assert.deepEqual(JSON.parse(down.body), { error: 'bad_gateway' });

    const plain = await upstream(t, (_req, res) => res.writeHead(403, { 'x-why': 'nope' }).end('forbidden here'));
    const q = await proxy(t, doc(plain.url));
    const r = await refusedWs(`${q.url}/ws`);
    assert.equal(r.status, 403);
    assert.equal(r.headers['x-why'], 'nope');
    assert.equal(r.body, 'forbidden here');
  });

  it('an upgrade request with a body is refused (its body cannot be told from the new protocol)', T, async (t) => {
    const a = await echoServer('a');
    const p = await proxy(t, doc(a.url));
    const r = await rawRequest(p.url, 'POST /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\nabc');
    assert.equal(r.status, 400);
    assert.equal(a.upgrades.length + a.plain.length, 0);
  });

  it('carries large messages both ways whole (pipe, with backpressure)', T, async (t) => {
    const a = await echoServer('a');
    const p = await proxy(t, doc(a.url));
    const ws = await connectWs(`${p.url}/ws`);
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    big[big.length - 1] = 9;
    const back = new Promise<Buffer>((resolve) => ws.once('message', (d) => resolve(d as Buffer)));
    ws.send(big, { binary: true });
    assert.equal((await back).equals(big), true);
    ws.terminate();
  });

  it('answers 503 no_config before a config is loaded', T, async (t) => {
    const p = await proxy(t, null);
    const r = await refusedWs(`${p.url}/ws`);
    assert.equal(r.status, 503);
    // node:http closes the connection after the answer: the proxy is done with it.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${p.url}/ws`, { headers: { connection: 'upgrade', upgrade: 'websocket' }, agent: false }, (res) => {
        assert.equal(res.headers.connection, 'close');
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
  });
});
