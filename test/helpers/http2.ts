// HTTP/2 clients and servers for tests: node:http2 over TLS (the proxy's TLS listener) and h2c
// upstreams, closed when the test file ends.
import { once } from 'node:events';
import {
  connect,
  constants,
  createServer,
  createSecureServer,
  type ClientHttp2Session,
  type Http2Server,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type SecureServerOptions,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { atFileEnd } from './cleanup.js';

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  trailers: IncomingHttpHeaders | null;
  /** The response's HEADERS frame ended the stream (a trailers-only response). */
  endedWithHeaders: boolean;
}

/** An HTTP/2 session to `url` (https: trusting `ca`, naming `servername`). */
export function h2Session(url: string, opts: { ca?: string; servername?: string } = {}): ClientHttp2Session {
  const session = connect(url, { ca: opts.ca, servername: opts.servername, rejectUnauthorized: opts.ca !== undefined });
  session.on('error', () => {});
  atFileEnd(() => session.destroy());
  return session;
}

/** One request on `session`, read whole. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let reply: Omit<H2Reply, 'body' | 'trailers'> | null = null;
    let trailers: IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    stream.on('response', (h, flags) => {
      reply = { status: Number(h[':status']), headers: h, endedWithHeaders: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0 };
    });
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (reply === null) reject(new Error('stream ended without a response'));
      else resolve({ ...reply, body: Buffer.concat(chunks).toString(), trailers });
    });
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

export interface H2Upstream {
  url: string;
  server: Http2Server | Http2SecureServer;
}

/** An HTTP/2 upstream: h2c (prior knowledge) without `tls`, HTTP/2 over TLS (h2 only) with it. */
export async function h2Upstream(
  onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void,
  tls?: SecureServerOptions,
): Promise<H2Upstream> {
  const server = tls ? createSecureServer(tls) : createServer();
  server.on('stream', onStream);
  server.on('sessionError', () => {});
  const sessions = new Set<{ destroy(): void }>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  atFileEnd(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
