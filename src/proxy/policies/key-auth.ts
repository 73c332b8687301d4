// key-auth: the request names its consumer with an API key, in a header (default x-api-key) or
// a query parameter. Looked up by its sha256 (consumers.ts); removed from where it was read
// before the request goes upstream, so the upstream never sees it. Without a known key: 401.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_CONSUMER_HEADER } from '../../config/fields.js';
import { DEFAULT_KEY_HEADER, type KeyAuthPolicy } from '../../config/policies/index.js';
import { queryValues } from '../query-params.js';
import { UNAUTHORIZED, sendJson } from '../respond.js';
import { CONTINUE, HANDLED, type HeaderEdit, type PolicyContext, type PolicyInstance, type PolicyResult } from './types.js';

export class KeyAuth implements PolicyInstance {
  readonly id: string;
  readonly type = 'key-auth';
  readonly consumerHeader: string;
  /** Lowercase; null when the key is a query parameter. */
  private readonly header: string | null;
  private readonly query: string | null;
  /** Drops the key header upstream; null when the key is a query parameter. */
  private readonly removeKey: HeaderEdit | null;

  constructor(def: KeyAuthPolicy) {
    this.id = def.id;
    this.consumerHeader = (def.consumerHeader ?? DEFAULT_CONSUMER_HEADER).toLowerCase();
    this.query = def.query ?? null;
    this.header = this.query === null ? (def.header ?? DEFAULT_KEY_HEADER).toLowerCase() : null;
    this.removeKey = this.header === null ? null : { op: 'remove', name: this.header, value: '' };
  }

  /** The one key the request presents; null for none, or for two (which one would count?). */
  private keyOf(req: IncomingMessage): string | null {
    if (this.header !== null) {
      const value = req.headers[this.header];
      // Node joins repeated fields with ", ": no key holds a space, so such a value finds none.
      return typeof value === 'string' && value !== '' ? value : null;
    }
    const values = queryValues(req.url ?? '', this.query!);
    return values.length === 1 && values[0] !== '' ? values[0]! : null;
  }

  handle(req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): PolicyResult {
    const key = this.keyOf(req);
    const consumer = key === null ? null : ctx.consumers.byKey(key);
    if (consumer === null) {
      sendJson(res, 401, UNAUTHORIZED);
      return HANDLED;
    }
    ctx.consumer = consumer;
    if (this.removeKey !== null) ctx.addUpstreamEdit(this.removeKey);
    else ctx.removeQuery(this.query!);
    return CONTINUE;
  }
}
