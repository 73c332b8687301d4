// body-limit: 413 body_too_large for a request body over maxBytes. A Content-Length over it is
// answered at once (before "100 Continue", so the client need not send the body, and the upstream
// never hears of it); a body of unknown length (chunked, or HTTP/2 without Content-Length) is
// counted on its way up by the exchange (forward.ts), which aborts the upstream request at the
// limit: the upstream sees a request cut short, never a complete one.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BodyLimitPolicy } from '../../config/policies/index.js';
import { asHttp2Response } from '../http2-compat.js';
import { BODY_TOO_LARGE, sendJson } from '../respond.js';
import { CONTINUE, HANDLED, type PolicyContext, type PolicyInstance, type PolicyResult } from './types.js';

const CLOSE = { connection: 'close' };

/**
 * 413 body_too_large. Over HTTP/1.1 the connection closes after it: the unread rest of the body
 * is not worth reading to keep the connection (HTTP/2 resets just the stream).
 */
export function sendBodyTooLarge(res: ServerResponse): void {
  sendJson(res, 413, BODY_TOO_LARGE, asHttp2Response(res) === null ? CLOSE : undefined);
}

export class BodyLimit implements PolicyInstance {
  readonly id: string;
  readonly type = 'body-limit';
  readonly maxBytes: number;

  constructor(def: BodyLimitPolicy) {
    this.id = def.id;
    this.maxBytes = def.maxBytes;
  }

  handle(req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): PolicyResult {
    const length = req.headers['content-length'];
    // Node has refused a malformed or conflicting Content-Length already.
    if (length !== undefined && Number(length) > this.maxBytes) {
      sendBodyTooLarge(res);
      return HANDLED;
    }
    ctx.limitBody(this.maxBytes);
    return CONTINUE;
  }
}
