// Every endpoint of the control plane's API (`/api/v1`), declared once as data: method, path, the
// role it needs, what it reads and what it answers. The server binds a handler to each and derives
// authentication, body parsing and the OpenAPI document from it; the client takes its types from
// it. Adding an endpoint here without a handler does not compile.
import { z } from 'zod';
import { OBJECT_KINDS, objectSchemas, type ConfigObject, type ObjectKind } from '../config/schema.js';
import { objectRoutes, routes, type Route } from './routes.js';
import {
  configSchema,
  createdTokenSchema,
  DEFAULT_TOP_ROUTES,
  deletedTokenSchema,
  fleetSchema,
  gitopsReportSchema,
  gitopsStateSchema,
  gitopsStatusSchema,
  gitopsWaitSchema,
  liveConfigSchema,
  MAX_TOP_ROUTES,
  rollbackRequestSchema,
  syncRequestSchema,
  tokenListSchema,
  tokenRequestSchema,
  trafficSchema,
  validateAnswerSchema,
  versionDiffSchema,
  versionListSchema,
  versionWithConfigSchema,
  writeResultSchema,
  type Role,
} from './schemas.js';

export { API_BASE, type Method } from './routes.js';

const MiB = 1024 * 1024;

/**
 * The largest config body: a config of 50,000 routes with hosts, three paths, methods and a
 * policy each (and 5,000 upstreams) is 11.3 MiB as JSON and 11.8 MiB as YAML (bench/control-plane.ts),
 * and it is about the largest one etcd can record (a version's history entry must fit one 1 MiB
 * transaction after gzip). Indented JSON of that size is 21.5 MiB: send it compact.
 */
export const CONFIG_BODY_LIMIT = 16 * MiB;
/** One object, a token request, a rollback: a certificate chain is the biggest of them. */
export const OBJECT_BODY_LIMIT = 1 * MiB;
/** The GitOps agent's report lists what applying the folder would change: up to ~60,000 changes. */
export const REPORT_BODY_LIMIT = 4 * MiB;

/** How a request body is read. Above `maxBytes` the answer is 413 and nothing is read further. */
export type BodySpec<T = unknown> =
  /** JSON checked against `schema` before the handler runs; else 400 `invalid` with every problem. */
  | { read: 'json'; schema: z.ZodType<T>; invalid: string; maxBytes: number; types: readonly string[] }
  /** A whole config as JSON or YAML text, validated by the handler (line numbers, stored keys). */
  | { read: 'config'; schema: z.ZodType<T>; maxBytes: number; types: readonly string[] }
  /** Read and dropped: a webhook's payload. */
  | { read: 'ignored'; maxBytes: number };

/** Request headers an endpoint reads, documented with it. */
export const REQUEST_HEADERS = {
  'if-match': 'a config version such as "7": the write is refused (409) unless it is the live one',
  'x-signalbox-message': 'the message recorded with the new version, URI-encoded; control characters are refused (400)',
  'x-signalbox-source': "where the change comes from, recorded with the version: api (default), cli, dashboard, or gitops (only from a token created for gitops, or an admin's; 403 otherwise)",
} as const;
export type RequestHeader = keyof typeof REQUEST_HEADERS;

export interface Endpoint<B = unknown, R = unknown, Q = unknown> extends Route {
  /** null: no token needed. */
  role: Role | null;
  summary: string;
  /** Path parameters and their type, for the document (handlers read them as strings). */
  params?: Readonly<Record<string, 'string' | 'integer'>>;
  /** Query parameters: parsed by the router; 400 naming the parameter otherwise. */
  query?: z.ZodType<Q>;
  headers?: readonly RequestHeader[];
  body?: BodySpec<B>;
  ok: { status: number; description: string; schema?: z.ZodType<R>; yaml?: true };
  /** The error answers worth documenting besides 401 and 403. */
  errors?: Readonly<Partial<Record<number, string>>>;
}

/** What a client sends as the body of `E`. */
export type RequestBodyOf<E> = E extends { body: { read: 'json' | 'config'; schema: infer S extends z.ZodType } } ? z.input<S> : undefined;
/** What the server's handler of `E` gets: a JSON body as its schema parsed it. */
export type ParsedBodyOf<E> = E extends { body: { read: 'json'; schema: infer S extends z.ZodType } } ? z.output<S> : undefined;
export type QueryOf<E> = E extends { query: infer S extends z.ZodType } ? z.output<S> : Record<string, never>;
export type ResponseOf<E> = E extends { ok: { schema: infer S extends z.ZodType } } ? z.output<S> : undefined;

/** The declaration of the endpoint at `R`'s method and path: what a call to that route sends and gets. */
export type EndpointAt<R extends Route> = DeclaredAt<AnyEndpoint, R>;
type DeclaredAt<E, R> = E extends { method: infer M; path: infer P } ? (R extends { method: M; path: P } ? E : never) : never;
type AnyEndpoint = (typeof endpoints)[keyof typeof endpoints] | ObjectEndpoints[keyof ObjectEndpoints];

const JSON_TYPES = ['application/json'] as const;
const CONFIG_TYPES = ['application/json', 'application/yaml'] as const;

const WRITE_HEADERS = ['if-match', 'x-signalbox-message', 'x-signalbox-source'] as const;
const WRITE_ERRORS = {
  400: 'invalid input, or a malformed header; details lists the problems (the first 100)',
  409: 'stale If-Match, another change got there first, or another write holds the write lock (Retry-After)',
  503: 'etcd did not answer in time; nothing was written, or the write is found on retry (Retry-After)',
} as const;

function json<S extends z.ZodType>(schema: S, invalid: string, maxBytes = OBJECT_BODY_LIMIT, types: readonly string[] = JSON_TYPES) {
  return { read: 'json', schema, invalid, maxBytes, types } as const;
}

/** A query parameter that is a whole number in [min, max], or absent. */
function intQuery(min: number, max: number, description: string) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      const n = Number(raw);
      if (Number.isInteger(n) && n >= min && n <= max) return n;
      ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}, got "${raw}"` });
      return z.NEVER;
    })
    .meta({ type: 'integer', minimum: min, maximum: max, description });
}

const flag = (values: string[], description: string) => z.string().optional().meta({ enum: values, description });

const endpoint = <const E extends Endpoint>(e: E): E => e;

export const endpoints = {
  openapi: endpoint({
    ...routes.openapi,
    role: null,
    summary: 'this description',
    ok: { status: 200, description: 'OpenAPI 3.0 document', schema: z.looseObject({ openapi: z.string() }) },
  }),

  getConfig: endpoint({
    ...routes.getConfig,
    role: 'viewer',
    summary: 'the live config (keys redacted); ETag is its version; Accept: application/yaml for YAML',
    ok: { status: 200, description: 'config', schema: liveConfigSchema, yaml: true },
  }),
  putConfig: endpoint({
    ...routes.putConfig,
    role: 'editor',
    summary: 'replace the whole config (a new version)',
    headers: WRITE_HEADERS,
    body: { read: 'config', schema: configSchema, maxBytes: CONFIG_BODY_LIMIT, types: CONFIG_TYPES },
    ok: { status: 200, description: 'written as a new version (or unchanged)', schema: writeResultSchema },
    errors: { ...WRITE_ERRORS, 413: `body over ${CONFIG_BODY_LIMIT / MiB} MiB` },
  }),
  validateConfig: endpoint({
    ...routes.validateConfig,
    role: 'viewer',
    summary: 'validate and diff against the live config; writes nothing',
    query: z.object({ detail: flag(['1'], 'each change with its object before and after') }),
    body: { read: 'config', schema: configSchema, maxBytes: CONFIG_BODY_LIMIT, types: CONFIG_TYPES },
    ok: { status: 200, description: '{valid: false, errors} (the first 100) or {valid: true, liveVersion, changes}', schema: validateAnswerSchema },
    errors: { 413: `body over ${CONFIG_BODY_LIMIT / MiB} MiB`, 503: 'too many large documents are being checked; Retry-After' },
  }),

  listVersions: endpoint({
    ...routes.listVersions,
    role: 'viewer',
    summary: 'version history, newest first (the last 500)',
    ok: { status: 200, description: 'versions', schema: versionListSchema },
  }),
  getVersion: endpoint({
    ...routes.getVersion,
    role: 'viewer',
    summary: 'one version with its whole config (keys redacted)',
    params: { n: 'integer' },
    ok: { status: 200, description: 'version', schema: versionWithConfigSchema },
    errors: { 404: 'not found' },
  }),
  diffVersions: endpoint({
    ...routes.diffVersions,
    role: 'viewer',
    summary: 'per-object changes from version a to version b, each object before and after (keys redacted)',
    params: { a: 'integer', b: 'integer' },
    ok: { status: 200, description: 'changes', schema: versionDiffSchema },
    errors: { 404: 'no such version' },
  }),
  rollback: endpoint({
    ...routes.rollback,
    role: 'editor',
    summary: 'write a new version equal to an old one',
    headers: WRITE_HEADERS,
    body: json(rollbackRequestSchema, 'body must be {"version": N}'),
    ok: { status: 200, description: 'written as a new version (or unchanged)', schema: writeResultSchema },
    errors: { ...WRITE_ERRORS, 404: 'no such version' },
  }),

  listProxies: endpoint({
    ...routes.listProxies,
    role: 'viewer',
    summary: 'every running proxy, its version, in sync or lagging; how long recent versions took to reach the fleet',
    query: z.object({ lagThresholdMs: intQuery(0, 86_400_000, 'a proxy not on the live version this long after its commit is lagging; default 30000') }),
    ok: { status: 200, description: 'proxies', schema: fleetSchema },
  }),
  getTraffic: endpoint({
    ...routes.getTraffic,
    role: 'viewer',
    summary: "requests/s, error rate and p99 over the last minutes, of the fleet, each proxy and the busiest routes (asked from the proxies' admin ports)",
    query: z.object({ top: intQuery(1, MAX_TOP_ROUTES, `routes to list, the busiest first; default ${DEFAULT_TOP_ROUTES}`) }),
    ok: { status: 200, description: 'traffic', schema: trafficSchema },
  }),

  createToken: endpoint({
    ...routes.createToken,
    role: 'admin',
    summary: 'create a token (admin); its secret is in this answer only',
    body: json(tokenRequestSchema, 'invalid token request'),
    ok: { status: 201, description: 'created', schema: createdTokenSchema },
    errors: { 400: 'invalid name, role or purpose', 409: 'the name is taken' },
  }),
  listTokens: endpoint({
    ...routes.listTokens,
    role: 'admin',
    summary: 'every token in etcd (admin; never secrets or hashes)',
    ok: { status: 200, description: 'tokens', schema: tokenListSchema },
  }),
  deleteToken: endpoint({
    ...routes.deleteToken,
    role: 'admin',
    summary: 'delete a token (admin); it stops working at once',
    params: { name: 'string' },
    ok: { status: 200, description: 'deleted', schema: deletedTokenSchema },
    errors: { 404: 'no such token' },
  }),

  getGitops: endpoint({
    ...routes.getGitops,
    role: 'viewer',
    summary: "the GitOps agent's last report (null until an agent has reported) and the last sync request",
    ok: { status: 200, description: 'GitOps state', schema: gitopsStateSchema },
  }),
  reportGitops: endpoint({
    ...routes.reportGitops,
    role: 'editor',
    summary: 'the agent reports the outcome of a sync (editor)',
    body: json(gitopsReportSchema, 'invalid GitOps status', REPORT_BODY_LIMIT),
    ok: { status: 200, description: 'stored', schema: gitopsStatusSchema },
    errors: { 400: 'not a valid report; details lists every problem' },
  }),
  requestSync: endpoint({
    ...routes.requestSync,
    role: 'editor',
    summary: 'ask the agent to sync now, e.g. from a webhook (editor); any request body is ignored',
    query: z.object({ force: flag(['1', 'true'], 'this sync overwrites changes made outside git') }),
    body: { read: 'ignored', maxBytes: OBJECT_BODY_LIMIT },
    ok: { status: 202, description: 'requested', schema: syncRequestSchema },
  }),
  waitGitops: endpoint({
    ...routes.waitGitops,
    role: 'viewer',
    summary: "the agent's long poll: answers when a sync request newer than `after` lands or the live version is not `version`, else after `timeout` seconds",
    query: z.object({
      after: intQuery(0, Number.MAX_SAFE_INTEGER, 'the last sync request id seen; absent: answer at once'),
      version: intQuery(0, Number.MAX_SAFE_INTEGER, 'the live version the caller knows'),
      timeout: intQuery(1, 60, 'seconds to wait at most (default 25)'),
    }),
    ok: { status: 200, description: 'the current state', schema: gitopsWaitSchema },
    errors: { 400: 'a query parameter is out of range' },
  }),
} as const satisfies { [N in keyof typeof routes]: Endpoint & (typeof routes)[N] };

/** A JSON merge patch (RFC 7396): the fields to change, null to remove one. */
export const mergePatchSchema = z.record(z.string(), z.unknown()).meta({ description: 'the fields to change; null removes one' });

const SINGULAR: Record<ObjectKind, string> = { routes: 'route', upstreams: 'upstream', policies: 'policy', certificates: 'certificate', consumers: 'consumer' };

/** The five endpoints of one kind of object: list, get, put, patch, delete. */
function objectEndpoints<K extends ObjectKind>(kind: K) {
  const schema = objectSchemas[kind] as z.ZodType<ConfigObject>;
  const inUse = kind === 'upstreams' || kind === 'policies' ? ' (409 while a route uses it, naming the routes)' : '';
  const id = { id: 'string' } as const;
  const r = objectRoutes(kind);
  return {
    list: endpoint({
      ...r.list,
      role: 'viewer',
      summary: `list ${kind}`,
      ok: { status: 200, description: kind, schema: z.object({ [kind]: z.array(schema) }) as unknown as z.ZodType<Record<K, ConfigObject[]>> },
    }),
    get: endpoint({
      ...r.get,
      role: 'viewer',
      summary: `one ${SINGULAR[kind]}`,
      params: id,
      ok: { status: 200, description: SINGULAR[kind], schema },
      errors: { 404: 'not found' },
    }),
    put: endpoint({
      ...r.put,
      role: 'editor',
      summary: `create or replace one ${SINGULAR[kind]} (a new version)`,
      params: id,
      headers: WRITE_HEADERS,
      body: json(schema, 'invalid object'),
      ok: { status: 200, description: 'written as a new version (or unchanged)', schema: writeResultSchema },
      errors: WRITE_ERRORS,
    }),
    patch: endpoint({
      ...r.patch,
      role: 'editor',
      summary: `change one ${SINGULAR[kind]} with a JSON merge patch (RFC 7396; a new version)`,
      params: id,
      headers: WRITE_HEADERS,
      body: json(mergePatchSchema, 'the body must be a JSON merge patch (RFC 7396): an object of the fields to change, null to remove one', OBJECT_BODY_LIMIT, [
        'application/merge-patch+json',
        'application/json',
      ]),
      ok: { status: 200, description: 'written as a new version (or unchanged)', schema: writeResultSchema },
      errors: { ...WRITE_ERRORS, 404: 'not found' },
    }),
    delete: endpoint({
      ...r.delete,
      role: 'editor',
      summary: `delete one ${SINGULAR[kind]} (a new version)${inUse}`,
      params: id,
      headers: WRITE_HEADERS,
      ok: { status: 200, description: 'written as a new version (or unchanged)', schema: writeResultSchema },
      errors: { ...WRITE_ERRORS, 404: 'not found', 409: 'in use by routes, or a concurrent change' },
    }),
  };
}

export type ObjectEndpoints = ReturnType<typeof objectEndpoints<ObjectKind>>;

export const objectEndpointsByKind = Object.fromEntries(OBJECT_KINDS.map((kind) => [kind, objectEndpoints(kind)])) as Record<ObjectKind, ObjectEndpoints>;

/** Every endpoint, in the order the router and the document list them. */
export function allEndpoints(): Endpoint[] {
  return [...Object.values(endpoints), ...OBJECT_KINDS.flatMap((kind) => Object.values(objectEndpointsByKind[kind]))] as Endpoint[];
}
