// Upstreams that fail: a request the upstream may have acted on is never sent again unless it
// is safe; passive ejection never takes out the last target, nor more than its share; targets
// that reset or answer garbage after accepting count as failures.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { deadUrl, json, named, proxy, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 15_000 };

interface RawUpstream {
  url: string;
  /** "METHOD /path" of every request read whole, in order. */
  arrivals: string[];
  /** Server-side sockets, in order of connection. */
  sockets: Socket[];
}

/**
 * An upstream on a plain TCP server: `onRequest` is called for each request read whole (its
 * head, and a body by Content-Length or chunked), with its index on its connection, and decides
 * what the connection gets.
 */
async function rawUpstream(t: TestContext, onRequest: (socket: Socket, indexOnConnection: number) => void): Promise<RawUpstream> {
  const arrivals: string[] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    let buffered = '';
    let index = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const headEnd = buffered.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffered.slice(0, headEnd);
        let end = headEnd + 4;
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (length) end += Number(length[1]);
        else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const last = buffered.indexOf('0\r\n\r\n', headEnd + 4);
          if (last < 0) return;
          end = last + 5;
        }
        if (buffered.length < end) return;
        buffered = buffered.slice(end);
        const [method, path] = head.split(' ');
        arrivals.push(`${method} ${path}`);
        onRequest(socket, index++);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals, sockets };
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok';

const single = (url: string) => ({
  upstreams: [{ id: 'u', targets: [{ url }] }],
  routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }],
});

/** A proxy whose one upstream has two targets: `failing` first, then a good one. */
async function pairWith(t: TestContext, failing: RawUpstream) {
  const good = await upstream(t, named('good'));
  return proxy(t, {
    upstreams: [{ id: 'pair', targets: [{ url: failing.url }, { url: good.url }] }],
    routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'pair' }],
  });
}

describe('requests the upstream may have acted on', () => {
  it('a DELETE and a POST whose connection is reset after the upstream read them arrive once: 502', T, async (t) => {
    const up = await rawUpstream(t, (socket) => socket.resetAndDestroy());
    const p = await proxy(t, single(up.url));
    const del = await send(p.url, '/orders/7', { method: 'DELETE' });
    assert.equal(del.status, 502);
    assert.deepEqual(json(del), { error: 'bad_gateway' });
    const post = await send(p.url, '/orders', { method: 'POST', body: '{"n":1}', headers: { 'content-type': 'application/json' } });
    assert.equal(post.status, 502);
    assert.deepEqual(up.arrivals, ['DELETE /orders/7', 'POST /orders']);
  });

  it('a GET on a keep-alive connection the upstream closed as it went out is sent again: 200', T, async (t) => {
    // Each connection answers its first request and closes on the second without answering: what
    // a keep-alive timeout that fires as the request arrives looks like from the proxy.
    const up = await rawUpstream(t, (socket, i) => (i === 0 ? socket.write(OK) : socket.destroy()));
    const p = await proxy(t, single(up.url));
    assert.equal((await send(p.url, '/1')).status, 200);
    const again = await send(p.url, '/2');
    assert.equal(again.status, 200, again.body);
    assert.equal(again.body, 'ok');
    assert.deepEqual(up.arrivals, ['GET /1', 'GET /2', 'GET /2']);
    assert.equal(up.sockets.length, 2, 'the second try went on a new connection');
  });

  it('a DELETE in that same race is not sent again: 502, and it arrived once', T, async (t) => {
    const up = await rawUpstream(t, (socket, i) => (i === 0 ? socket.write(OK) : socket.destroy()));
    const p = await proxy(t, single(up.url));
    assert.equal((await send(p.url, '/1')).status, 200);
    assert.equal((await send(p.url, '/orders/7', { method: 'DELETE' })).status, 502);
    assert.deepEqual(up.arrivals, ['GET /1', 'DELETE /orders/7']);
  });

  it('a keep-alive connection closed before the request was written costs nothing: the DELETE goes once, 200', T, async (t) => {
    const up = await rawUpstream(t, (socket) => socket.end(OK));
    const p = await proxy(t, single(up.url));
    assert.equal((await send(p.url, '/1')).status, 200);
    await once(up.sockets[0]!, 'close');
    const del = await send(p.url, '/orders/7', { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.deepEqual(up.arrivals, ['GET /1', 'DELETE /orders/7']);
  });

  it('a safe request is sent again to another target when there is one', T, async (t) => {
    const resetting = await rawUpstream(t, (socket) => socket.resetAndDestroy());
    const p = await pairWith(t, resetting);
    const r = await send(p.url, '/x');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'good');
    assert.deepEqual(resetting.arrivals, ['GET /x']);
  });
});

describe('passive ejection', () => {
  it('a target that accepts then resets is ejected, and later requests skip it', T, async (t) => {
    const resetting = await rawUpstream(t, (socket) => socket.resetAndDestroy());
    const p = await pairWith(t, resetting);
    const post = await send(p.url, '/orders', { method: 'POST', body: 'x' });
    assert.equal(post.status, 502, 'a POST it may have acted on is not sent again');
    const pool = p.holder.current!.upstreams.get('pair')!;
    assert.equal(pool.isEjected(0), true);
    for (let i = 0; i < 4; i++) assert.equal((await send(p.url, '/x')).body, 'good');
    assert.deepEqual(resetting.arrivals, ['POST /orders']);
  });

  it('a target that answers with something that is not HTTP is ejected', T, async (t) => {
    const garbage = await rawUpstream(t, (socket) => socket.end('NOT HTTP AT ALL\r\n\r\n'));
    const p = await pairWith(t, garbage);
    const r = await send(p.url, '/x');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'good');
    assert.equal(p.holder.current!.upstreams.get('pair')!.isEjected(0), true);
  });

  it('ejects at most maxEjectionPercent of the targets (default 10 %, at least one); requests still find the live one', T, async (t) => {
    const [dead1, dead2] = [await deadUrl(), await deadUrl()];
    const live = await upstream(t, named('live'));
    const targets = [{ url: dead1 }, { url: dead2 }, { url: live.url }];
    const p = await proxy(t, {
      upstreams: [
        { id: 'default', targets },
        { id: 'all', targets, maxEjectionPercent: 100 },
      ],
      routes: [
        { id: 'd', match: { paths: ['/d'] }, upstream: 'default' },
        { id: 'a', match: { paths: ['/a'] }, upstream: 'all' },
      ],
    });
    for (let i = 0; i < 3; i++) {
      assert.equal((await send(p.url, '/d')).body, 'live');
      assert.equal((await send(p.url, '/a')).body, 'live');
    }
    const pools = p.holder.current!.upstreams;
    assert.equal(pools.get('default')!.available(), 2, '10 % of 3 targets: one out at most');
    assert.equal(pools.get('all')!.available(), 1, '100 %: both dead ones out, never the last');
    assert.equal(pools.get('all')!.isEjected(2), false);
  });
});
