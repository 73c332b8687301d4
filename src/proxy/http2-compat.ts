// What differs between an HTTP/1 and an HTTP/2 request as the handler sees it. The TLS listener
// serves both through node:http2's compatibility API (Http2ServerRequest/Response), which the
// handler, the policies and the exchange use through the members the two share; the few places
// where HTTP/2 differs ask here.
//
// HTTP/2 requests carry the pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`) in
// `headers` and `rawHeaders`; `:authority` is what Host is in HTTP/1 (RFC 9113 §8.3.1).
// An HTTP/2 response must not carry connection-specific fields (Node throws on them).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** A request that arrived over HTTP/2 (not an HTTP/1 request line that says "HTTP/2.0"). */
export function isHttp2(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 2 && (req as unknown) instanceof Http2ServerRequest;
}

export function asHttp2Response(res: ServerResponse): Http2ServerResponse | null {
  return (res as unknown) instanceof Http2ServerResponse ? (res as unknown as Http2ServerResponse) : null;
}

/** The authority a request names: `:authority` (else Host) over HTTP/2, Host over HTTP/1. */
export function requestAuthority(req: IncomingMessage): string | undefined {
  const h = req.headers;
  if (req.httpVersionMajor === 2) {
    const authority = h[':authority'];
    if (typeof authority === 'string') return authority;
  }
  return h.host;
}

/** Header names starting with ":" are HTTP/2 pseudo-headers: never forwarded as fields. */
export function isPseudoHeader(name: string): boolean {
  return name.charCodeAt(0) === 58; // ":"
}
