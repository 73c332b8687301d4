// Trailers of HTTP/1.1 chunked responses (to HTTP/1.1 clients that take them, and to HTTP/2
// clients), and informational responses: Expect: 100-continue answered only after routing and
// policies (a refused request never sends its body), 102 Processing passed on.
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders, type RequestListener } from 'node:http';
import { connect } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { CERT_A, KEY_A } from '../unit/tls-fixtures.js';
import { deferred, proxy, type Proxy } from '../helpers/data-plane.js';
import { upstream } from '../helpers/data-plane.js';
import { h2Request, h2Session } from '../helpers/http2.js';

const T = { timeout: 30_000 };
const HOST = 'a.example.test';

async function oneRoute(t: TestContext, handler: RequestListener, extra: Record<string, unknown> = {}): Promise<{ p: Proxy; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const up = await upstream(t, (req, res) => {
    seen.push(req.headers);
    handler(req, res);
  });
  const p = await proxy(
    t,
    {
      upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
      routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', ...extra }],
      certificates: [{ id: 'a', snis: [HOST], cert: CERT_A, key: KEY_A }],
      ...(extra.policies ? { policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 0.001, burst: 1 }] } : {}),
    },
    { https: true },
  );
  return { p, seen };
}

/** Chunked body "part1part2" with an x-checksum trailer announced in Trailer. */
const withTrailers: RequestListener = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
  res.write('part1');
  res.write('part2');
  res.addTrailers({ 'x-checksum': 'c0ffee' });
  res.end();
};

function get(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string; trailers: Record<string, string | undefined>; informational: number[] }>((resolve, reject) => {
    const informational: number[] = [];
    const req = request(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, trailers: res.trailers, informational }));
    });
    req.on('information', (info) => informational.push(info.statusCode));
    req.on('error', reject);
    req.end();
  });
}

describe('trailers', T, () => {
  it('an HTTP/1.1 client that sent TE: trailers gets the chunked response\'s trailers and Trailer', T, async (t) => {
    const { p, seen } = await oneRoute(t, withTrailers);
    const r = await get(`${p.url}/t`, { te: 'trailers' });
    assert.equal(r.body, 'part1part2');
    assert.equal(r.headers.trailer, 'x-checksum');
    assert.deepEqual(r.trailers, { 'x-checksum': 'c0ffee' });
    assert.equal(seen[0]!.te, 'trailers', 'the upstream is told the proxy takes them');
  });

  it('a client that did not say TE: trailers gets the body without them', T, async (t) => {
    const { p, seen } = await oneRoute(t, withTrailers);
    const r = await get(`${p.url}/t`);
    assert.equal(r.body, 'part1part2');
    assert.equal(r.headers.trailer, undefined);
    assert.deepEqual(r.trailers, {});
    assert.equal(seen[0]!.te, undefined);
  });

  it('an HTTP/2 client gets an HTTP/1.1 upstream\'s trailers', T, async (t) => {
    const { p } = await oneRoute(t, withTrailers);
    const r = await h2Request(h2Session(p.httpsUrl!, { ca: CERT_A, servername: HOST }), { ':path': '/t', ':authority': HOST, te: 'trailers' });
    assert.equal(r.body, 'part1part2');
    assert.equal(r.trailers?.['x-checksum'], 'c0ffee');
  });
});

/**
 * Send a request head with Expect: 100-continue on a raw socket and the body only once "100
 * Continue" arrives. What the client wrote is counted.
 */
function expectContinue(base: string, body: string, extraHead = ''): Promise<{ response: string; written: number; headLength: number; sentBody: boolean }> {
  const { hostname, port } = new URL(base);
  const head = `POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n${extraHead}\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let sentBody = false;
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (!sentBody && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        sentBody = true;
        socket.write(body);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ response: text, written: socket.bytesWritten, headLength: Buffer.byteLength(head), sentBody }));
    socket.write(head);
    // The proxy closes the connection after a refusal; after an answered upload the client does.
    socket.on('data', () => {
      if (/\r\n\r\n[\s\S]*upload:/.test(text.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''))) socket.end();
    });
  });
}

const uploadEcho: RequestListener = (req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => res.end(`upload:${body}`));
};

describe('informational responses', T, () => {
  it('Expect: 100-continue refused by a policy: the 429 comes without "100 Continue", and the body is never sent', T, async (t) => {
    const { p, seen } = await oneRoute(t, uploadEcho, { policies: ['rl'] });
    const first = await expectContinue(p.url, 'first body');
    assert.match(first.response, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, 'the first request is allowed');
    const r = await expectContinue(p.url, 'x'.repeat(10_000));
    assert.match(r.response, /^HTTP\/1\.1 429 /, 'a final answer, no 100 before it');
    assert.doesNotMatch(r.response, /100 Continue/);
    assert.match(r.response, /\r\nConnection: close\r\n/i, 'the connection ends: the body was never asked for');
    assert.equal(r.sentBody, false);
    assert.equal(r.written, r.headLength, 'the client wrote its request head and nothing else');
    assert.equal(seen.length, 1, 'only the first request reached the upstream');
  });

  it('Expect: 100-continue on a route that takes it: "100 Continue", then the body reaches the upstream', T, async (t) => {
    const { p, seen } = await oneRoute(t, uploadEcho);
    const r = await expectContinue(p.url, 'hello body');
    assert.match(r.response, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    assert.match(r.response, /upload:hello body$/);
    assert.equal(r.sentBody, true);
    assert.equal(seen[0]!.expect, undefined, 'Expect is answered here, not forwarded');
  });

  it('Expect: 100-continue with no route: 404 at once, body never sent', T, async (t) => {
    const seen: unknown[] = [];
    const up = await upstream(t, (req, res) => {
      seen.push(req.url);
      res.end();
    });
    const p = await proxy(t, { upstreams: [{ id: 'u', targets: [{ url: up.url }] }], routes: [{ id: 'r', match: { paths: ['/elsewhere'] }, upstream: 'u' }] });
    const r = await expectContinue(p.url, 'body');
    assert.match(r.response, /^HTTP\/1\.1 404 /);
    assert.equal(r.written, r.headLength);
    assert.equal(seen.length, 0);
  });

  it('Expect: 100-continue over HTTP/2: "100 Continue" after admission, then the body', T, async (t) => {
    const { p } = await oneRoute(t, uploadEcho);
    const session = h2Session(p.httpsUrl!, { ca: CERT_A, servername: HOST });
    const stream = session.request({ ':method': 'POST', ':path': '/upload', ':authority': HOST, expect: '100-continue' }, { endStream: false });
    const continued = deferred();
    stream.once('continue', () => {
      continued.resolve();
      stream.end('h2 body');
    });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    await continued.promise;
    await new Promise((resolve) => stream.on('end', resolve));
    assert.equal(body, 'upload:h2 body');
  });

  it('102 Processing from the upstream reaches HTTP/1.1 and HTTP/2 clients before the answer', T, async (t) => {
    const { p } = await oneRoute(t, (_req, res) => {
      res.writeProcessing();
      setTimeout(() => res.end('done'), 20);
    });
    const r = await get(`${p.url}/slow`);
    assert.deepEqual(r.informational, [102]);
    assert.equal(r.body, 'done');

    const session = h2Session(p.httpsUrl!, { ca: CERT_A, servername: HOST });
    const stream = session.request({ ':path': '/slow', ':authority': HOST });
    const interim: unknown[] = [];
    stream.on('headers', (h) => interim.push(h[':status']));
    stream.resume();
    await new Promise((resolve) => stream.on('end', resolve));
    assert.deepEqual(interim, [102]);
  });
});
