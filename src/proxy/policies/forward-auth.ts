// forward-auth: ask an auth service about each request (Traefik's ForwardAuth, Caddy's
// forward_auth). The proxy sends it a GET without body carrying the request's method, URI, host,
// protocol and client as X-Forwarded-Method/-Uri/-Host/-Proto/-For, plus the client headers the
// policy lists. A 2xx lets the request on, with the auth answer's listed headers set on the
// upstream request (the same headers sent by the client are removed first, so they cannot be
// forged). Any other status is the client's answer: that status, the service's body (up to
// MAX_DENY_BYTES) and the headers a login flow needs (Location, Set-Cookie, WWW-Authenticate).
// Fails closed: an auth service that cannot be reached, errs at the transport or does not answer
// within timeoutMs is a 503 `auth_unavailable`; the request never reaches the upstream.
//
// The request body is never read here: it stays in the client's stream for the upstream (a peer
// gateway that consumed it for the auth call left the upstream waiting for a body).
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, request, type Dispatcher } from 'undici';
import { DEFAULT_FORWARD_AUTH_TIMEOUT_MS, type ForwardAuthPolicy } from '../../config/policies/index.js';
import { requestAuthority } from '../http2-compat.js';
import { prepareOwnAnswer } from '../own-answer.js';
import { AUTH_UNAVAILABLE, sendJson } from '../respond.js';
import { readBounded } from './bounded-body.js';
import { CONTINUE, HANDLED, type PolicyContext, type PolicyInstance, type PolicyResult } from './types.js';

export const MAX_DENY_BYTES = 64 * 1024;
/** Auth answer headers passed to the client with a denial. */
const DENY_HEADERS = ['content-type', 'location', 'set-cookie', 'www-authenticate', 'retry-after'];

// One pool per auth service origin, bounded: a slow auth service queues requests here (each
// still bounded by timeoutMs) rather than opening a socket per request.
let agent: Agent | null = null;
const dispatcher = () => (agent ??= new Agent({ connections: 64, keepAliveTimeout: 10_000 }));

const joined = (v: string | string[]) => (Array.isArray(v) ? v.join(', ') : v);

export class ForwardAuth implements PolicyInstance {
  readonly id: string;
  readonly type = 'forward-auth';
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly requestHeaders: string[];
  private readonly responseHeaders: string[];

  constructor(def: ForwardAuthPolicy) {
    this.id = def.id;
    this.url = def.url;
    this.timeoutMs = def.timeoutMs ?? DEFAULT_FORWARD_AUTH_TIMEOUT_MS;
    this.requestHeaders = (def.requestHeaders ?? []).map((h) => h.toLowerCase());
    this.responseHeaders = (def.responseHeaders ?? []).map((h) => h.toLowerCase());
  }

  handle(req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): Promise<PolicyResult> {
    const headers: Record<string, string> = {};
    for (const name of this.requestHeaders) {
      const v = req.headers[name];
      if (v !== undefined) headers[name] = joined(v);
    }
    headers['x-forwarded-method'] = req.method ?? 'GET';
    headers['x-forwarded-uri'] = req.url ?? '/';
    headers['x-forwarded-host'] = requestAuthority(req) ?? '';
    headers['x-forwarded-proto'] = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
    headers['x-forwarded-for'] = ctx.clientIp;
    headers['x-request-id'] = ctx.requestId;
    return request(this.url, { method: 'GET', headers, dispatcher: dispatcher(), signal: AbortSignal.timeout(this.timeoutMs) }).then(
      (answer) => this.decide(answer, res, ctx),
      () => this.unavailable(res),
    );
  }

  private async decide(answer: Dispatcher.ResponseData, res: ServerResponse, ctx: PolicyContext): Promise<PolicyResult> {
    let body: Buffer | null;
    try {
      body = await readBounded(answer.body, MAX_DENY_BYTES);
    } catch {
      return this.unavailable(res);
    }
    if (answer.statusCode >= 200 && answer.statusCode < 300) {
      for (const name of this.responseHeaders) {
        const v = answer.headers[name];
        if (v === undefined) ctx.editUpstream('remove', name);
        else ctx.editUpstream('set', name, joined(v));
      }
      return CONTINUE;
    }
    if (res.headersSent || res.destroyed) return HANDLED;
    prepareOwnAnswer(res);
    res.statusCode = answer.statusCode;
    for (const name of DENY_HEADERS) {
      const v = answer.headers[name];
      if (v !== undefined) res.setHeader(name, v);
    }
    res.setHeader('cache-control', 'no-store');
    // A body over the bound is left out whole rather than passed on cut short.
    if (body === null) res.removeHeader('content-type');
    res.setHeader('content-length', body?.length ?? 0);
    res.end(res.req?.method === 'HEAD' ? undefined : (body ?? undefined));
    return HANDLED;
  }

  private unavailable(res: ServerResponse): PolicyResult {
    sendJson(res, 503, AUTH_UNAVAILABLE);
    return HANDLED;
  }
}
