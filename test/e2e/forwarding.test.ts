// The data plane end to end without etcd: a Config compiled into a runtime, served by the real
// listeners, forwarding to real HTTP servers on 127.0.0.1.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { CERT_A, CERT_B, KEY_A, KEY_B } from '../unit/tls-fixtures.js';
import { TrustedProxies } from '../../src/proxy/forwarded.js';
import { compile, deadUrl, deferred, json, named, proxy, read, send, upstream, type Reply } from '../helpers/data-plane.js';

const T = { timeout: 15_000 };

// ---------------------------------------------------------------- tests

describe('forwarding', () => {
  it('answers 503 no_config before any config is loaded', T, async (t) => {
    const p = await proxy(t, null);
    const r = await send(p.url, '/');
    assert.equal(r.status, 503);
    assert.deepEqual(json(r), { error: 'no_config' });
    assert.match(String(r.headers['content-type']), /^application\/json/);
  });

  it('splits requests by weight, 2:1 exactly', T, async (t) => {
    const a = await upstream(t, named('a'));
    const b = await upstream(t, named('b'));
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url, weight: 2 }, { url: b.url }] }],
      routes: [{ id: 'all', match: { paths: ['/*'] }, upstream: 'u' }],
    });
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await send(p.url, '/')).body);
    assert.deepEqual(seen, ['a', 'b', 'a', 'a', 'b', 'a']);
  });

  it('keeps Host and path and query; replaces X-Forwarded-* from an untrusted peer', T, async (t) => {
    const a = await upstream(t, named('a'));
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
      routes: [{ id: 'r', match: { hosts: ['api.example.test'], paths: ['/echo/*'] }, upstream: 'u' }],
    });
    const r = await send(p.url, '/echo/x?q=1&r=%2F', {
      headers: { host: 'api.example.test:8080', 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'spoofed', 'x-forwarded-host': 'spoofed' },
    });
    assert.equal(r.status, 200);
    const got = json(r) as { url: string; headers: IncomingHttpHeaders };
    assert.equal(got.url, '/echo/x?q=1&r=%2F');
    assert.equal(got.headers.host, 'api.example.test:8080');
    assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(got.headers['x-forwarded-proto'], 'http');
    assert.equal(got.headers['x-forwarded-host'], 'api.example.test:8080');
  });

  it('X-Request-Id: a valid one is passed on and returned; none, or an invalid one, gets a new one, the same both ways', T, async (t) => {
    const a = await upstream(t, named('a'));
    const p = await proxy(t, { upstreams: [{ id: 'u', targets: [{ url: a.url }] }], routes: [{ id: 'r', match: { paths: ['/echo/*'] }, upstream: 'u' }] });
    const sentUp = (r: Reply) => (json(r) as { headers: IncomingHttpHeaders }).headers['x-request-id'];

    const kept = await send(p.url, '/echo/x', { headers: { 'x-request-id': '01J9ZQ3K5N0E8V6W4X2Y7A1B3C' } });
    assert.equal(sentUp(kept), '01J9ZQ3K5N0E8V6W4X2Y7A1B3C');
    assert.equal(kept.headers['x-request-id'], '01J9ZQ3K5N0E8V6W4X2Y7A1B3C');

    for (const headers of [{}, { 'x-request-id': 'has spaces in it' }, { 'x-request-id': 'x'.repeat(129) }]) {
      const r = await send(p.url, '/echo/x', { headers });
      assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/, JSON.stringify(headers));
      assert.equal(sentUp(r), r.headers['x-request-id'], 'the upstream got the id the client got back');
    }
    const noRoute = await send(p.url, '/nowhere', { headers: { 'x-request-id': 'abc-1' } });
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.headers['x-request-id'], 'abc-1', "the proxy's own answers carry it too");
  });

  it('from a trusted peer appends to X-Forwarded-For and keeps X-Forwarded-Proto and -Host', T, async (t) => {
    const a = await upstream(t, named('a'));
    const doc = { upstreams: [{ id: 'u', targets: [{ url: a.url }] }], routes: [{ id: 'r', match: { paths: ['/echo/*'] }, upstream: 'u' }] };
    const p = await proxy(t, doc, { trustedProxies: TrustedProxies.parse('127.0.0.1/32') });
    const headers = { host: 'inner:8080', 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' };
    const trusted = json(await send(p.url, '/echo/x', { headers })) as { headers: IncomingHttpHeaders };
    assert.equal(trusted.headers['x-forwarded-for'], '203.0.113.5, 127.0.0.1');
    assert.equal(trusted.headers['x-forwarded-proto'], 'https');
    assert.equal(trusted.headers['x-forwarded-host'], 'shop.example');
    // 127.0.0.2 is loopback too (Linux), but not in the list.
    const untrusted = json(await send(p.url, '/echo/x', { headers, localAddress: '127.0.0.2' })) as { headers: IncomingHttpHeaders };
    assert.equal(untrusted.headers['x-forwarded-for'], '127.0.0.2');
    assert.equal(untrusted.headers['x-forwarded-proto'], 'http');
    assert.equal(untrusted.headers['x-forwarded-host'], 'inner:8080');
  });

  it('an informational 103 from the upstream does not disturb the final response', T, async (t) => {
    const a = await upstream(t, (_req, res) => {
      res.writeEarlyHints({ link: '</app.css>; rel=preload; as=style' });
      res.end('final');
    });
    const p = await proxy(t, { upstreams: [{ id: 'u', targets: [{ url: a.url }] }], routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }] });
    const hints: IncomingHttpHeaders[] = [];
    const r = await new Promise<Reply>((resolve, reject) => {
      const req = httpRequest(`${p.url}/page`, { agent: false }, (res) => read(res).then((body) => resolve({ status: res.statusCode!, headers: res.headers, body }), reject));
      req.on('information', (info) => hints.push({ status: String(info.statusCode), link: info.headers.link }));
      req.on('error', reject).end();
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'final');
    assert.deepEqual(hints, [{ status: '103', link: '</app.css>; rel=preload; as=style' }]);
  });

  it('a request with Expect: 100-continue gets its body through', T, async (t) => {
    const a = await upstream(t, (req, res) => void read(req).then((body) => res.end(`got ${body}`)));
    const p = await proxy(t, { upstreams: [{ id: 'u', targets: [{ url: a.url }] }], routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }] });
    const r = await send(p.url, '/upload', { method: 'POST', headers: { expect: '100-continue', 'content-length': '5' }, body: 'hello' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'got hello');
  });

  it('drops hop-by-hop headers both ways, including those named in Connection', T, async (t) => {
    const a = await upstream(t, (req, res) => {
      res.setHeader('connection', 'x-resp-hop');
      res.setHeader('x-resp-hop', '1');
      res.setHeader('keep-alive', 'timeout=99');
      res.setHeader('proxy-authenticate', 'Basic');
      res.setHeader('upgrade', 'foo/1');
      res.setHeader('trailer', 'x-t');
      res.setHeader('x-resp-keep', 'yes');
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.end(JSON.stringify(req.headers));
    });
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
    });
    const r = await send(p.url, '/', {
      method: 'POST',
      body: 'chunked body',
      headers: {
        'transfer-encoding': 'chunked',
        connection: 'close, X-Hop-Custom',
        'x-hop-custom': '1',
        'keep-alive': 'timeout=5',
        te: 'deflate, trailers',
        trailer: 'x-t',
        'proxy-authorization': 'Basic eDp5',
        upgrade: 'h2c',
        'x-keep-me': 'yes',
      },
    });
    const up = JSON.parse(r.body) as IncomingHttpHeaders;
    for (const h of ['x-hop-custom', 'keep-alive', 'trailer', 'proxy-authorization', 'upgrade']) {
      assert.equal(up[h], undefined, `request header ${h} was forwarded`);
    }
    assert.equal(up.te, 'trailers', "TE is the proxy's own: it passes trailers on to this client");
    assert.doesNotMatch(String(up.connection), /x-hop-custom/i);
    assert.equal(up['x-keep-me'], 'yes');

    for (const h of ['x-resp-hop', 'proxy-authenticate', 'upgrade']) {
      assert.equal(r.headers[h], undefined, `response header ${h} was forwarded`);
    }
    assert.equal(r.headers.trailer, 'x-t', 'Trailer reaches a client that takes trailers');
    assert.notEqual(r.headers['keep-alive'], 'timeout=99');
    assert.doesNotMatch(String(r.headers.connection), /x-resp-hop/);
    assert.equal(r.headers['x-resp-keep'], 'yes');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  });

  it('streams the response: the client sees the first chunk before the upstream ends', T, async (t) => {
    const release = deferred();
    const a = await upstream(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      void release.promise.then(() => res.end('second'));
    });
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
    });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${p.url}/stream`, { agent: false }, resolve).on('error', reject).end();
    });
    res.setEncoding('utf8');
    const [first] = (await once(res, 'data')) as [string];
    assert.equal(first, 'first;');
    assert.equal(res.complete, false);
    release.resolve();
    let rest = '';
    res.on('data', (c: string) => (rest += c));
    await once(res, 'end');
    assert.equal(rest, 'second');
  });

  it('streams the request body: the upstream sees the first chunk before the client ends', T, async (t) => {
    const firstChunk = deferred<string>();
    const a = await upstream(t, (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        if (body === '') firstChunk.resolve(c);
        body += c;
      });
      req.on('end', () => res.end(`got:${body}`));
    });
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'], methods: ['POST'] }, upstream: 'u' }],
    });
    const reply = deferred<Reply>();
    const req = httpRequest(`${p.url}/upload`, { method: 'POST', agent: false }, (res) => {
      void read(res).then((body) => reply.resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.write('part1;');
    assert.equal(await firstChunk.promise, 'part1;');
    req.end('part2');
    const r = await reply.promise;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'got:part1;part2');
  });

  it('answers 404 no_route, and 429 rate_limited with Retry-After', T, async (t) => {
    const a = await upstream(t, named('a'));
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
      routes: [{ id: 'r', match: { paths: ['/limited'] }, upstream: 'u', policies: ['slow'] }],
      // One token, refilled after ~1000 s: the second request is limited however slow the machine.
      policies: [{ id: 'slow', type: 'rate-limit', requestsPerSecond: 0.001 }],
    });
    const miss = await send(p.url, '/other');
    assert.equal(miss.status, 404);
    assert.deepEqual(json(miss), { error: 'no_route' });

    assert.equal((await send(p.url, '/limited')).body, 'a');
    const limited = await send(p.url, '/limited');
    assert.equal(limited.status, 429);
    assert.deepEqual(json(limited), { error: 'rate_limited' });
    assert.ok(Number(limited.headers['retry-after']) >= 999, `Retry-After ${limited.headers['retry-after']}`);
  });

  it('answers 502 while the only target refuses, and serves as soon as it is back; 503 with no targets', T, async (t) => {
    const dead = await deadUrl();
    const p = await proxy(t, {
      upstreams: [
        { id: 'dead', targets: [{ url: dead }] },
        { id: 'empty', targets: [] },
      ],
      routes: [
        { id: 'd', match: { paths: ['/d'] }, upstream: 'dead' },
        { id: 'e', match: { paths: ['/e'] }, upstream: 'empty' },
      ],
    });
    for (let i = 0; i < 2; i++) {
      const refused = await send(p.url, '/d');
      assert.equal(refused.status, 502);
      assert.deepEqual(json(refused), { error: 'bad_gateway' });
    }
    assert.equal(p.holder.current!.upstreams.get('dead')!.isEjected(0), false, 'the last target is never ejected');
    // The target comes back on the same port: served at once, not 503 for the rest of an ejection.
    const back = await upstream(t, named('back'), Number(new URL(dead).port));
    assert.equal(back.url, dead);
    const served = await send(p.url, '/d');
    assert.equal(served.status, 200);
    assert.equal(served.body, 'back');
    const empty = await send(p.url, '/e');
    assert.equal(empty.status, 503);
    assert.deepEqual(json(empty), { error: 'no_healthy_upstream' });
  });

  it('retries a refused connect on the next target and ejects the dead one', T, async (t) => {
    const dead = await deadUrl();
    const a = await upstream(t, named('alive'));
    const p = await proxy(t, {
      upstreams: [{ id: 'pair', targets: [{ url: dead }, { url: a.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'pair' }],
    });
    for (let i = 0; i < 3; i++) {
      const r = await send(p.url, '/', { method: i === 1 ? 'POST' : 'GET', body: i === 1 ? 'payload' : undefined });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'alive');
    }
    const pool = p.holder.current!.upstreams.get('pair')!;
    assert.equal(pool.isEjected(0), true);
    assert.equal(pool.isEjected(1), false);
  });

  it('answers 504 upstream_timeout when no response headers arrive within readTimeoutMs', T, async (t) => {
    const a = await upstream(t, () => {
      /* never answers */
    });
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url }], readTimeoutMs: 200 }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
    });
    const r = await send(p.url, '/');
    assert.equal(r.status, 504);
    assert.deepEqual(json(r), { error: 'upstream_timeout' });
    assert.equal(p.holder.current!.upstreams.get('u')!.isEjected(0), false, 'a slow target is not a dead one');
  });

  it('cuts the client connection when the upstream fails after the headers', T, async (t) => {
    const a = await upstream(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      setImmediate(() => res.socket?.destroy());
    });
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
    });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${p.url}/`, { agent: false }, resolve).on('error', reject).end();
    });
    assert.equal(res.statusCode, 200);
    // events.once would reject on the 'error' (ECONNRESET "aborted") this test expects.
    const closed = new Promise((resolve) => res.on('close', resolve));
    res.on('error', () => {});
    res.resume();
    await closed;
    assert.equal(res.complete, false, 'a truncated body must not look complete');
  });

  it('aborts the upstream request when the client goes away', T, async (t) => {
    const arrived = deferred<IncomingMessage>();
    const a = await upstream(t, (req) => arrived.resolve(req));
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
    });
    const client = httpRequest(`${p.url}/hang`, { agent: false });
    client.on('error', () => {});
    client.end();
    const upstreamReq = await arrived.promise;
    const upstreamClosed = once(upstreamReq.socket, 'close');
    client.destroy();
    await upstreamClosed;
    // The proxy records the request once its response closed.
    for (;;) {
      const text = await p.metrics.text();
      if (text.includes('signalbox_requests_total{route="r",code="499"} 1')) break;
      await new Promise((r) => setImmediate(r));
    }
  });

  it('serves HTTPS with the certificate chosen by SNI and says so in X-Forwarded-Proto', T, async (t) => {
    const a = await upstream(t, named('a'));
    const p = await proxy(
      t,
      {
        upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
        routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
        certificates: [
          { id: 'a', snis: ['a.example.test', '*.a.example.test'], cert: CERT_A, key: KEY_A },
          { id: 'b', snis: ['b.example.test'], cert: CERT_B, key: KEY_B },
        ],
      },
      { https: true },
    );
    const get = (servername: string) =>
      new Promise<{ cn: unknown; body: { headers: IncomingHttpHeaders } }>((resolve, reject) => {
        const req = httpsRequest(
          `${p.httpsUrl}/echo`,
          { servername, rejectUnauthorized: false, agent: false, headers: { host: servername } },
          (res) => {
            const cn = (res.socket as TLSSocket).getPeerCertificate().subject.CN;
            void read(res).then((body) => resolve({ cn, body: JSON.parse(body) as { headers: IncomingHttpHeaders } }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const b = await get('b.example.test');
    assert.equal(b.cn, 'b.example.test');
    assert.equal(b.body.headers['x-forwarded-proto'], 'https');
    assert.equal((await get('x.a.example.test')).cn, 'a.example.test');
  });

  it('counts requests by route and status in its metrics', T, async (t) => {
    const a = await upstream(t, named('a'));
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: a.url }] }],
      routes: [{ id: 'main', match: { paths: ['/ok'] }, upstream: 'u' }],
    });
    await send(p.url, '/ok');
    await send(p.url, '/ok');
    await send(p.url, '/missing');
    const text = await p.metrics.text();
    assert.match(text, /signalbox_requests_total\{route="main",code="200"\} 2/);
    assert.match(text, /signalbox_requests_total\{route="\(none\)",code="404"\} 1/);
    assert.match(text, /signalbox_request_duration_seconds_count\{route="main"\} 2/);
  });
});

describe('hot swap', () => {
  it('an in-flight request finishes on the old upstream, new ones go to the new; the old pool closes after it', T, async (t) => {
    const slowArrived = deferred<IncomingMessage>();
    const releaseSlow = deferred();
    const a = await upstream(t, (req, res) => {
      if (req.url === '/slow') {
        slowArrived.resolve(req);
        void releaseSlow.promise.then(() => res.end('from-a'));
        return;
      }
      res.end('from-a');
    });
    const b = await upstream(t, named('from-b'));
    const c = await upstream(t, named('from-c'));

    const shared = { id: 'c', targets: [{ url: c.url }] };
    const cRoute = { id: 'cee', match: { paths: ['/c/*'] }, upstream: 'c' };
    const doc1 = {
      upstreams: [{ id: 'main', targets: [{ url: a.url }] }, shared],
      routes: [{ id: 'main', match: { paths: ['/*'] }, upstream: 'main' }, cRoute],
    };
    const doc2 = {
      upstreams: [{ id: 'main', targets: [{ url: b.url }] }, shared],
      routes: [{ id: 'main', match: { paths: ['/*'] }, upstream: 'main' }, cRoute],
    };
    const p = await proxy(t, doc1);
    const r1 = p.holder.current!;

    assert.equal((await send(p.url, '/c/1')).body, 'from-c');
    assert.equal(c.accepted.length, 1);

    // A slow request is in flight on upstream A.
    const slowReply = send(p.url, '/slow');
    const slowReq = await slowArrived.promise;
    let aSocketClosed = false;
    const aSocketClose = once(slowReq.socket, 'close').then(() => (aSocketClosed = true));

    const r2 = compile(doc2, r1);
    p.holder.swap(r2);
    assert.equal(p.holder.current, r2);

    // New requests reach B; the unchanged upstream C keeps its pool and its connection.
    assert.equal((await send(p.url, '/fresh')).body, 'from-b');
    assert.equal((await send(p.url, '/c/2')).body, 'from-c');
    assert.equal(r2.upstreams.get('c'), r1.upstreams.get('c'), 'unchanged upstream reuses its pool');
    assert.equal(c.accepted.length, 1, 'C was reached over the same keep-alive connection');
    assert.equal(r1.upstreams.get('main')!.closed, false, "A's pool stays open while its request runs");
    assert.equal(aSocketClosed, false);
    assert.equal(r1.inFlight, 1);

    // The slow request completes with A's answer, then A's connection closes.
    releaseSlow.resolve();
    const slow = await slowReply;
    assert.equal(slow.status, 200);
    assert.equal(slow.body, 'from-a');
    await aSocketClose;
    await r1.released;
    assert.equal(r1.upstreams.get('main')!.closed, true);
    assert.equal(r2.upstreams.get('c')!.closed, false, "C's pool survives the swap");
    assert.equal(c.accepted[0]!.destroyed, false, "C's connection survives the swap");
    assert.equal(a.accepted.length, 1);
  });
});
