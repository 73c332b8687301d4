// ip-filter: 403 forbidden for a client address in `deny`, or outside a non-empty `allow`. The
// address is the PolicyContext's (the peer, or the client a trusted proxy names: forwarded.ts).
// The CIDRs are compiled once into merged intervals (util/ip-ranges.ts); an address that cannot
// be read is refused whenever there are rules to apply (fail closed).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IpFilterPolicy } from '../../config/policies/index.js';
import { IpRanges, parseAddress } from '../../util/ip-ranges.js';
import { FORBIDDEN, sendJson } from '../respond.js';
import { CONTINUE, HANDLED, type PolicyContext, type PolicyInstance, type PolicyResult } from './types.js';

const scratch = new Uint32Array(4);

export class IpFilter implements PolicyInstance {
  readonly id: string;
  readonly type = 'ip-filter';
  private readonly allow: IpRanges | null;
  private readonly deny: IpRanges;

  constructor(def: IpFilterPolicy) {
    this.id = def.id;
    this.allow = def.allow !== undefined && def.allow.length > 0 ? new IpRanges(def.allow) : null;
    this.deny = new IpRanges(def.deny ?? []);
  }

  /** Whether a request from `ip` passes. */
  permits(ip: string): boolean {
    if (this.deny.has(ip)) return false;
    if (this.allow !== null) return this.allow.has(ip);
    return parseAddress(ip, scratch);
  }

  handle(_req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): PolicyResult {
    if (this.permits(ctx.clientIp)) return CONTINUE;
    sendJson(res, 403, FORBIDDEN);
    return HANDLED;
  }
}
