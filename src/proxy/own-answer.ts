// What the answers the proxy makes itself carry beyond their own headers: the request's
// X-Request-Id and the response changes its policies made (CORS headers on a later policy's 401),
// set at the moment it answers. Not set on the response earlier: one header set before writeHead
// sends Node's ServerResponse down its slow path for every forwarded answer (writeHead then merges
// the upstream's headers one setHeader at a time). A forwarded answer gets both from forward.ts.
import type { ServerResponse } from 'node:http';

const REQUEST_ID = Symbol('signalbox.requestId');
const EDITS = Symbol('signalbox.responseEdits');

/** Response header changes to put on an answer of the proxy's own (PolicyContext). */
export interface ResponseEdits {
  applyTo(res: ServerResponse): void;
}

interface Marked {
  [REQUEST_ID]?: string;
  [EDITS]?: ResponseEdits;
}

/** Remember the request's id on its response (handler.ts, once per request). */
export function markRequestId(res: ServerResponse, requestId: string): void {
  (res as Marked)[REQUEST_ID] = requestId;
}

/** The id of the request `res` answers; undefined outside the proxy's handlers (tests). */
export function requestIdOf(res: ServerResponse): string | undefined {
  return (res as Marked)[REQUEST_ID];
}

/** The policies' response changes, for whatever the proxy answers itself. */
export function markResponseEdits(res: ServerResponse, edits: ResponseEdits): void {
  (res as Marked)[EDITS] = edits;
}

/** Call before any answer of the proxy's own is written; twice does no harm. */
export function prepareOwnAnswer(res: ServerResponse): void {
  if (res.headersSent) return;
  const marked = res as Marked;
  const id = marked[REQUEST_ID];
  if (id !== undefined) res.setHeader('x-request-id', id);
  const edits = marked[EDITS];
  if (edits !== undefined) {
    // Once: an "add" applied twice would repeat its value.
    marked[EDITS] = undefined;
    edits.applyTo(res);
  }
}
