// body-limit: 413 body_too_large from Content-Length at once (the upstream never hears of the
// request), or mid-stream for a chunked body (the upstream sees its request cut short, never a
// complete one).
import assert from 'node:assert/strict';
import { request, type RequestListener } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { CERT_A, KEY_A } from '../unit/tls-fixtures.js';
import { deferred, json, proxy, rawRequest, read, send, upstream, type Reply } from '../helpers/data-plane.js';
import { h2Request, h2Session } from '../helpers/http2.js';

const T = { timeout: 15_000 };
const LIMIT = 1000;

interface Seen {
  url: string;
  /** 'complete' after the body's end, 'cut' when the request broke off before it. */
  outcome: Promise<'complete' | 'cut'>;
  bytes: () => number;
}

const HOST = 'a.example.test';

async function limited(t: TestContext, https = false) {
  const seen: Seen[] = [];
  const arrived = deferred<Seen>();
  const handler: RequestListener = (req, res) => {
    let bytes = 0;
    const outcome = new Promise<'complete' | 'cut'>((resolve) => {
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        resolve('complete');
        res.end(`got ${bytes}`);
      });
      req.on('error', () => resolve('cut'));
      req.on('close', () => resolve(req.complete ? 'complete' : 'cut'));
    });
    const s = { url: req.url ?? '', outcome, bytes: () => bytes };
    seen.push(s);
    arrived.resolve(s);
  };
  const up = await upstream(t, handler);
  const doc = {
    upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
    routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', policies: ['small'] }],
    policies: [{ id: 'small', type: 'body-limit', maxBytes: LIMIT }],
    certificates: https ? [{ id: 'a', snis: [HOST], cert: CERT_A, key: KEY_A }] : [],
  };
  return { p: await proxy(t, doc, { https }), seen, arrived: arrived.promise };
}

/** A chunked POST: `first` at once, `rest` once `gate` resolves; the reply as it comes. */
function chunked(base: string, first: Buffer, gate: Promise<unknown>, rest: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/up`, { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      read(res).then((body) => resolve({ status: res.statusCode!, headers: res.headers, body }), reject);
    });
    // The proxy may close while the rest is still being written: the reply is what counts.
    req.on('error', () => {});
    req.write(first);
    void gate.then(() => req.end(rest));
  });
}

describe('body-limit', () => {
  it('Content-Length over the limit: 413 at once, the upstream never reached', T, async (t) => {
    const { p, seen } = await limited(t);
    const r = await send(p.url, '/big', { method: 'POST', body: 'x'.repeat(LIMIT + 1) });
    assert.equal(r.status, 413);
    assert.deepEqual(json(r), { error: 'body_too_large' });
    assert.equal(r.headers.connection, 'close');
    const ok = await send(p.url, '/fits', { method: 'POST', body: 'x'.repeat(LIMIT) });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, `got ${LIMIT}`);
    assert.deepEqual(seen.map((s) => s.url), ['/fits'], 'the refused request never reached the upstream');
  });

  it('Expect: 100-continue with a Content-Length over the limit: 413 instead of 100, the body never asked for', T, async (t) => {
    const { p, seen } = await limited(t);
    const r = await rawRequest(p.url, `POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${LIMIT + 1}\r\nExpect: 100-continue\r\n\r\n`);
    assert.equal(r.status, 413, 'the first status line is the 413, not 100 Continue');
    assert.equal(seen.length, 0);
  });

  it('chunked over the limit: 413 mid-stream, the upstream request cut short, never complete', T, async (t) => {
    const { p, seen, arrived } = await limited(t);
    // The first chunk fits: the request is on its way upstream before the limit is passed.
    const reply = chunked(p.url, Buffer.alloc(600, 'a'), arrived, Buffer.alloc(600, 'b'));
    const r = await reply;
    assert.equal(r.status, 413);
    assert.deepEqual(JSON.parse(r.body), { error: 'body_too_large' });
    assert.equal(seen.length, 1, 'the request had reached the upstream');
    assert.equal(await seen[0]!.outcome, 'cut', 'the upstream saw the request break off, not end');
    assert.ok(seen[0]!.bytes() <= LIMIT, `the upstream got ${seen[0]!.bytes()} bytes, no more than the limit`);
  });

  it('chunked within the limit reaches the upstream whole', T, async (t) => {
    const { p, seen } = await limited(t);
    const r = await chunked(p.url, Buffer.alloc(500, 'a'), Promise.resolve(), Buffer.alloc(500, 'b'));
    assert.equal(r.status, 200);
    assert.equal(r.body, `got ${LIMIT}`);
    assert.equal(await seen[0]!.outcome, 'complete');
  });

  it('HTTP/2: a body without Content-Length is counted too; 413 on the stream, the upstream never gets it whole', T, async (t) => {
    const { p, seen } = await limited(t, true);
    const session = h2Session(p.httpsUrl!, { ca: CERT_A, servername: HOST });
    const over = await h2Request(session, { ':method': 'POST', ':path': '/h2', ':authority': HOST }, Buffer.alloc(LIMIT * 4, 'x'));
    assert.equal(over.status, 413);
    assert.deepEqual(JSON.parse(over.body), { error: 'body_too_large' });
    for (const s of seen) assert.equal(await s.outcome, 'cut', 'whatever reached the upstream broke off');
    const declared = await h2Request(session, { ':method': 'POST', ':path': '/h2-declared', ':authority': HOST, 'content-length': String(LIMIT + 1) }, Buffer.alloc(LIMIT + 1, 'x'));
    assert.equal(declared.status, 413);
    const fits = await h2Request(session, { ':method': 'POST', ':path': '/h2-fits', ':authority': HOST }, Buffer.alloc(LIMIT, 'x'));
    assert.equal(fits.status, 200);
    assert.equal(fits.body, `got ${LIMIT}`);
    assert.equal(seen.filter((s) => s.url === '/h2-declared').length, 0, 'a declared length over the limit never reached the upstream');
  });
});
