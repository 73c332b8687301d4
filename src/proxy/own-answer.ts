// The request's X-Request-Id on the answers the proxy makes itself, set at the moment it answers.
// Not set on the response when the request arrives: one header set before writeHead sends Node's
// ServerResponse down its slow path for every forwarded answer (writeHead then merges the
// upstream's headers one setHeader at a time), which cost ~15 % of forwarding throughput
// (bench:forwarding, before and after). A forwarded answer gets the id from forward.ts.
import type { ServerResponse } from 'node:http';

const REQUEST_ID = Symbol('signalbox.requestId');

interface Marked {
  [REQUEST_ID]?: string;
}

/** Remember the request's id on its response (handler.ts, once per request). */
export function markRequestId(res: ServerResponse, requestId: string): void {
  (res as Marked)[REQUEST_ID] = requestId;
}

/** The id of the request `res` answers; undefined outside the proxy's handlers (tests). */
export function requestIdOf(res: ServerResponse): string | undefined {
  return (res as Marked)[REQUEST_ID];
}

/** Call before any answer of the proxy's own is written. */
export function prepareOwnAnswer(res: ServerResponse): void {
  const id = (res as Marked)[REQUEST_ID];
  if (id !== undefined && !res.headersSent) res.setHeader('x-request-id', id);
}
