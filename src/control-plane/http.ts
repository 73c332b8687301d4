// Small HTTP plumbing for the control plane: JSON in and out, errors in the contract's shape.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { formatPath, schemaIssues, type ConfigIssue } from '../config/validate.js';

export interface ErrorDetail {
  path: string;
  message: string;
  line?: number;
}

/** Thrown by handlers; rendered as `{ error, details }` with its status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: ErrorDetail[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function issueDetails(issues: readonly ConfigIssue[]): ErrorDetail[] {
  return issues.map((i) => (i.line ? { path: i.path, message: i.message, line: i.line } : { path: i.path, message: i.message }));
}

/** `data` as `schema` reads it, or a 400 `what` listing every problem with its path. */
export function parseBody<T>(schema: z.ZodType<T>, data: unknown, what: string): T {
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new HttpError(400, what, schemaIssues(parsed.error).map((i) => ({ path: formatPath(i.path), message: i.message })));
  return parsed.data;
}

export function queryOf(req: IncomingMessage): URLSearchParams {
  return new URL(req.url ?? '/', 'http://control-plane').searchParams;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, err.details.length ? { error: err.message, details: err.details } : { error: err.message }, err.headers);
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;

export async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readText(req);
  try {
    return text.trim() ? JSON.parse(text) : {};
  } catch (err) {
    throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`);
  }
}
