// Small HTTP plumbing for the control plane: JSON out, errors in the contract's shape.
import type { ServerResponse } from 'node:http';
import type { ErrorDetail } from '../api/schemas.js';
import type { ConfigIssue } from '../config/validate.js';

/** Thrown by handlers; rendered as `{ error, details }` with its status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function issueDetails(issues: readonly ConfigIssue[]): ErrorDetail[] {
  return issues.map((i) => (i.line ? { path: i.path, message: i.message, line: i.line } : { path: i.path, message: i.message }));
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body, null, 2) + '\n', 'application/json; charset=utf-8', headers);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, err.details.length ? { error: err.message, details: err.details } : { error: err.message }, err.headers);
}
