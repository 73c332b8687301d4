// cors: which web origins may read a route's answers (src/proxy/policies/cors.ts).
import { z } from 'zod';
import { HEADER_NAME, id } from '../fields.js';

/**
 * An origin entry: "*", an exact origin ("https://app.example.com", "http://localhost:3000"), or
 * wildcard subdomains ("https://*.example.com"; a bare "*.example.com" means https). The parts,
 * or a message saying what is wrong.
 */
export interface OriginPattern {
  /** "https://" */
  scheme: string;
  /** The host after "*." for wildcards ("example.com"), else the whole host. */
  host: string;
  /** ":8443", or "" for the scheme's default. */
  port: string;
  wildcard: boolean;
}

const ORIGIN = /^([a-z][a-z0-9+.-]*:\/\/)(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[1-9][0-9]{0,4})?$/;

export function parseOrigin(text: string): OriginPattern | string {
  const full = text.startsWith('*.') ? `https://${text}` : text;
  if (full === 'null') return '"null" (sandboxed frames, local files) is no origin that can be told apart from another; it is not accepted';
  if (full !== full.toLowerCase()) return `"${text}": write origins in lower case, as browsers send them`;
  const m = ORIGIN.exec(full);
  if (m === null) {
    if (/^[a-z][a-z0-9+.-]*:\/\/[^/]+\/.*$/.test(full)) return `"${text}": an origin has no path (not even "/"): ${full.slice(0, full.indexOf('/', full.indexOf('//') + 2))}`;
    return `"${text}" is not an origin such as https://app.example.com, https://*.example.com or *`;
  }
  return { scheme: m[1]!, wildcard: m[2] !== undefined, host: m[3]!, port: m[4] ?? '' };
}

const origin = z.string().superRefine((text, ctx) => {
  if (text === '*') return;
  const r = parseOrigin(text);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

const headerName = z.string().regex(HEADER_NAME, 'must be a header name (RFC 9110 token)');
const method = z.string().regex(/^[A-Z]+$/, 'must be a method name in upper case, such as GET or PUT');

export const corsPolicy = z
  .strictObject({
    id,
    type: z.literal('cors'),
    origins: z.array(origin).min(1).max(10_000),
    /** Methods a preflight may announce. Default: DEFAULT_CORS_METHODS. */
    methods: z.array(method).min(1).optional(),
    /** Request headers a preflight may announce; ["*"] or omitted: whichever it announces. */
    headers: z.array(z.union([z.literal('*'), headerName])).optional(),
    exposeHeaders: z.array(headerName).optional(),
    credentials: z.boolean().optional(),
    maxAgeS: z.number().int().min(0).max(86_400).optional(),
  })
  .superRefine((p, ctx) => {
    const star = p.origins.indexOf('*');
    if (star >= 0 && p.credentials === true) {
      ctx.addIssue({
        code: 'custom',
        path: ['origins', star],
        message: '"*" with credentials: true would let every web site read answers made with its visitors\' cookies; list the origins (https://*.example.com covers subdomains)',
      });
    }
    if (star >= 0 && p.origins.length > 1) ctx.addIssue({ code: 'custom', path: ['origins', star], message: '"*" already allows every origin; list it alone' });
    const headerStar = p.headers?.indexOf('*') ?? -1;
    if (headerStar >= 0 && p.headers!.length > 1) ctx.addIssue({ code: 'custom', path: ['headers', headerStar], message: '"*" already allows every header; list it alone' });
  });

export const DEFAULT_CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export type CorsPolicy = z.infer<typeof corsPolicy>;
