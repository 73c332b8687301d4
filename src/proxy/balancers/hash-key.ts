// The consistent-hash key of a request.
import type { IncomingHttpHeaders } from 'node:http';
import type { HashOn } from '../../config/schema.js';
import type { PickContext } from './types.js';

/** The request's key, or null when it has none (the header or cookie is absent or empty). */
export type KeyReader = (ctx: PickContext) => string | null;

export function keyReader(on: HashOn): KeyReader {
  if (on.header !== undefined) {
    const name = on.header.toLowerCase();
    return (ctx) => headerValue(ctx.headers, name);
  }
  if (on.cookie !== undefined) {
    const name = on.cookie;
    // Parsed only here, for the one cookie, and only on upstreams that hash on it.
    return (ctx) => cookieValue(ctx.headers.cookie, name);
  }
  return (ctx) => ctx.clientIp;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | null {
  const v = headers[name];
  if (v === undefined) return null;
  const s = typeof v === 'string' ? v : v.join(', ');
  return s.length === 0 ? null : s;
}

/** The value of cookie `name` in a Cookie header ("a=1; b=2"), or null; the first one wins. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  let at = 0;
  while (at < header.length) {
    let end = header.indexOf(';', at);
    if (end < 0) end = header.length;
    while (header.charCodeAt(at) === 32 || header.charCodeAt(at) === 9) at++;
    const eq = header.indexOf('=', at);
    if (eq > 0 && eq < end && eq - at === name.length && header.startsWith(name, at)) {
      const value = header.slice(eq + 1, end).trim();
      return value.length === 0 ? null : value;
    }
    at = end + 1;
  }
  return null;
}
