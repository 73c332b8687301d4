// cors: CORS answers for the origins a route lists (Fetch standard, "CORS protocol").
//
// Preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered here, 204,
// without reaching the upstream, and by this policy alone (handler.ts): a preflight is routed as
// the request it announces, so a route that lists only GET and POST still gets its own preflights
// (a router that routes them as OPTIONS sends them elsewhere or answers 404), and the policies
// before this one do not run for it, since a preflight never carries credentials (an auth policy
// would refuse every one). A preflight that asks for an origin, method or header not allowed gets
// 204 without any CORS header: the browser then refuses the actual request.
//
// Actual requests from an allowed origin get Access-Control-Allow-Origin (and -Credentials,
// -Expose-Headers) on every answer: the upstream's and the proxy's own, such as a later policy's
// 401 or 429, so the page can read why. From any other origin, CORS headers the upstream sent are
// removed: the route's policy decides. Vary: Origin goes on every answer whose headers depend on
// the Origin (all but those of origins: ["*"]), so a cache never serves one origin's to another.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_CORS_METHODS, parseOrigin, type CorsPolicy } from '../../config/policies/index.js';
import { prepareOwnAnswer } from '../own-answer.js';
import { CONTINUE, type PolicyContext, type PolicyInstance, type PolicyResult } from './types.js';

const ALLOW_ORIGIN = 'access-control-allow-origin';
const ALLOW_CREDENTIALS = 'access-control-allow-credentials';
const EXPOSE_HEADERS = 'access-control-expose-headers';
/** Methods a browser sends without asking (CORS-safelisted): a preflight for them is no refusal. */
const SAFELISTED_METHODS = new Set(['GET', 'HEAD', 'POST']);

interface Wildcard {
  /** "https://" */
  readonly scheme: string;
  /** ".example.com:8443": what follows the subdomain labels. */
  readonly tail: string;
}

/** Lower-case letters, digits, "-" and "." with no empty label: the subdomain part of a host. */
function isLabels(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  let prevDot = true;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (prevDot) return false;
      prevDot = true;
      continue;
    }
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45)) return false;
    prevDot = false;
  }
  return !prevDot;
}

/** The origins of a cors policy, compiled: a set of exact ones, and wildcard subdomains. */
export class OriginMatcher {
  readonly any: boolean;
  private readonly exact = new Set<string>();
  private readonly wildcards: Wildcard[] = [];

  constructor(origins: readonly string[]) {
    this.any = origins.includes('*');
    for (const text of origins) {
      if (text === '*') continue;
      const o = parseOrigin(text);
      if (typeof o === 'string') throw new Error(o);
      if (o.wildcard) this.wildcards.push({ scheme: o.scheme, tail: `.${o.host}${o.port}` });
      else this.exact.add(`${o.scheme}${o.host}${o.port}`);
    }
  }

  /**
   * Whether `origin` (the request's Origin header, as a browser serializes it) is allowed. A
   * wildcard takes one or more whole labels before its host: https://*.example.com takes
   * https://a.example.com and https://a.b.example.com, not https://example.com,
   * https://evil-example.com, https://a.example.com.evil.net or another port or scheme.
   */
  matches(origin: string): boolean {
    if (this.any) return true;
    if (this.exact.has(origin)) return true;
    const ws = this.wildcards;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      if (origin.startsWith(w.scheme) && origin.endsWith(w.tail) && isLabels(origin, w.scheme.length, origin.length - w.tail.length)) return true;
    }
    return false;
  }
}

export class Cors implements PolicyInstance {
  readonly id: string;
  readonly type = 'cors';
  readonly origins: OriginMatcher;
  private readonly credentials: boolean;
  /** Whether answers depend on the Origin (everything but origins: ["*"]). */
  private readonly varies: boolean;
  private readonly methods: ReadonlySet<string>;
  private readonly methodsText: string;
  /** Lowercased; null: whichever headers the preflight announces. */
  private readonly headers: ReadonlySet<string> | null;
  private readonly headersText: string;
  private readonly exposeText: string | null;
  private readonly maxAgeText: string | null;

  constructor(def: CorsPolicy) {
    this.id = def.id;
    this.origins = new OriginMatcher(def.origins);
    this.credentials = def.credentials === true;
    this.varies = !this.origins.any;
    const methods = def.methods ?? DEFAULT_CORS_METHODS;
    this.methods = new Set(methods);
    this.methodsText = methods.join(', ');
    const headers = def.headers === undefined || def.headers.includes('*') ? null : def.headers.map((h) => h.toLowerCase());
    this.headers = headers === null ? null : new Set(headers);
    this.headersText = headers === null ? '' : headers.join(', ');
    this.exposeText = def.exposeHeaders === undefined || def.exposeHeaders.length === 0 ? null : def.exposeHeaders.join(', ');
    this.maxAgeText = def.maxAgeS === undefined ? null : String(def.maxAgeS);
  }

  /** The value of Access-Control-Allow-Origin for an allowed origin. */
  private allowOrigin(origin: string): string {
    return this.origins.any ? '*' : origin;
  }

  handle(req: IncomingMessage, _res: ServerResponse, ctx: PolicyContext): PolicyResult {
    if (this.varies) ctx.editResponse('add', 'vary', 'Origin');
    const origin = req.headers.origin;
    if (origin === undefined) return CONTINUE;
    if (!this.origins.matches(origin)) {
      ctx.editResponse('remove', ALLOW_ORIGIN);
      ctx.editResponse('remove', ALLOW_CREDENTIALS);
      ctx.editResponse('remove', EXPOSE_HEADERS);
      return CONTINUE;
    }
    ctx.editResponse('set', ALLOW_ORIGIN, this.allowOrigin(origin));
    if (this.credentials) ctx.editResponse('set', ALLOW_CREDENTIALS, 'true');
    if (this.exposeText !== null) ctx.editResponse('set', EXPOSE_HEADERS, this.exposeText);
    return CONTINUE;
  }

  /** Answer a preflight (handler.ts decides what is one): 204, with the CORS headers when allowed. */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    if (this.varies) res.setHeader('vary', 'Origin');
    const origin = req.headers.origin as string;
    const method = req.headers['access-control-request-method'] as string;
    const asked = req.headers['access-control-request-headers'];
    if (this.origins.matches(origin) && (SAFELISTED_METHODS.has(method) || this.methods.has(method)) && this.allowsHeaders(asked)) {
      res.setHeader(ALLOW_ORIGIN, this.allowOrigin(origin));
      if (this.credentials) res.setHeader(ALLOW_CREDENTIALS, 'true');
      res.setHeader('access-control-allow-methods', this.methodsText);
      const allowHeaders = this.headers === null ? asked : this.headersText;
      if (allowHeaders !== undefined && allowHeaders !== '') res.setHeader('access-control-allow-headers', allowHeaders);
      if (this.maxAgeText !== null) res.setHeader('access-control-max-age', this.maxAgeText);
    }
    prepareOwnAnswer(res);
    res.statusCode = 204;
    res.end();
  }

  private allowsHeaders(asked: string | undefined): boolean {
    const allowed = this.headers;
    if (allowed === null || asked === undefined) return true;
    for (const name of asked.split(',')) {
      const n = name.trim().toLowerCase();
      if (n.length > 0 && !allowed.has(n)) return false;
    }
    return true;
  }
}
