// The config document's shape. The same schemas validate input everywhere (CLI, control plane,
// proxy) so a document that passes `signalbox validate` is exactly one a proxy accepts.
import { z } from 'zod';

export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const KINDS = ['upstreams', 'routes', 'policies', 'certificates'] as const;
export type Kind = (typeof KINDS)[number];

/** A record with one value per kind, so no list of the kinds is ever written out by hand. */
export function perKind<T>(value: (kind: Kind) => T): Record<Kind, T> {
  return Object.fromEntries(KINDS.map((kind) => [kind, value(kind)])) as Record<Kind, T>;
}

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

const id = z.string().regex(ID_PATTERN, 'must match [a-z0-9][a-z0-9._-]{0,62}');

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_PATTERN = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);
const hostPattern = z
  .string()
  .regex(HOST_PATTERN, 'must be a lowercase host name or "*.domain", without port');

const PARAM_SEGMENT = /^:[A-Za-z_][A-Za-z0-9_]*$/;
// Request paths are normalized before routing (src/proxy/path.ts), so a pattern outside that
// form could never match: refused instead of silently dead.
const ENCODED_UNRESERVED = /%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2[DE]|5F|7E)/;
function pathPatternProblem(path: string): string | null {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (/[?#\s\\]/.test(path)) return 'must not contain "?", "#", "\\" or white space';
  if (path.includes('//')) return 'must not contain "//" (request paths are matched with repeated slashes merged)';
  if (/%(?![0-9A-F]{2})/.test(path)) return 'a "%" must start an encoding with two uppercase hex digits, as request paths are matched';
  if (ENCODED_UNRESERVED.test(path)) return 'must not percent-encode a letter, digit or "-._~" (request paths are matched with those decoded)';
  const segments = path.slice(1).split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '.' || s === '..') return 'must not contain "." or ".." segments (request paths are matched with them resolved)';
    if (s === '*') {
      if (i !== segments.length - 1) return '"*" is allowed only as the last segment';
    } else if (s.includes('*')) {
      return '"*" must be a whole segment, as in "/files/*"';
    } else if (s.startsWith(':') && !PARAM_SEGMENT.test(s)) {
      return `parameter segment "${s}" must look like ":name"`;
    }
  }
  return null;
}
const pathPattern = z.string().superRefine((p, ctx) => {
  const problem = pathPatternProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// zod leaves a "__proto__" key out of the record it builds (JSON.parse and YAML make it an own
// property), which would drop a condition without a word: refused like an unknown field instead.
const headerMatch = z.preprocess(
  (value, ctx) => {
    if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')) {
      ctx.addIssue({ code: 'custom', message: 'unknown field', path: ['__proto__'], input: value });
    }
    return value;
  },
  z.record(z.string().regex(HEADER_NAME, 'must be a header name'), z.string()),
);

function originProblem(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'must be a URL such as http://10.0.0.5:8080';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'scheme must be http or https';
  if (u.pathname !== '/' || u.search || u.hash || u.username) {
    return 'must be an origin only (scheme, host, port), without path, query or credentials';
  }
  return null;
}

const target = z.strictObject({
  url: z.string().superRefine((u, ctx) => {
    const problem = originProblem(u);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  weight: z.number().int().min(1).max(1000).optional(),
});

const timeoutMs = z.number().int().min(1).max(3_600_000);

export const upstreamSchema = z.strictObject({
  id,
  targets: z.array(target),
  connectTimeoutMs: timeoutMs.optional(),
  readTimeoutMs: timeoutMs.optional(),
  maxEjectionPercent: z.number().int().min(0).max(100).optional(),
  // HTTP/2 to the targets: ALPN h2 for https://, prior knowledge (h2c) for http:// (gRPC).
  http2: z.boolean().optional(),
});

export const routeSchema = z.strictObject({
  id,
  match: z.strictObject({
    hosts: z.array(hostPattern).min(1).optional(),
    paths: z.array(pathPattern).min(1),
    methods: z.array(z.enum(HTTP_METHODS)).min(1).optional(),
    headers: headerMatch.optional(),
  }),
  upstream: id,
  policies: z.array(id).optional(),
  allowEncodedSlashes: z.boolean().optional(),
  // Upgrade (WebSocket) requests are proxied unless false; then they are forwarded without it.
  websocket: z.boolean().optional(),
});

const HEADER_KEY = 'header:';
function rateLimitKeyProblem(key: string): string | null {
  if (key === 'ip') return null;
  if (key.startsWith(HEADER_KEY)) {
    return HEADER_NAME.test(key.slice(HEADER_KEY.length)) ? null : `"${key}": a header name must follow "header:"`;
  }
  if (key === 'consumer') return 'key "consumer" needs consumers, which this version does not have yet; use "ip" or "header:<name>"';
  return 'must be "ip" or "header:<name>"';
}

const rateLimitPolicy = z.strictObject({
  id,
  type: z.literal('rate-limit'),
  requestsPerSecond: z.number().positive().max(1_000_000),
  burst: z.number().int().min(1).max(10_000_000).optional(),
  key: z
    .string()
    .superRefine((k, ctx) => {
      const problem = rateLimitKeyProblem(k);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

export const POLICY_TYPES = ['rate-limit'] as const;
export const policySchema = z.discriminatedUnion('type', [rateLimitPolicy], {
  error: (issue) =>
    issue.code === 'invalid_union' ? `unknown policy type; known types: ${POLICY_TYPES.join(', ')}` : undefined,
});

export const certificateSchema = z.strictObject({
  id,
  snis: z.array(hostPattern).min(1),
  cert: z.string().min(1),
  // The control plane never shows a key, so a document it exported has none: left out, the key
  // it stores for this id is kept. What etcd holds and proxies load always has one (validate.ts).
  key: z.string().min(1).optional().meta({ writeOnly: true, description: 'PEM private key; leave out to keep the key stored for this id' }),
  // Shown by the control plane instead of the key, and ignored on input, so what it shows can be
  // applied back as it is.
  keySha256: z.string().optional().meta({ readOnly: true, description: 'sha256 (hex) of the key in PKCS#8 DER: `openssl pkey -in key.pem -outform DER | sha256sum`' }),
  notAfter: z.string().optional().meta({ readOnly: true, description: 'expiry of cert (ISO 8601)' }),
});

export const documentSchema = z.strictObject({
  upstreams: z.array(upstreamSchema).optional(),
  routes: z.array(routeSchema).optional(),
  policies: z.array(policySchema).optional(),
  certificates: z.array(certificateSchema).optional(),
});

export const objectSchemas = {
  upstreams: upstreamSchema,
  routes: routeSchema,
  policies: policySchema,
  certificates: certificateSchema,
} as const;

export type Upstream = z.infer<typeof upstreamSchema>;
export type Route = z.infer<typeof routeSchema>;
export type Policy = z.infer<typeof policySchema>;
export type RateLimitPolicy = z.infer<typeof rateLimitPolicy>;
export type Certificate = z.infer<typeof certificateSchema>;
export type ConfigObject = Upstream | Route | Policy | Certificate;

/** A whole, normalized configuration: every kind present, objects sorted by id. */
export interface Config {
  upstreams: Upstream[];
  routes: Route[];
  policies: Policy[];
  certificates: Certificate[];
}

export const DEFAULT_WEIGHT = 1;
/** Envoy outlier detection's default: at most 10 % of the targets out at once (at least one). */
export const DEFAULT_MAX_EJECTION_PERCENT = 10;
export const DEFAULT_RATE_LIMIT_KEY = 'ip';
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_READ_TIMEOUT_MS = 60_000;
