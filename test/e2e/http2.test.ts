// HTTP/2 on the TLS listener (ALPN, beside HTTP/1.1) and to `http2: true` upstreams: node:http2
// and curl clients, HTTP/1.1, h2c and h2-over-TLS upstreams, the edge checks over HTTP/2, and
// the drain of HTTP/2 connections.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders, RequestListener } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { CERT_A, KEY_A } from '../unit/tls-fixtures.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { deferred, proxy, send, upstream, type Proxy } from '../helpers/data-plane.js';
import { makeTestCerts, startTestEtcd } from '../helpers/etcd.js';
import { h2Request, h2Session, h2Upstream } from '../helpers/http2.js';
import { startProxyProcess } from '../helpers/processes.js';

const T = { timeout: 30_000 };
const run = promisify(execFile);
const HOST = 'a.example.test';
const certificates = [{ id: 'a', snis: [HOST, `*.${HOST}`], cert: CERT_A, key: KEY_A }];

/** An upstream that answers what it was sent as JSON: method, url, headers, body. */
function echo(extraHeaders: Record<string, string> = {}): RequestListener {
  return (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', ...extraHeaders });
      res.end(JSON.stringify({ method: req.method, url: req.url, version: req.httpVersion, headers: req.headers, body }));
    });
  };
}

async function tlsProxy(t: TestContext, upstreams: unknown[], routes: unknown[]): Promise<Proxy> {
  return proxy(t, { upstreams, routes, certificates }, { https: true });
}

const session = (p: Proxy) => h2Session(p.httpsUrl!, { ca: CERT_A, servername: HOST });
const get = (path: string, extra: Record<string, string | string[]> = {}) => ({ ':path': path, ':authority': HOST, ...extra });

describe('HTTP/2 on the TLS listener', T, () => {
  it('forwards to an HTTP/1.1 upstream: :authority is Host, pseudo-headers are never fields, cookies are joined', T, async (t) => {
    const up = await upstream(t, echo({ connection: 'keep-alive', 'keep-alive': 'timeout=5', 'x-up': '1' }));
    const p = await tlsProxy(t, [{ id: 'u', targets: [{ url: up.url }] }], [{ id: 'r', match: { hosts: [HOST], paths: ['/*'] }, upstream: 'u' }]);
    const s = session(p);
    const r = await h2Request(s, get('/a/./b/../c?q=1', { cookie: ['a=1', 'b=2'], 'x-custom': 'yes' }));
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-up'], '1');
    assert.equal(r.headers.connection, undefined, 'no connection-specific field in an HTTP/2 response');
    assert.equal(r.headers['keep-alive'], undefined);
    const seen = JSON.parse(r.body) as { url: string; version: string; headers: IncomingHttpHeaders };
    assert.equal(seen.version, '1.1');
    assert.equal(seen.url, '/a/c?q=1', 'the normalized path, query as sent');
    assert.equal(seen.headers.host, HOST);
    assert.equal(seen.headers.cookie, 'a=1; b=2', 'HTTP/2 cookie fields joined for HTTP/1.1 (RFC 9113 §8.2.3)');
    assert.equal(seen.headers['x-custom'], 'yes');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-host'], HOST);
    for (const name of Object.keys(seen.headers)) assert.equal(name.startsWith(':'), false, `forwarded ${name}`);

    const post = await h2Request(s, get('/upload', { ':method': 'POST', 'content-type': 'text/plain' }), 'body without content-length');
    const posted = JSON.parse(post.body) as { method: string; body: string };
    assert.equal(posted.method, 'POST');
    assert.equal(posted.body, 'body without content-length', 'an HTTP/2 body needs no Content-Length');
  });

  it('speaks HTTP/1.1 to clients that ask for it (ALPN), and HTTP/2 to curl --http2', T, async (t) => {
    const up = await upstream(t, echo());
    const p = await tlsProxy(t, [{ id: 'u', targets: [{ url: up.url }] }], [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }]);
    const dir = await mkdtemp(join(tmpdir(), 'signalbox-h2-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const ca = join(dir, 'ca.pem');
    await writeFile(ca, CERT_A);
    const port = new URL(p.httpsUrl!).port;
    const curl = async (...args: string[]) => {
      const { stdout } = await run('curl', ['-sS', '--cacert', ca, '--resolve', `${HOST}:${port}:127.0.0.1`, '-w', '\n%{http_version} %{http_code}', ...args, `https://${HOST}:${port}/echo`]);
      const lines = stdout.split('\n');
      return { body: JSON.parse(lines[0]!) as { version: string; headers: IncomingHttpHeaders }, meta: lines[1] };
    };
    const h2 = await curl('--http2', '-H', 'x-from: curl');
    assert.equal(h2.meta, '2 200');
    assert.equal(h2.body.headers['x-from'], 'curl');
    assert.equal(h2.body.headers.host, `${HOST}:${port}`);
    const h1 = await curl('--http1.1');
    assert.equal(h1.meta, '1.1 200');
  });

  it('applies the edge checks to HTTP/2: the authority, path normalization, CONNECT, no route', T, async (t) => {
    const up = await upstream(t, echo());
    const p = await tlsProxy(t, [{ id: 'u', targets: [{ url: up.url }] }], [{ id: 'r', match: { hosts: [HOST], paths: ['/ok'] }, upstream: 'u' }]);
    const s = session(p);
    assert.equal((await h2Request(s, get('/ok'))).status, 200);
    const mismatch = await h2Request(s, get('/ok', { host: 'other.test' }));
    assert.equal(mismatch.status, 400, ':authority and Host must agree');
    assert.deepEqual(JSON.parse(mismatch.body), { error: 'bad_host' });
    // Node 20 hands an authority with user info to the proxy, which answers 400; from Node 22,
    // nghttp2 resets the stream itself (RFC 9113 §8.3.1 forbids user info in :authority).
    const userInfo = await h2Request(s, get('/ok', { ':authority': 'user@a.example.test' })).then(
      (r) => r.status,
      (err: Error) => err.message,
    );
    assert.ok(userInfo === 400 || /NGHTTP2_PROTOCOL_ERROR/.test(String(userInfo)), `an authority with user info: ${userInfo}`);
    assert.equal((await h2Request(s, get('/x/../../ok'))).status, 400, 'a path above the root');
    assert.equal((await h2Request(s, get('/x/../ok'))).status, 200, 'dot segments resolved before routing');
    assert.equal((await h2Request(s, get('/nowhere'))).status, 404);
    const connect = await h2Request(s, { ':method': 'CONNECT', ':authority': 'example.com:443' });
    assert.equal(connect.status, 405);
    assert.equal(connect.headers.allow, 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    assert.equal((await h2Request(s, get('/ok'))).status, 200, 'the connection serves on after refusals');
  });

  it('drain: an idle HTTP/2 connection is told to go at once; a stream in flight finishes', T, async (t) => {
    const release = deferred();
    const slowArrived = deferred();
    const up = await upstream(t, (req, res) => {
      if (req.url !== '/slow') {
        res.end('fast');
        return;
      }
      slowArrived.resolve();
      void release.promise.then(() => res.end('slow done'));
    });
    const p = await tlsProxy(t, [{ id: 'u', targets: [{ url: up.url }] }], [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u' }]);
    const idle = session(p);
    assert.equal((await h2Request(idle, get('/fast'))).body, 'fast');
    const busy = session(p);
    const slow = h2Request(busy, get('/slow'));
    await slowArrived.promise;
    const goaway = new Promise((resolve) => busy.once('goaway', resolve));
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));
    const closing = p.listeners.close(20_000);
    await idleClosed;
    await goaway;
    release.resolve();
    assert.equal((await slow).body, 'slow done', 'the stream in flight finished');
    assert.deepEqual(await closing, { cut: false }, 'everything closed before the grace ran out');
  });
});

describe('`http2: true` upstreams', T, () => {
  it('h2c (prior knowledge) on http://: HTTP/2 and HTTP/1.1 clients alike reach it over HTTP/2', T, async (t) => {
    const seen: IncomingHttpHeaders[] = [];
    const up = await h2Upstream((stream, headers) => {
      seen.push(headers);
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-h2': 'yes' });
      stream.end(`h2 upstream saw ${String(headers[':path'])}`);
    });
    const p = await tlsProxy(t, [{ id: 'g', targets: [{ url: up.url }], http2: true }], [{ id: 'r', match: { paths: ['/*'] }, upstream: 'g' }]);
    const r = await h2Request(session(p), get('/from/h2', { 'x-a': '1' }));
    assert.equal(r.status, 200);
    assert.equal(r.body, 'h2 upstream saw /from/h2');
    assert.equal(r.headers['x-h2'], 'yes');
    assert.equal(seen[0]![':authority'], HOST);
    assert.equal(seen[0]!['x-a'], '1');
    assert.equal(seen[0]!['x-forwarded-proto'], 'https');

    const plain = await send(p.url, '/from/h1', { headers: { host: 'h1.test' } });
    assert.equal(plain.status, 200);
    assert.equal(plain.body, 'h2 upstream saw /from/h1');
    assert.equal(seen[1]![':authority'], 'h1.test');
    assert.equal(seen[1]!.connection, undefined);
  });

  it('https:// with ALPN h2: an h2-only target is reached (a real proxy process trusting a test CA)', T, async () => {
    const certs = await makeTestCerts();
    const up = await h2Upstream(
      (stream, headers) => {
        stream.respond({ ':status': 200 });
        stream.end(`tls h2 ${String(headers[':path'])} ${String(headers[':scheme'])}`);
      },
      { cert: await readFile(certs.serverCert), key: await readFile(certs.serverKey) },
    );
    const etcd = await startTestEtcd();
    const client = createEtcdClient([etcd.endpoint]);
    atFileEnd(() => client.close());
    const doc = validateDocument({ upstreams: [{ id: 'g', targets: [{ url: up.url }], http2: true }], routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'g' }] });
    assert.ok(doc.ok);
    await new ConfigWriter(client, new Keys()).write(doc.config, { author: 'test', source: 'api', message: 'h2 tls' });
    const p = await startProxyProcess(etcd.endpoint, { id: 'h2-tls', env: { NODE_EXTRA_CA_CERTS: certs.ca } });
    const r = await send(p.url, '/x');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'tls h2 /x https');
  });

  it('keeps an h2c upstream connection for many requests (one session, streams in turn)', T, async (t) => {
    const sessions = new Set<unknown>();
    const up = await h2Upstream((stream) => {
      sessions.add(stream.session);
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    const p = await tlsProxy(t, [{ id: 'g', targets: [{ url: up.url }], http2: true }], [{ id: 'r', match: { paths: ['/*'] }, upstream: 'g' }]);
    for (let i = 0; i < 5; i++) assert.equal((await send(p.url, `/n${i}`)).body, 'ok');
    assert.equal(sessions.size, 1);
  });
});
