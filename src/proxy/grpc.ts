// The proxy's own answers to gRPC requests. A gRPC client reads the call's outcome from
// `grpc-status`, not from the HTTP status: an HTTP 502 reaches its application as an opaque
// "Received HTTP status code 502" (or UNKNOWN), so a gRPC request (content-type application/grpc,
// application/grpc+proto, ...; not grpc-web, which carries its status in the body) gets HTTP 200
// with the status in the headers of a response that has nothing else, gRPC's "Trailers-Only"
// form: over HTTP/2 one HEADERS frame that ends the stream, as gRPC clients require.
//
// Status mapping: gRPC's "HTTP to gRPC Status Code Mapping" (doc/http-grpc-status-mapping.md in
// grpc/grpc) for what it lists, with two changes where the proxy knows more than a status code
// says: its own 504 (the target did not answer in time) is DEADLINE_EXCEEDED, and its own 429
// and 413 (a rate limit, a body limit) are RESOURCE_EXHAUSTED, which gRPC defines for quotas and
// sizes, where the doc's UNAVAILABLE would invite clients to retry at once (Envoy offers the
// same as rate_limited_as_resource_exhausted).
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { asHttp2Response } from './http2-compat.js';

export const GRPC = {
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const BY_HTTP_STATUS: Readonly<Record<number, number>> = {
  400: GRPC.INTERNAL,
  401: GRPC.UNAUTHENTICATED,
  403: GRPC.PERMISSION_DENIED,
  404: GRPC.UNIMPLEMENTED,
  405: GRPC.UNIMPLEMENTED,
  413: GRPC.RESOURCE_EXHAUSTED,
  429: GRPC.RESOURCE_EXHAUSTED,
  502: GRPC.UNAVAILABLE,
  503: GRPC.UNAVAILABLE,
  504: GRPC.DEADLINE_EXCEEDED,
};

export function grpcStatus(httpStatus: number): number {
  return BY_HTTP_STATUS[httpStatus] ?? GRPC.UNKNOWN;
}

/** A request's Content-Type is application/grpc, or application/grpc+<codec> / ;params: a gRPC call (grpc-web is not). */
export function isGrpcType(type: string | undefined): boolean {
  if (type === undefined || type.length < 16 || !type.startsWith('application/grpc')) return false;
  if (type.length === 16) return true;
  const next = type.charCodeAt(16);
  return next === 43 /* + */ || next === 59 /* ; */;
}

/** gRPC's percent-encoding: '%' and what is not printable ASCII, as UTF-8 bytes; nothing else. */
export function grpcMessage(text: string): string {
  return text.replace(/[^\x20-\x24\x26-\x7e]+/g, (run) => {
    let out = '';
    for (const byte of Buffer.from(run)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    return out;
  });
}

/**
 * Answer a gRPC request with a Trailers-Only response for the proxy's own `httpStatus`; `error`
 * (the JSON body's name, e.g. "no_route") becomes grpc-message. Headers a policy already set on
 * `res` (RateLimit-*, Retry-After) go along.
 */
export function sendGrpcStatus(res: ServerResponse, httpStatus: number, error: string, extra?: Record<string, string>): void {
  const headers: OutgoingHttpHeaders = {
    ...res.getHeaders(),
    ...extra,
    'content-type': 'application/grpc',
    'grpc-status': String(grpcStatus(httpStatus)),
    'grpc-message': grpcMessage(`signalbox: ${error} (HTTP ${httpStatus})`),
  };
  delete headers['content-length'];
  delete headers.connection;
  res.statusCode = 200;
  const h2 = asHttp2Response(res);
  if (h2 !== null) {
    // Node's compatibility API would send the headers, then an empty DATA frame to end. A stream
    // the client has reset takes no answer (respond would throw).
    if (!h2.stream.destroyed) h2.stream.respond({ ...headers, ':status': 200 }, { endStream: true });
    return;
  }
  headers['content-length'] = 0;
  res.writeHead(200, headers);
  res.end();
}
