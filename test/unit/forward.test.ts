import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Dispatcher } from 'undici';
import { Exchange, acceptsTrailers, clientResponseHeaders, requestHasBody, upstreamRequestHeaders } from '../../src/proxy/forward.js';
import { retryBudgetOf } from '../../src/proxy/retry-budget.js';
import { compileMatch } from '../../src/proxy/route-match.js';
import type { CompiledRoute } from '../../src/proxy/runtime.js';
import { childContext } from '../../src/proxy/trace-context.js';

const trace = childContext('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
import { UpstreamPool } from '../../src/proxy/upstream-pool.js';

function fakeReq(rawHeaders: string[], remoteAddress = '::ffff:192.0.2.7'): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i]!.toLowerCase();
    headers[k] = headers[k] === undefined ? rawHeaders[i + 1]! : `${headers[k]}, ${rawHeaders[i + 1]!}`;
  }
  return { rawHeaders, headers, method: 'GET', socket: { remoteAddress } } as unknown as IncomingMessage;
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

describe('forward: headers', () => {
  const forwardedFixture = () =>
    fakeReq([
      'Host', 'api.test:81',
      'X-Forwarded-For', '10.0.0.1',
      'x-forwarded-for', '10.0.0.2',
      'X-Forwarded-Proto', 'https',
      'X-Forwarded-Host', 'front.test',
      'Accept', 'a',
      'Accept', 'b',
      'Expect', '100-continue',
    ]);

  it('from an untrusted peer replaces X-Forwarded-For, -Proto and -Host; keeps spelling and repeats', () => {
    assert.deepEqual(pairs(upstreamRequestHeaders(forwardedFixture(), { proto: 'http', host: 'api.test:81', peer: '192.0.2.7', peerTrusted: false, requestId: 'rid', trace })), [
      ['Accept', 'a'],
      ['Accept', 'b'],
      ['host', 'api.test:81'],
      ['x-forwarded-for', '192.0.2.7'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'api.test:81'],
      ['x-request-id', 'rid'],
      ['traceparent', trace.header],
    ]);
  });

  it('from a trusted peer appends to every X-Forwarded-For and keeps -Proto and -Host', () => {
    assert.deepEqual(pairs(upstreamRequestHeaders(forwardedFixture(), { proto: 'http', host: 'api.test:81', peer: '192.0.2.7', peerTrusted: true, requestId: 'rid', trace })), [
      ['Accept', 'a'],
      ['Accept', 'b'],
      ['host', 'api.test:81'],
      ['x-forwarded-for', '10.0.0.1, 10.0.0.2, 192.0.2.7'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'front.test'],
      ['x-request-id', 'rid'],
      ['traceparent', trace.header],
    ]);
    // A trusted peer that sends none of them gets them set.
    assert.deepEqual(pairs(upstreamRequestHeaders(fakeReq(['Host', 'h']), { proto: 'https', host: 'h', peer: '192.0.2.7', peerTrusted: true, requestId: 'rid', trace })), [
      ['host', 'h'],
      ['x-forwarded-for', '192.0.2.7'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'h'],
      ['x-request-id', 'rid'],
      ['traceparent', trace.header],
    ]);
  });

  it('drops hop-by-hop request headers and those named in Connection', () => {
    const req = fakeReq([
      'Connection', 'keep-alive, X-A',
      'Connection', 'x-b',
      'X-A', '1',
      'X-B', '1',
      'Keep-Alive', 'timeout=5',
      'TE', 'gzip',
      'Transfer-Encoding', 'chunked',
      'Proxy-Authorization', 'x',
      'Proxy-Connection', 'keep-alive',
      'Upgrade', 'websocket',
      'Trailer', 'x-t',
      'X-C', 'kept',
    ]);
    const names = pairs(upstreamRequestHeaders(req, { proto: 'https', host: undefined, peer: '192.0.2.7', peerTrusted: false, requestId: 'rid', trace })).map(([n]) => n);
    assert.deepEqual(names, ['X-C', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id', 'traceparent']);
  });

  it('sends its own "TE: trailers" when the client takes trailers, whatever else its TE lists', () => {
    for (const te of ['trailers', 'gzip, Trailers', 'deflate;q=0.5, trailers;q=1']) {
      const sent = pairs(upstreamRequestHeaders(fakeReq(['TE', te, 'Connection', 'TE']), { proto: 'http', host: 'h', peer: '192.0.2.7', peerTrusted: false, requestId: 'rid', trace }));
      assert.deepEqual(sent.filter(([n]) => n.toLowerCase() === 'te'), [['te', 'trailers']], te);
    }
    assert.equal(acceptsTrailers('gzip'), false);
    assert.equal(acceptsTrailers(undefined), false);
  });

  it('drops hop-by-hop response headers and those named in Connection', () => {
    assert.deepEqual(
      clientResponseHeaders({
        connection: 'x-drop, close',
        'x-drop': '1',
        'keep-alive': 'timeout=9',
        'transfer-encoding': 'chunked',
        'proxy-authenticate': 'Basic',
        'set-cookie': ['a=1', 'b=2'],
        'content-type': 'text/plain',
      }),
      { 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' },
    );
  });

  it('knows when a request has a body', () => {
    assert.equal(requestHasBody(fakeReq([])), false);
    assert.equal(requestHasBody(fakeReq(['Content-Length', '0'])), false);
    assert.equal(requestHasBody(fakeReq(['Content-Length', '3'])), true);
    assert.equal(requestHasBody(fakeReq(['Transfer-Encoding', 'chunked'])), true);
  });
});

class FakeRes extends EventEmitter {
  headersSent = false;
  destroyed = false;
  statusCode = 200;
  writable = true;
  written: Buffer[] = [];
  ended = false;
  accept = true;
  req = { method: 'GET', headers: {} };
  writeHead(status: number) {
    this.statusCode = status;
    this.headersSent = true;
    return this;
  }
  write(chunk: Buffer) {
    this.written.push(chunk);
    return this.accept;
  }
  end() {
    this.ended = true;
  }
  destroy() {
    this.destroyed = true;
  }
  setHeader() {}
  getHeader(): string | undefined {
    return undefined;
  }
}

class FakeController implements Dispatcher.DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  pauses = 0;
  resumes = 0;
  abort(reason: Error) {
    this.aborted = true;
    this.reason = reason;
  }
  pause() {
    this.paused = true;
    this.pauses++;
  }
  resume() {
    this.paused = false;
    this.resumes++;
  }
}

function exchange(res: FakeRes) {
  const pool = new UpstreamPool({ id: 'u', targets: [{ url: 'http://127.0.0.1:1' }] });
  const arm = { pool, budget: retryBudgetOf(pool), weight: 1 };
  const forward = { arms: [arm], totalWeight: 1, rewrite: null, retry: null, timeoutMs: 0 };
  const route: CompiledRoute = { id: 'r', match: { paths: ['/'] }, compiledMatch: compileMatch({ paths: ['/'] }), priority: 0, policies: [], preflight: null,
        consumerHeaders: [], allowEncodedSlashes: false, allowsTrace: false, upgrades: true, forward, answer: null };
  const req = fakeReq([]);
  return new Exchange(req, res as unknown as ServerResponse, route, arm, '/', [], pino({ level: 'silent' }));
}

describe('forward: exchange', () => {
  it('pauses the upstream while the client is not draining, resumes on drain', () => {
    const res = new FakeRes();
    const ex = exchange(res);
    const c = new FakeController();
    ex.onRequestStart(c);
    ex.onResponseStart(c, 200, { 'content-type': 'text/plain' });
    ex.onResponseData(c, Buffer.from('a'));
    assert.equal(c.pauses, 0);
    res.accept = false;
    ex.onResponseData(c, Buffer.from('b'));
    assert.equal(c.paused, true);
    res.accept = true;
    res.emit('drain');
    assert.equal(c.paused, false);
    res.accept = false;
    ex.onResponseData(c, Buffer.from('c'));
    res.emit('drain');
    assert.equal(c.resumes, 2);
    assert.equal(res.listenerCount('drain'), 1, 'one drain listener per exchange');
    ex.onResponseEnd(c, {});
    assert.equal(res.ended, true);
    assert.equal(ex.finished, true);
    assert.equal(Buffer.concat(res.written).toString(), 'abc');
  });

  it('aborts the upstream when the client goes away, also before the request was written', () => {
    const running = new FakeController();
    const res = new FakeRes();
    const ex = exchange(res);
    ex.onRequestStart(running);
    ex.clientClosed();
    assert.equal(running.aborted, true);
    ex.onResponseError(running, running.reason!);
    assert.equal(res.headersSent, false, 'no answer to a client that is gone');

    const queued = exchange(new FakeRes());
    queued.clientClosed();
    const late = new FakeController();
    queued.onRequestStart(late);
    assert.equal(late.aborted, true);
  });

  it('destroys the client response when the upstream fails after the headers', () => {
    const res = new FakeRes();
    const ex = exchange(res);
    const c = new FakeController();
    ex.onRequestStart(c);
    ex.onResponseStart(c, 200, {});
    ex.onResponseError(c, Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
    assert.equal(res.destroyed, true);
    assert.equal(ex.finished, true);
  });
});
