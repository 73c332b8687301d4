// The config document's shape. The same schemas validate input everywhere (CLI, control plane,
// proxy) so a document that passes `signalbox validate` is exactly one a proxy accepts.
import { z } from 'zod';
import { LinearRegex, regexProblem } from '../util/linear-regex.js';
import { HEADER_NAME, id } from './fields.js';
import { POLICY_SCHEMAS, POLICY_TYPES } from './policies/index.js';
import { routeProblems } from './route-rules.js';
import { SETTINGS_ID } from './kinds.js';
import { KEY_DIGEST_PREFIX, MIN_KEY_CHARS, PASSWORD_HASH_PREFIX, isKeyDigest, parsePasswordHash } from './secrets.js';

export { ID_PATTERN } from './fields.js';
export { KINDS, OBJECT_KINDS, SETTINGS_ID, perKind, type Kind, type ObjectKind } from './kinds.js';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

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


// zod leaves a "__proto__" key out of the record it builds (JSON.parse and YAML make it an own
// property), which would drop a condition without a word: refused like an unknown field instead.
function ownRecord<K extends z.ZodType<string, string>, V extends z.ZodType>(key: K, value: V) {
  return z.preprocess((input, ctx) => {
    if (typeof input === 'object' && input !== null && Object.hasOwn(input, '__proto__')) {
      ctx.addIssue({ code: 'custom', message: 'unknown field', path: ['__proto__'], input });
    }
    return input;
  }, z.record(key, value));
}

// A pattern for the linear-time matcher (src/util/linear-regex.ts): refused here, with the reason,
// when it uses what cannot be matched in linear time or is too large.
const regexSource = z.string().superRefine((source, ctx) => {
  const problem = regexProblem(source);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

// A header or query condition: an exact value, presence or absence, or a whole-value regex.
const valueMatch = z.union(
  [
    z.string(),
    z
      .strictObject({ present: z.boolean().optional(), regex: regexSource.optional() })
      .refine((m) => (m.present === undefined) !== (m.regex === undefined), 'give exactly one of present, regex'),
  ],
  { error: 'must be a string (the exact value), { present: true|false } or { regex: "..." }' },
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

export const BALANCERS = ['round-robin', 'least-request', 'consistent-hash'] as const;

// Exactly one key source, as a small object so a later source is one more field, not a new form.
const hashOn = z
  .strictObject({
    header: z.string().regex(HEADER_NAME, 'must be a header name').optional(),
    cookie: z.string().regex(HEADER_NAME, 'must be a cookie name').optional(),
    clientIp: z.literal(true).optional(),
  })
  .superRefine((h, ctx) => {
    const given = [h.header, h.cookie, h.clientIp].filter((v) => v !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: 'custom', message: 'must be exactly one of { header: <name> }, { cookie: <name> }, { clientIp: true }' });
  });

const SENT_BY_PROXY = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'trailer', 'te', 'proxy-connection']);
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Header fields by name whose values are sent as written: names are tokens, values hold no
 * control characters, and no name is one `refused` explains (lowercase in, reason out). Names are
 * checked here rather than by the record's key schema, whose messages zod replaces with "Invalid
 * key in record".
 */
function headerFields(refused: (lowerName: string) => string | null) {
  return ownRecord(z.string(), z.string().max(8192).regex(HEADER_VALUE, 'must not hold control characters (line breaks included)')).superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      const problem = HEADER_NAME.test(name) ? refused(name.toLowerCase()) : 'must be a header name';
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [name] });
    }
  });
}
const setByProxy = (name: string) => (SENT_BY_PROXY.has(name) ? 'is set by the proxy itself' : null);
const responseHeaders = headerFields(setByProxy);

const upstreamAuthority = z
  .string()
  .regex(new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9a-f:.]+\\])(?::[0-9]{1,5})?$`), 'must be a lowercase host name or IP, with an optional ":port"');

const STATUS_RANGE = /^([1-5][0-9][0-9])-([1-5][0-9][0-9])$/;
const STATUS_FORMS = 'must be a status code such as 200 or a range such as "200-399"';
const expectStatus = z.union([z.number().int().min(100).max(599), z.string().regex(STATUS_RANGE, STATUS_FORMS)], { error: STATUS_FORMS });

const healthCheck = z.strictObject({
  path: z.string().regex(/^\/[!-~]*$/, 'must start with "/" and hold no spaces or control characters').refine((p) => !p.includes('#'), 'must not contain "#"'),
  intervalMs: z.number().int().min(100).max(3_600_000).optional(),
  timeoutMs: timeoutMs.optional(),
  healthyThreshold: z.number().int().min(1).max(100).optional(),
  unhealthyThreshold: z.number().int().min(1).max(100).optional(),
  expectStatuses: z
    .array(expectStatus)
    .min(1)
    .superRefine((list, ctx) => {
      list.forEach((s, i) => {
        const m = typeof s === 'string' ? STATUS_RANGE.exec(s) : null;
        if (m !== null && Number(m[1]) > Number(m[2])) ctx.addIssue({ code: 'custom', path: [i], message: `"${s}": the range must go from low to high` });
      });
    })
    .optional(),
  // Virtual-hosted targets answer their health path only for their own name (APISIX #4906).
  host: upstreamAuthority.optional().meta({ description: 'the Host of each check (default: the target URL\'s host and port)' }),
  headers: headerFields((name) => (name === 'host' ? 'is set by healthCheck.host' : setByProxy(name)))
    .refine((h) => Object.keys(h).length <= 32, 'at most 32 headers')
    .optional(),
});

const SERVER_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const upstreamTls = z.strictObject({
  serverName: z.string().regex(SERVER_NAME, 'must be a lowercase host name (no port, no wildcard)').optional(),
  ca: z.string().min(1).optional(),
  insecureSkipVerify: z.boolean().optional(),
  clientCertificate: id.optional().meta({ description: 'id of a certificates object presented to the targets (upstream mTLS)' }),
});

export const upstreamSchema = z
  .strictObject({
    id,
    targets: z.array(target),
    connectTimeoutMs: timeoutMs.optional(),
    readTimeoutMs: timeoutMs.optional(),
    maxEjectionPercent: z.number().int().min(0).max(100).optional(),
    balancer: z.enum(BALANCERS).optional(),
    hashOn: hashOn.optional(),
    healthCheck: healthCheck.optional(),
    tls: upstreamTls.optional(),
    // HTTP/2 to the targets: ALPN h2 for https://, prior knowledge (h2c) for http:// (gRPC).
    http2: z.boolean().optional(),
  })
  .superRefine((u, ctx) => {
    // Settings that would do nothing are refused, like unknown fields: a typo never passes silently.
    const balancer = u.balancer ?? DEFAULT_BALANCER;
    if (balancer === 'consistent-hash' && u.hashOn === undefined) ctx.addIssue({ code: 'custom', path: ['hashOn'], message: 'required with balancer consistent-hash' });
    if (balancer !== 'consistent-hash' && u.hashOn !== undefined) ctx.addIssue({ code: 'custom', path: ['hashOn'], message: 'only used with balancer consistent-hash' });
    if (u.tls !== undefined && !u.targets.some((t) => t.url.startsWith('https:'))) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'applies to https:// targets, and this upstream has none' });
    }
    if (u.tls?.insecureSkipVerify === true && u.tls.ca !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'ca'], message: 'has no effect with insecureSkipVerify: true (nothing is verified)' });
    }
  });

const pathRegex = regexSource.superRefine((source, ctx) => {
  if (regexProblem(source) === null && !new LinearRegex(source).literalPrefix.startsWith('/')) {
    ctx.addIssue({ code: 'custom', message: 'must begin with "/" (after an optional "^"): request paths always do, and the literal start is where the router tries it' });
  }
});

function redirectLocationProblem(location: string): string | null {
  if (/[^\x21-\x7e]/.test(location)) return 'must be visible ASCII: no white space or control characters (percent-encode the rest)';
  if (location.startsWith('/')) return location.startsWith('//') ? 'a path must not start with "//" (that is another host)' : null;
  try {
    const u = new URL(location);
    return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'scheme must be http or https';
  } catch {
    return 'must be an absolute http(s) URL or a path starting with "/"';
  }
}

export const RETRY_CONDITIONS = ['connect-failure', 'reset'] as const;

export const routeSchema = z
  .strictObject({
    id,
    match: z.strictObject({
      hosts: z.array(hostPattern).min(1).optional(),
      paths: z.array(pathPattern).min(1).optional(),
      pathRegex: pathRegex.optional(),
      methods: z.array(z.enum(HTTP_METHODS)).min(1).optional(),
      headers: ownRecord(z.string().regex(HEADER_NAME, 'must be a header name'), valueMatch).optional(),
      query: ownRecord(z.string().min(1).max(256), valueMatch).optional(),
    }),
    priority: z.number().int().min(-1000).max(1000).optional(),
    upstream: id.optional(),
    split: z
      .array(z.strictObject({ upstream: id, weight: z.number().int().min(0).max(10_000) }))
      .min(1)
      .max(100)
      .refine((arms) => arms.some((a) => a.weight > 0), 'at least one weight must be above 0')
      .optional(),
    redirect: z
      .strictObject({
        status: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)], { error: 'must be 301, 302, 303, 307 or 308' }),
        location: z
          .string()
          .max(2048)
          .superRefine((l, ctx) => {
            const problem = redirectLocationProblem(l);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .optional(),
        scheme: z.enum(['https', 'http']).optional(),
        port: z.number().int().min(1).max(65535).optional(),
        keepQuery: z.boolean().optional(),
      })
      .refine((r) => (r.location === undefined) !== (r.scheme === undefined), 'give exactly one of location, scheme')
      .refine((r) => r.port === undefined || r.scheme !== undefined, { message: 'port goes with scheme (a location names its own)', path: ['port'] })
      .optional(),
    respond: z
      .strictObject({
        status: z.number().int().min(200).max(599),
        body: z.string().max(65_536).optional(),
        headers: responseHeaders.optional(),
      })
      .refine((r) => !(r.body && (r.status === 204 || r.status === 304)), { message: 'a 204 or 304 has no body', path: ['body'] })
      .optional(),
    rewrite: z
      .strictObject({
        stripPrefix: pathPattern.optional(),
        path: pathPattern.optional(),
        host: upstreamAuthority.optional(),
      })
      .refine((r) => r.stripPrefix === undefined || r.path === undefined, 'give stripPrefix or path, not both (path replaces the whole path)')
      .refine((r) => r.stripPrefix !== undefined || r.path !== undefined || r.host !== undefined, 'give at least one of stripPrefix, path, host')
      .optional(),
    retries: z
      .strictObject({
        attempts: z.number().int().min(2).max(10),
        on: z
          .array(z.union([z.number().int().min(400).max(599), z.enum(RETRY_CONDITIONS)], { error: 'must be a status 400..599, "connect-failure" or "reset"' }))
          .min(1)
          .optional(),
        backoffMs: z.number().int().min(0).max(10_000).optional().meta({ description: 'ms, base of the wait before each of the route\'s retries: doubled per retry up to 10 times it, jittered (default 25; 0: none)' }),
      })
      .optional(),
    timeoutMs: timeoutMs.optional(),
    policies: z.array(id).optional(),
    allowEncodedSlashes: z.boolean().optional(),
    // Upgrade (WebSocket) requests are proxied unless false; then they are forwarded without it.
    websocket: z.boolean().optional(),
  })
  .superRefine((route, ctx) => {
    for (const p of routeProblems(route)) ctx.addIssue({ code: 'custom', message: p.message, path: p.path });
  });

export { POLICY_TYPES };
export const policySchema = z.discriminatedUnion('type', POLICY_SCHEMAS, {
  error: (issue) =>
    issue.code === 'invalid_union' ? `unknown policy type; known types: ${POLICY_TYPES.join(', ')}` : undefined,
});

export const certificateSchema = z.strictObject({
  id,
  // Empty: never served on the TLS listener; e.g. a client certificate for upstream mTLS.
  snis: z.array(hostPattern).meta({ description: 'names served on the TLS listener; empty for a certificate only presented to upstreams (tls.clientCertificate)' }),
  cert: z.string().min(1),
  // The control plane never shows a key, so a document it exported has none: left out, the key
  // it stores for this id is kept. What etcd holds and proxies load always has one (validate.ts).
  key: z.string().min(1).optional().meta({ writeOnly: true, description: 'PEM private key; leave out to keep the key stored for this id' }),
  // Shown by the control plane instead of the key, and ignored on input, so what it shows can be
  // applied back as it is.
  keySha256: z.string().optional().meta({ readOnly: true, description: 'sha256 (hex) of the key in PKCS#8 DER: `openssl pkey -in key.pem -outform DER | sha256sum`' }),
  notAfter: z.string().optional().meta({ readOnly: true, description: 'expiry of cert (ISO 8601)' }),
});

// Messages here never quote the value: it may be a secret.
const VISIBLE = /^[\x21-\x7e]+$/;
const consumerKey = z
  .string()
  .max(4096)
  .superRefine((key, ctx) => {
    if (key.startsWith(KEY_DIGEST_PREFIX)) {
      if (!isKeyDigest(key)) ctx.addIssue({ code: 'custom', message: `starts with "${KEY_DIGEST_PREFIX}" but is not "${KEY_DIGEST_PREFIX}" and 64 lowercase hex digits (the stored form of a key)` });
    } else if (key.length < MIN_KEY_CHARS) {
      ctx.addIssue({ code: 'custom', message: `a key must be at least ${MIN_KEY_CHARS} characters (its sha256 is shown, so a short key could be guessed from it)` });
    } else if (!VISIBLE.test(key)) {
      ctx.addIssue({ code: 'custom', message: 'a key must be visible ASCII, without spaces (it is sent in a header or a query parameter)' });
    }
  })
  .meta({ description: `a plain key on input, stored and shown only as "${KEY_DIGEST_PREFIX}<hex>" (accepted back as it is)` });

const basicCredentials = z.strictObject({
  username: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[\x21-\x39\x3b-\x7e\x80-\uffff]+$/, 'must not hold ":", spaces or control characters'),
  password: z
    .string()
    .min(1)
    .max(1024)
    .superRefine((password, ctx) => {
      if (password.startsWith(PASSWORD_HASH_PREFIX) && parsePasswordHash(password) === null) {
        ctx.addIssue({ code: 'custom', message: `starts with "${PASSWORD_HASH_PREFIX}" but is not a stored hash this version can check (scrypt$N$r$p$salt$hash, N a power of 2 up to 131072, r up to 16, p up to 4)` });
      }
    })
    .meta({ description: `a plain password on input, stored and shown only as its scrypt hash "${PASSWORD_HASH_PREFIX}N$r$p$salt$hash" (accepted back as it is)` }),
});

export const consumerSchema = z.strictObject({
  id,
  keys: z.array(consumerKey).max(100).optional(),
  basic: basicCredentials.optional(),
});

const globalPolicies = z
  .array(id)
  .max(100)
  .superRefine((ids, ctx) => {
    const first = new Map<string, number>();
    ids.forEach((p, i) => {
      const at = first.get(p);
      if (at !== undefined) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate policy "${p}" (also globalPolicies[${at}])` });
      else first.set(p, i);
    });
  })
  .meta({ description: 'policies run, in this order, before every route\'s own (a route listing one of them again runs it once, here)' });

export const settingsSchema = z.strictObject({
  id: z.literal(SETTINGS_ID, { error: `must be "${SETTINGS_ID}"` }),
  globalPolicies,
});

const objectLists = {
  upstreams: z.array(upstreamSchema).optional(),
  routes: z.array(routeSchema).optional(),
  policies: z.array(policySchema).optional(),
  certificates: z.array(certificateSchema).optional(),
  consumers: z.array(consumerSchema).optional(),
};

/** A document as users write it and the API shows it. */
export const documentSchema = z.strictObject({ ...objectLists, globalPolicies: globalPolicies.optional() });

/** A document as the store and the validator hold it: every kind a list (settings included). */
export const listsSchema = z.strictObject({ ...objectLists, settings: z.array(settingsSchema).max(1).optional() });

export const objectSchemas = {
  upstreams: upstreamSchema,
  routes: routeSchema,
  policies: policySchema,
  certificates: certificateSchema,
  consumers: consumerSchema,
  settings: settingsSchema,
} as const;

export type Upstream = z.infer<typeof upstreamSchema>;
export type HealthCheck = z.infer<typeof healthCheck>;
export type UpstreamTls = z.infer<typeof upstreamTls>;
export type HashOn = z.infer<typeof hashOn>;
export type BalancerName = (typeof BALANCERS)[number];
export type Route = z.infer<typeof routeSchema>;
export type Policy = z.infer<typeof policySchema>;
export type Certificate = z.infer<typeof certificateSchema>;
export type Consumer = z.infer<typeof consumerSchema>;
export type Settings = z.infer<typeof settingsSchema>;
export type ConfigObject = Upstream | Route | Policy | Certificate | Consumer | Settings;

/** A whole, normalized configuration: every kind present, objects sorted by id. */
export interface Config {
  upstreams: Upstream[];
  routes: Route[];
  policies: Policy[];
  certificates: Certificate[];
  consumers: Consumer[];
  /** At most one, id SETTINGS_ID; none from a document without (or with an empty) globalPolicies. */
  settings: Settings[];
}

/** The policies every route runs first. */
export function globalPolicyIds(config: Pick<Config, 'settings'>): readonly string[] {
  return config.settings[0]?.globalPolicies ?? [];
}

export type ConfigDocument = z.infer<typeof documentSchema>;

/** A config as a document: the settings object as top-level fields. */
export function toDocument(config: Config): Omit<Config, 'settings'> & { globalPolicies?: string[] } {
  const { settings, ...lists } = config;
  const global = globalPolicyIds({ settings });
  return global.length > 0 ? { ...lists, globalPolicies: [...global] } : lists;
}

export const DEFAULT_WEIGHT = 1;
/** Envoy outlier detection's default: at most 10 % of the targets out at once (at least one). */
export const DEFAULT_MAX_EJECTION_PERCENT = 10;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_READ_TIMEOUT_MS = 60_000;
export const DEFAULT_BALANCER = 'round-robin';
export const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 5_000;
export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 1_000;
export const DEFAULT_HEALTHY_THRESHOLD = 2;
export const DEFAULT_UNHEALTHY_THRESHOLD = 3;
/** Any 2xx or 3xx answer passes, as HAProxy's and nginx's checks. */
export const DEFAULT_EXPECT_STATUSES = ['200-399'];
export const DEFAULT_PRIORITY = 0;
/** Envoy's retry_back_off default base (retry.ts doubles it up to 10 times it, as Envoy does). */
export const DEFAULT_RETRY_BACKOFF_MS = 25;
/** Retried when a route's retries do not say `on`: what a gateway error looks like. */
export const DEFAULT_RETRY_ON: readonly (number | (typeof RETRY_CONDITIONS)[number])[] = ['connect-failure', 'reset', 502, 503, 504];
