// basic-auth: HTTP Basic credentials (RFC 7617) checked against the consumers' usernames and
// password hashes (consumers.ts: asynchronous scrypt, successes remembered). Without valid
// credentials: 401 with WWW-Authenticate. The Authorization header is not sent upstream.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_CONSUMER_HEADER } from '../../config/fields.js';
import { DEFAULT_REALM, type BasicAuthPolicy } from '../../config/policies/index.js';
import { RATE_LIMITED, UNAUTHORIZED, sendJson } from '../respond.js';
import { BUSY, type BasicOutcome } from './consumers.js';
import { CONTINUE, HANDLED, type PolicyContext, type PolicyInstance, type PolicyOutcome, type PolicyResult } from './types.js';

const BASIC = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i;
/** Longer credentials are no consumer's: refused before any decoding. */
const MAX_CREDENTIALS_CHARS = 4096;

/** [username, password] of a Basic Authorization value; null when it is not one. */
export function basicCredentials(value: string | undefined): [string, string] | null {
  if (value === undefined || value.length > MAX_CREDENTIALS_CHARS) return null;
  const m = BASIC.exec(value);
  if (m === null) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? null : [text.slice(0, colon), text.slice(colon + 1)];
}

export class BasicAuth implements PolicyInstance {
  readonly id: string;
  readonly type = 'basic-auth';
  readonly consumerHeader: string;
  private readonly challenge: Record<string, string>;

  constructor(def: BasicAuthPolicy) {
    this.id = def.id;
    this.consumerHeader = (def.consumerHeader ?? DEFAULT_CONSUMER_HEADER).toLowerCase();
    this.challenge = { 'www-authenticate': `Basic realm="${def.realm ?? DEFAULT_REALM}", charset="UTF-8"` };
  }

  handle(req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): PolicyOutcome {
    const credentials = basicCredentials(req.headers.authorization);
    if (credentials === null) return this.decide(null, res, ctx);
    const outcome = ctx.consumers.byBasic(credentials[0], credentials[1]);
    return typeof outcome === 'object' && outcome !== null ? outcome.then((o) => this.decide(o, res, ctx)) : this.decide(outcome, res, ctx);
  }

  private decide(outcome: BasicOutcome, res: ServerResponse, ctx: PolicyContext): PolicyResult {
    if (outcome === BUSY) {
      // Too many password checks already running: the client may try again in a moment.
      sendJson(res, 429, RATE_LIMITED, { 'retry-after': '1' });
      return HANDLED;
    }
    if (outcome === null) {
      sendJson(res, 401, UNAUTHORIZED, this.challenge);
      return HANDLED;
    }
    ctx.consumer = outcome;
    ctx.editUpstream('remove', 'authorization');
    return CONTINUE;
  }
}
