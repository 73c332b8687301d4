// The proxy's own responses: small fixed JSON bodies, built once; gRPC requests get them as a
// gRPC status instead (grpc.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isGrpcType, sendGrpcStatus } from './grpc.js';
import { prepareOwnAnswer } from './own-answer.js';

function body(error: string): Buffer {
  return Buffer.from(`${JSON.stringify({ error })}\n`);
}

export const NO_CONFIG = body('no_config');
export const NO_ROUTE = body('no_route');
export const RATE_LIMITED = body('rate_limited');
export const BAD_GATEWAY = body('bad_gateway');
export const NO_HEALTHY_UPSTREAM = body('no_healthy_upstream');
export const UPSTREAM_TIMEOUT = body('upstream_timeout');
export const BAD_PATH = body('bad_path');
export const BAD_HOST = body('bad_host');
export const BAD_VERSION = body('bad_version');
export const BAD_REQUEST = body('bad_request');
export const METHOD_NOT_ALLOWED = body('method_not_allowed');
export const UNSUPPORTED_TRANSFER_ENCODING = body('unsupported_transfer_encoding');
export const HEADERS_TOO_LARGE = body('headers_too_large');
export const REQUEST_TIMEOUT = body('request_timeout');
export const UNAUTHORIZED = body('unauthorized');
export const FORBIDDEN = body('forbidden');
export const AUTH_UNAVAILABLE = body('auth_unavailable');
export const BODY_TOO_LARGE = body('body_too_large');

const JSON_TYPE = 'application/json; charset=utf-8';

/** Answer with one of the bodies above. Does nothing if the response has already started. */
export function sendJson(
  res: ServerResponse,
  status: number,
  payload: Buffer,
  extra?: Record<string, string>,
): void {
  if (res.headersSent || res.destroyed) return;
  prepareOwnAnswer(res);
  // Responses made outside a server (tests) may come without a request or its headers.
  if (isGrpcType((res.req as Partial<IncomingMessage> | undefined)?.headers?.['content-type'])) {
    sendGrpcStatus(res, status, (JSON.parse(payload.toString()) as { error: string }).error, extra);
    return;
  }
  res.statusCode = status;
  res.setHeader('content-type', JSON_TYPE);
  res.setHeader('content-length', payload.length);
  res.setHeader('cache-control', 'no-store');
  if (extra !== undefined) for (const name in extra) res.setHeader(name, extra[name]!);
  res.end(res.req?.method === 'HEAD' ? undefined : payload);
}
