// gRPC end to end: @grpc/grpc-js clients over HTTP/2 (the TLS listener) through Signalbox to a
// grpc-js server spoken to over h2c (`http2: true`). The service is defined here with Buffer
// (de)serializers, no .proto. Unary, client streaming and a bidirectional call where the server
// answers each message before the client sends the next; trailers (grpc-status, grpc-message,
// trailing metadata) pass; the proxy's own failures reach the client as gRPC statuses.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CERT_A, KEY_A } from '../unit/tls-fixtures.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { deadUrl, proxy, type Proxy } from '../helpers/data-plane.js';
import { h2Request, h2Session } from '../helpers/http2.js';

const T = { timeout: 30_000 };
const HOST = 'a.example.test';
const certificates = [{ id: 'a', snis: [HOST], cert: CERT_A, key: KEY_A }];

const bytes = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const service: grpc.ServiceDefinition = {
  unary: { path: '/test.Echo/Unary', requestStream: false, responseStream: false, ...bytes },
  collect: { path: '/test.Echo/Collect', requestStream: true, responseStream: false, ...bytes },
  chat: { path: '/test.Echo/Chat', requestStream: true, responseStream: true, ...bytes },
  fail: { path: '/test.Echo/Fail', requestStream: false, responseStream: false, ...bytes },
  hang: { path: '/test.Echo/Hang', requestStream: false, responseStream: false, ...bytes },
};
const Client = grpc.makeGenericClientConstructor(service, 'Echo');
type EchoClient = InstanceType<typeof Client> & Record<string, (...args: unknown[]) => unknown>;

/** A grpc-js server (plaintext: h2c) implementing the service; its address as an http:// url. */
async function grpcServer(): Promise<{ url: string; seen: grpc.Metadata[] }> {
  const seen: grpc.Metadata[] = [];
  const server = new grpc.Server();
  server.addService(service, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen.push(call.metadata);
      const trailing = new grpc.Metadata();
      trailing.set('x-trailer', 'unary-done');
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), trailing);
    },
    collect: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const parts: string[] = [];
      call.on('data', (d: Buffer) => parts.push(String(d)));
      call.on('end', () => cb(null, Buffer.from(parts.join('+'))));
    },
    chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (d: Buffer) => call.write(Buffer.from(`re:${String(d)}`)));
      call.on('end', () => {
        const trailing = new grpc.Metadata();
        trailing.set('x-trailer', 'chat-done');
        call.end(trailing);
      });
    },
    fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
    },
    hang: () => {},
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  atFileEnd(() => server.forceShutdown());
  return { url: `http://127.0.0.1:${port}`, seen };
}

async function grpcProxy(t: TestContext, targetUrl: string, extra: { readTimeoutMs?: number; policies?: unknown[]; routePolicies?: string[] } = {}): Promise<Proxy> {
  return proxy(
    t,
    {
      upstreams: [{ id: 'g', targets: [{ url: targetUrl }], http2: true, ...(extra.readTimeoutMs ? { readTimeoutMs: extra.readTimeoutMs } : {}) }],
      routes: [{ id: 'grpc', match: { paths: ['/test.Echo/*'] }, upstream: 'g', ...(extra.routePolicies ? { policies: extra.routePolicies } : {}) }],
      policies: extra.policies ?? [],
      certificates,
    },
    { https: true },
  );
}

function client(p: Proxy): EchoClient {
  const c = new Client(`127.0.0.1:${new URL(p.httpsUrl!).port}`, grpc.credentials.createSsl(Buffer.from(CERT_A)), {
    'grpc.ssl_target_name_override': HOST,
    'grpc.default_authority': HOST,
  }) as EchoClient;
  atFileEnd(() => c.close());
  return c;
}

interface Outcome {
  value?: Buffer;
  error?: grpc.ServiceError;
  status?: grpc.StatusObject;
}

function unary(c: EchoClient, method: string, request: Buffer, metadata = new grpc.Metadata()): Promise<Outcome> {
  return new Promise((resolve) => {
    let outcome: Outcome = {};
    let pending = 2;
    const done = () => --pending === 0 && resolve(outcome);
    const call = c[method]!(request, metadata, (error: grpc.ServiceError | null, value?: Buffer) => {
      outcome = { ...outcome, ...(error ? { error } : { value }) };
      done();
    }) as grpc.ClientUnaryCall;
    call.on('status', (status: grpc.StatusObject) => {
      outcome = { ...outcome, status };
      done();
    });
  });
}

describe('gRPC through the proxy', T, () => {
  it('unary: the answer, request metadata and trailing metadata pass', T, async (t) => {
    const up = await grpcServer();
    const c = client(await grpcProxy(t, up.url));
    const md = new grpc.Metadata();
    md.set('x-user', 'u1');
    const r = await unary(c, 'unary', Buffer.from('hi'), md);
    assert.equal(r.error, undefined);
    assert.equal(String(r.value), 'echo:hi');
    assert.equal(r.status!.code, grpc.status.OK);
    assert.deepEqual(r.status!.metadata.get('x-trailer'), ['unary-done'], 'trailing metadata is forwarded');
    assert.deepEqual(up.seen[0]!.get('x-user'), ['u1']);
    assert.deepEqual(up.seen[0]!.get('x-forwarded-proto'), ['https']);
  });

  it('bidirectional streaming: each answer comes before the next message is sent', T, async (t) => {
    const up = await grpcServer();
    const c = client(await grpcProxy(t, up.url));
    const call = c.chat!() as grpc.ClientDuplexStream<Buffer, Buffer>;
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    const next = () => new Promise<string>((resolve) => call.once('data', (d: Buffer) => resolve(String(d))));
    for (let i = 1; i <= 5; i++) {
      const answer = next();
      call.write(Buffer.from(`m${i}`));
      assert.equal(await answer, `re:m${i}`, `answer ${i} arrived while the request stream is still open`);
    }
    call.end();
    const s = await status;
    assert.equal(s.code, grpc.status.OK);
    assert.deepEqual(s.metadata.get('x-trailer'), ['chat-done']);
  });

  it('client streaming: every message reaches the server before its one answer', T, async (t) => {
    const up = await grpcServer();
    const c = client(await grpcProxy(t, up.url));
    const answer = new Promise<Buffer>((resolve, reject) => {
      const call = c.collect!((err: grpc.ServiceError | null, v?: Buffer) => (err ? reject(err) : resolve(v!))) as grpc.ClientWritableStream<Buffer>;
      for (const part of ['a', 'b', 'c']) call.write(Buffer.from(part));
      call.end();
    });
    assert.equal(String(await answer), 'a+b+c');
  });

  it("an upstream's error status (a trailers-only response) reaches the client as it was", T, async (t) => {
    const up = await grpcServer();
    const c = client(await grpcProxy(t, up.url));
    const r = await unary(c, 'fail', Buffer.from('x'));
    assert.equal(r.error?.code, grpc.status.NOT_FOUND);
    assert.equal(r.error?.details, 'no such thing');
  });

  it('the upstream down: grpc-status 14 UNAVAILABLE in an HTTP 200 trailers-only response, not a 502', T, async (t) => {
    const p = await grpcProxy(t, await deadUrl());
    const r = await unary(client(p), 'unary', Buffer.from('x'));
    assert.equal(r.error?.code, grpc.status.UNAVAILABLE);
    assert.match(r.error!.details, /signalbox: bad_gateway \(HTTP 502\)/);

    const raw = await h2Request(h2Session(p.httpsUrl!, { ca: CERT_A, servername: HOST }), {
      ':method': 'POST',
      ':path': '/test.Echo/Unary',
      ':authority': HOST,
      'content-type': 'application/grpc',
      te: 'trailers',
    }, Buffer.from([0, 0, 0, 0, 0]));
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['grpc-status'], '14');
    assert.equal(raw.endedWithHeaders, true, 'one HEADERS frame that ends the stream');
  });

  it("maps the proxy's own answers: no route 12, rate limited 8, upstream timeout 4", T, async (t) => {
    const up = await grpcServer();
    const p = await grpcProxy(t, up.url, {
      readTimeoutMs: 300,
      policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 0.001, burst: 2 }],
      routePolicies: ['rl'],
    });
    const c = client(p);
    const hang = await unary(c, 'hang', Buffer.from('x'));
    assert.equal(hang.error?.code, grpc.status.DEADLINE_EXCEEDED, 'the target did not answer within readTimeoutMs (504)');
    assert.equal((await unary(c, 'unary', Buffer.from('x'))).error, undefined);
    const limited = await unary(c, 'unary', Buffer.from('x'));
    assert.equal(limited.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual(limited.status!.metadata.get('retry-after').length, 1, "the policy's headers go along");

    const elsewhere = new grpc.Client(`127.0.0.1:${new URL(p.httpsUrl!).port}`, grpc.credentials.createSsl(Buffer.from(CERT_A)), {
      'grpc.ssl_target_name_override': HOST,
      'grpc.default_authority': HOST,
    });
    atFileEnd(() => elsewhere.close());
    const missing = await new Promise<grpc.ServiceError | null>((resolve) =>
      elsewhere.makeUnaryRequest('/other.Service/Call', (b: Buffer) => b, (b: Buffer) => b, Buffer.from('x'), (err) => resolve(err)),
    );
    assert.equal(missing?.code, grpc.status.UNIMPLEMENTED);
  });
});
