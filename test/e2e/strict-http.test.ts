// Requests a proxy must not pass on, written byte by byte on raw sockets: each gets the proxy's
// own JSON answer, and the upstream never sees one.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { proxy, rawRequest, upstream, type Reply } from '../helpers/data-plane.js';

const T = { timeout: 15_000 };

async function setup(t: TestContext) {
  const seen: string[] = [];
  const up = await upstream(t, (req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.end('upstream'));
  });
  const p = await proxy(t, {
    upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
    routes: [
      { id: 'all', match: { paths: ['/*'] }, upstream: 'u' },
      { id: 'trace-ok', match: { paths: ['/debug/*'], methods: ['TRACE'] }, upstream: 'u' },
    ],
  });
  return { url: p.url, seen };
}

function refused(r: Reply, status: number, error: string): void {
  assert.equal(r.status, status, `${r.status} ${r.body}`);
  assert.deepEqual(JSON.parse(r.body), { error });
  assert.match(String(r.headers['content-type']), /^application\/json/);
}

describe('strict HTTP at the edge', () => {
  it('a well-formed request passes (the baseline for the refusals below)', T, async (t) => {
    const { url, seen } = await setup(t);
    const r = await rawRequest(url, 'GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'upstream');
    assert.deepEqual(seen, ['GET /x']);
  });

  it('400 bad_host: a second Host, a Host that is no authority, no Host in HTTP/1.1', T, async (t) => {
    const { url, seen } = await setup(t);
    const dup = await rawRequest(url, 'GET /x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
    refused(dup, 400, 'bad_host');
    assert.equal(dup.headers.connection, 'close');
    for (const host of ['evil.example/x', 'user@a.example', 'a.example:99999', 'a b', '']) {
      refused(await rawRequest(url, `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`), 400, 'bad_host');
    }
    refused(await rawRequest(url, 'GET /x HTTP/1.1\r\n\r\n'), 400, 'bad_host');
    // HTTP/1.0 may leave Host out.
    assert.equal((await rawRequest(url, 'GET /x HTTP/1.0\r\n\r\n')).status, 200);
    assert.deepEqual(seen, ['GET /x']);
  });

  it('400 bad_version: HTTP/2.0 and HTTP/0.9 request lines (Node takes them), HTTP/3.0 (Node refuses)', T, async (t) => {
    const { url, seen } = await setup(t);
    refused(await rawRequest(url, 'GET /x HTTP/2.0\r\nHost: a.example\r\n\r\n'), 400, 'bad_version');
    refused(await rawRequest(url, 'GET /x\r\n\r\n'), 400, 'bad_version');
    refused(await rawRequest(url, 'GET /x HTTP/3.0\r\nHost: a.example\r\n\r\n'), 400, 'bad_version');
    assert.deepEqual(seen, []);
  });

  it('501 for a Transfer-Encoding other than chunked; chunked in any case passes', T, async (t) => {
    const { url, seen } = await setup(t);
    const gzipChunked = await rawRequest(url, 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n');
    refused(gzipChunked, 501, 'unsupported_transfer_encoding');
    assert.equal(gzipChunked.headers.connection, 'close');
    refused(await rawRequest(url, 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nxx'), 501, 'unsupported_transfer_encoding');
    // chunked twice: Node's parser refuses it before the request exists.
    refused(await rawRequest(url, 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n'), 400, 'bad_request');
    const chunked = await rawRequest(url, 'POST /y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    assert.equal(chunked.status, 200);
    assert.deepEqual(seen, ['POST /y']);
  });

  it('what Node refuses while parsing gets our JSON answer: Content-Length with Transfer-Encoding, a bad method, huge headers', T, async (t) => {
    const { url, seen } = await setup(t);
    const smuggle = await rawRequest(url, 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    refused(smuggle, 400, 'bad_request');
    assert.equal(smuggle.headers.connection, 'close');
    refused(await rawRequest(url, 'G@T /x HTTP/1.1\r\nHost: a\r\n\r\n'), 400, 'bad_request');
    refused(await rawRequest(url, 'GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n'), 400, 'bad_path');
    refused(await rawRequest(url, `GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`), 431, 'headers_too_large');
    assert.deepEqual(seen, []);
  });

  it('405 for CONNECT (with Allow), and for TRACE unless the route lists it', T, async (t) => {
    const { url, seen } = await setup(t);
    const connect = await rawRequest(url, 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n');
    refused(connect, 405, 'method_not_allowed');
    assert.match(String(connect.headers.allow), /GET/);
    const trace = await rawRequest(url, 'TRACE /x HTTP/1.1\r\nHost: a\r\nCookie: session=1\r\n\r\n');
    refused(trace, 405, 'method_not_allowed');
    assert.match(String(trace.headers.allow), /GET/);
    assert.doesNotMatch(String(trace.headers.allow), /TRACE/);
    const allowed = await rawRequest(url, 'TRACE /debug/x HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(allowed.status, 200);
    assert.deepEqual(seen, ['TRACE /debug/x']);
  });
});
