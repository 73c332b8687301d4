// A route's retries and timeoutMs against real upstreams: what the client gets, and how many
// times each upstream saw the request.
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage, type RequestListener } from 'node:http';
import { performance } from 'node:perf_hooks';
import { describe, it, type TestContext } from 'node:test';
import { deferred, json, proxy, read, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 20_000 };

interface Counted {
  url: string;
  /** "METHOD body" of every request, in order. */
  hits: string[];
}

/** An upstream that reads each request whole, records it, then lets `answer` respond. */
async function counted(t: TestContext, answer: RequestListener): Promise<Counted> {
  const hits: string[] = [];
  const server = await upstream(t, (req, res) => {
    void read(req).then((body) => {
      hits.push(`${req.method} ${body}`.trim());
      answer(req, res);
    });
  });
  return { url: server.url, hits };
}

const status = (code: number, body = `status ${code}`): RequestListener => (_req, res) => {
  res.statusCode = code;
  res.end(body);
};

/** Two targets, the first (picked first by round robin) `sick`, then `well`. */
function pairDoc(sick: Counted, well: Counted, route: Record<string, unknown>) {
  return {
    upstreams: [{ id: 'pair', targets: [{ url: sick.url }, { url: well.url }], maxEjectionPercent: 0 }],
    routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'pair', ...route }],
  };
}

describe('retries', () => {
  it('a 503 is retried on the other target and the client gets its answer; a kept body goes again', T, async (t) => {
    const sick = await counted(t, status(503, 'sick body'));
    const well = await counted(t, status(200, 'well'));
    const p = await proxy(t, pairDoc(sick, well, { retries: { attempts: 2, on: [503] } }));
    const get = await send(p.url, '/a');
    assert.equal(get.status, 200);
    assert.equal(get.body, 'well', "the dropped 503's body does not reach the client");
    assert.deepEqual(sick.hits, ['GET']);
    assert.deepEqual(well.hits, ['GET']);

    // Round robin moved on: make the next request start on the sick target again.
    await send(p.url, '/b');
    const put = await send(p.url, '/c', { method: 'PUT', body: 'payload' });
    assert.equal(put.status, 200);
    assert.equal(sick.hits.at(-1), 'PUT payload');
    assert.equal(well.hits.at(-1), 'PUT payload', 'the retry carried the same body');
  });

  it('never replays a request that is not idempotent: a POST or PATCH reaches a 503 target once and gets its answer', T, async (t) => {
    const sick = await counted(t, status(503, 'try later'));
    const well = await counted(t, status(200, 'well'));
    const p = await proxy(t, pairDoc(sick, well, { retries: { attempts: 3, on: [503, 'reset'] } }));
    const post = await send(p.url, '/orders', { method: 'POST', body: 'order-1' });
    assert.equal(post.status, 503);
    assert.equal(post.body, 'try later', "the upstream's own answer, not one of the proxy's");
    assert.deepEqual(sick.hits, ['POST order-1']);
    assert.deepEqual(well.hits, []);
    await send(p.url, '/skip'); // round robin back to the sick target
    const patch = await send(p.url, '/orders/1', { method: 'PATCH', body: 'x' });
    assert.equal(patch.status, 503);
    assert.deepEqual(sick.hits, ['POST order-1', 'PATCH x']);
  });

  it('a chunked PUT body is not kept, so its request is not retried once written', T, async (t) => {
    const sick = await counted(t, status(503));
    const well = await counted(t, status(200));
    const p = await proxy(t, pairDoc(sick, well, { retries: { attempts: 2, on: [503] } }));
    const r = await send(p.url, '/x', { method: 'PUT', headers: { 'transfer-encoding': 'chunked' }, body: 'streamed' });
    assert.equal(r.status, 503);
    assert.deepEqual(sick.hits, ['PUT streamed']);
    assert.deepEqual(well.hits, []);
  });

  it('"reset": a PUT whose connection is reset after the write is sent to the other target; without retries it gets 502', T, async (t) => {
    const sick = await counted(t, (req) => req.socket.destroy());
    const well = await counted(t, status(200, 'well'));
    const withRetries = await proxy(t, pairDoc(sick, well, { retries: { attempts: 2, on: ['reset'] } }));
    const r = await send(withRetries.url, '/x', { method: 'PUT', body: 'v=1' });
    assert.equal(r.status, 200);
    assert.deepEqual(sick.hits, ['PUT v=1']);
    assert.deepEqual(well.hits, ['PUT v=1']);

    const sick2 = await counted(t, (req) => req.socket.destroy());
    const well2 = await counted(t, status(200, 'well'));
    const without = await proxy(t, pairDoc(sick2, well2, {}));
    const r2 = await send(without.url, '/x', { method: 'PUT', body: 'v=1' });
    assert.equal(r2.status, 502);
    assert.deepEqual(sick2.hits, ['PUT v=1']);
    assert.deepEqual(well2.hits, []);
  });

  it('the budget bounds retries when every target fails: far fewer than attempts × requests', T, async (t) => {
    const a = await counted(t, status(503));
    const b = await counted(t, status(503));
    const p = await proxy(t, pairDoc(a, b, { retries: { attempts: 3, on: [503] } }));
    const requests = 200;
    for (let i = 0; i < requests; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => send(p.url, '/x')));
      for (const r of batch) assert.equal(r.status, 503);
    }
    const hits = a.hits.length + b.hits.length;
    // Without a budget: 600. The budget (20 % of the requests in 10 s, plus 10) allows 50
    // retries; the run takes far less than the 10 s window.
    assert.ok(hits > requests, `some retries happened: ${hits}`);
    assert.ok(hits <= requests + Math.floor(requests * 0.2) + 10, `hits ${hits}`);
  });

  it('a retry waits its backoff, doubling; the route timeout still answers 504 during a wait', T, async (t) => {
    const arrivals: number[] = [];
    const sick = await counted(t, (req, res) => {
      if (req.url === '/ok') return status(200)(req, res);
      arrivals.push(performance.now());
      status(503)(req, res);
    });
    // One target: every retry goes back to it, after 150-300 ms, then 300-600 ms.
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: sick.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', retries: { attempts: 3, on: [503], backoffMs: 300 } }],
    });
    // The retry budget allows a request's second retry once a few requests went through.
    for (let i = 0; i < 3; i++) assert.equal((await send(p.url, '/ok')).status, 200);
    assert.equal((await send(p.url, '/x')).status, 503);
    assert.equal(arrivals.length, 3);
    const [first, second] = [arrivals[1]! - arrivals[0]!, arrivals[2]! - arrivals[1]!];
    assert.ok(first >= 150 - 5, `the first retry waited ${first} ms`);
    assert.ok(second >= 300 - 5, `the second retry waited ${second} ms`);

    p.swap({
      upstreams: [{ id: 'u', targets: [{ url: sick.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', retries: { attempts: 3, on: [503], backoffMs: 10_000 }, timeoutMs: 400 }],
    });
    const before = sick.hits.length;
    const r = await send(p.url, '/y');
    assert.equal(r.status, 504);
    assert.deepEqual(json(r), { error: 'upstream_timeout' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sick.hits.length - before, 1, 'the wait ended with the exchange: no retry went out after the 504');
  });
});

describe('timeoutMs', () => {
  it('before the response headers: 504 upstream_timeout, and the upstream request is aborted', T, async (t) => {
    const aborted = deferred();
    const stalled = await upstream(t, (req) => {
      req.resume();
      req.socket.once('close', () => aborted.resolve());
    });
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: stalled.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', timeoutMs: 300 }],
    });
    const r = await send(p.url, '/slow');
    assert.equal(r.status, 504);
    assert.deepEqual(json(r), { error: 'upstream_timeout' });
    await aborted.promise;
  });

  it('after the response headers: the response is cut, as when readTimeoutMs passes between chunks', T, async (t) => {
    const stalled = await upstream(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
    });
    const p = await proxy(t, {
      upstreams: [{ id: 'u', targets: [{ url: stalled.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', timeoutMs: 300 }],
    });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${p.url}/stream`, { agent: false }, resolve).on('error', reject).end();
    });
    assert.equal(res.statusCode, 200);
    res.setEncoding('utf8');
    let body = '';
    res.on('data', (c: string) => (body += c));
    const error = new Promise<Error>((resolve) => res.on('error', resolve));
    await new Promise((resolve) => res.on('close', resolve));
    assert.equal(body, 'first;');
    assert.equal(res.complete, false, 'the client sees a truncated response');
    assert.match((await error).message, /aborted/);
  });
});
