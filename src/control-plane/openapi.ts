// The OpenAPI description, generated from the same zod schemas that validate requests.
import { z } from 'zod';
import { KINDS, certificateSchema, documentSchema, policySchema, routeSchema, upstreamSchema } from '../config/schema.js';
import { ROLES } from './auth.js';
import { gitopsReportSchema, gitopsStatusSchema, syncRequestSchema } from './gitops-state.js';
import { tokenRequestSchema } from './routes/tokens.js';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'any' });

let cached: object | null = null;

export function openApiDocument(): object {
  cached ??= build();
  return cached;
}

const OBJECT_SCHEMA = { routes: 'Route', upstreams: 'Upstream', policies: 'Policy', certificates: 'Certificate' } as const;

function build(): object {
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const body = (schema: object, types = ['application/json', 'application/yaml']) => ({
    required: true,
    content: Object.fromEntries(types.map((t) => [t, { schema }])),
  });
  const ok = (description: string, schema?: object) => ({ description, ...(schema ? { content: { 'application/json': { schema } } } : {}) });
  const error = (description: string) => ok(description, ref('Error'));
  const path = (name: string, type = 'string') => ({ name, in: 'path', required: true, schema: { type } });
  const ifMatch = { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'a config version such as "7": the write is refused (409) unless it is the live one' };
  // Every endpoint but this description needs a token; a role too low for it is 403.
  const authed = (op: { responses: Record<string, unknown> } & Record<string, unknown>) => ({
    ...op,
    responses: { ...op.responses, 401: error('missing or invalid token'), 403: error("the token's role does not allow this") },
  });
  const written = ok('written as a new version (or unchanged)', ref('WriteResult'));
  const writeErrors = { 400: error('invalid input; details lists every problem'), 409: error('stale If-Match, or another change got there first') };

  const objectPaths = Object.fromEntries(
    KINDS.flatMap((kind) => {
      const name = OBJECT_SCHEMA[kind];
      const inUse = kind === 'upstreams' || kind === 'policies' ? ' (409 while a route uses it, naming the routes)' : '';
      return [
        [`/${kind}`, { get: authed({ summary: `list ${kind}`, responses: { 200: ok(kind, { type: 'object', properties: { [kind]: { type: 'array', items: ref(name) } } }) } }) }],
        [`/${kind}/{id}`, {
          parameters: [path('id')],
          get: authed({ summary: `one of ${kind}`, responses: { 200: ok(name, ref(name)), 404: error('not found') } }),
          put: authed({ summary: `create or replace one of ${kind} (a new version)`, parameters: [ifMatch], requestBody: body(ref(name), ['application/json']), responses: { 200: written, ...writeErrors } }),
          patch: authed({
            summary: `change one of ${kind} with a JSON merge patch (RFC 7396; a new version)`,
            parameters: [ifMatch],
            requestBody: body({ type: 'object', description: 'the fields to change; null removes one' }, ['application/merge-patch+json', 'application/json']),
            responses: { 200: written, 404: error('not found'), ...writeErrors },
          }),
          delete: authed({ summary: `delete one of ${kind} (a new version)${inUse}`, parameters: [ifMatch], responses: { 200: written, 404: error('not found'), 409: error('in use by routes, or a concurrent change') } }),
        }],
      ];
    }),
  );

  return {
    openapi: '3.0.3',
    info: {
      title: 'Signalbox control plane',
      version: '1',
      description: `Bearer tokens with roles ${ROLES.join(' < ')}: viewer reads, editor also writes the config, admin also manages tokens. Certificate keys are never returned: reads show keySha256 and notAfter instead, and a certificate written without key keeps the key stored for its id.`,
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    paths: {
      '/openapi.json': { get: { summary: 'this description', security: [], responses: { 200: ok('OpenAPI 3.0 document') } } },
      '/config': {
        get: authed({ summary: 'the live config (keys redacted); ETag is its version; Accept: application/yaml for YAML', responses: { 200: ok('config', ref('Config')) } }),
        put: authed({ summary: 'replace the whole config (a new version)', parameters: [ifMatch], requestBody: body(ref('Config')), responses: { 200: written, ...writeErrors } }),
      },
      '/config/validate': {
        post: authed({
          summary: 'validate and diff against the live config; writes nothing',
          parameters: [{ name: 'detail', in: 'query', required: false, schema: { type: 'string', enum: ['1'] }, description: 'each change with its object before and after' }],
          requestBody: body(ref('Config')),
          responses: { 200: ok('{valid: false, errors} or {valid: true, liveVersion, changes}') },
        }),
      },
      '/versions': { get: authed({ summary: 'version history, newest first (the last 500)', responses: { 200: ok('versions', { type: 'object', properties: { versions: { type: 'array', items: ref('Version') } } }) } }) },
      '/versions/{n}': {
        get: authed({
          summary: 'one version with its whole config (keys redacted)',
          parameters: [path('n', 'integer')],
          responses: { 200: ok('version', { type: 'object', properties: { version: ref('Version'), config: ref('Config') } }), 404: error('not found') },
        }),
      },
      '/versions/{a}/diff/{b}': {
        get: authed({
          summary: 'per-object changes from version a to version b, each object before and after (keys redacted)',
          parameters: [path('a', 'integer'), path('b', 'integer')],
          responses: {
            200: ok('changes', { type: 'object', properties: { from: ref('Version'), to: ref('Version'), changes: { type: 'array', items: ref('Change') } } }),
            404: error('no such version'),
          },
        }),
      },
      '/rollback': {
        post: authed({
          summary: 'write a new version equal to an old one',
          parameters: [ifMatch],
          requestBody: body({ type: 'object', properties: { version: { type: 'integer' } }, required: ['version'] }, ['application/json']),
          responses: { 200: written, 404: error('no such version'), ...writeErrors },
        }),
      },
      '/proxies': { get: authed({ summary: 'every running proxy, its version, in sync or not', responses: { 200: ok('proxies') } }) },
      '/tokens': {
        get: authed({ summary: 'every token in etcd (admin; never secrets or hashes)', responses: { 200: ok('tokens', { type: 'object', properties: { tokens: { type: 'array', items: ref('TokenInfo') } } }) } }),
        post: authed({
          summary: 'create a token (admin); its secret is in this answer only',
          requestBody: body(ref('TokenRequest'), ['application/json']),
          responses: { 201: ok('created', ref('CreatedToken')), 400: error('invalid name or role'), 409: error('the name is taken') },
        }),
      },
      '/tokens/{name}': { delete: authed({ summary: 'delete a token (admin); it stops working at once', parameters: [path('name')], responses: { 200: ok('deleted'), 404: error('no such token') } }) },
      '/gitops': {
        get: authed({
          summary: "the GitOps agent's last report (null until an agent has reported) and the last sync request",
          responses: { 200: ok('GitOps state', { type: 'object', properties: { status: ref('GitopsStatus'), syncRequest: ref('SyncRequest') } }) },
        }),
      },
      '/gitops/status': {
        put: authed({
          summary: 'the agent reports the outcome of a sync (editor)',
          requestBody: body(ref('GitopsReport'), ['application/json']),
          responses: { 200: ok('stored', ref('GitopsStatus')), 400: error('not a valid report; details lists every problem') },
        }),
      },
      '/gitops/sync': {
        post: authed({
          summary: 'ask the agent to sync now, e.g. from a webhook (editor); any request body is ignored',
          parameters: [{ name: 'force', in: 'query', required: false, schema: { type: 'string', enum: ['1', 'true'] }, description: 'this sync overwrites changes made outside git' }],
          responses: { 202: ok('requested', ref('SyncRequest')) },
        }),
      },
      '/gitops/wait': {
        get: authed({
          summary: "the agent's long poll: answers when a sync request newer than `after` lands or the live version is not `version`, else after `timeout` seconds",
          parameters: [
            { name: 'after', in: 'query', required: false, schema: { type: 'integer' }, description: 'the last sync request id seen; absent: answer at once' },
            { name: 'version', in: 'query', required: false, schema: { type: 'integer' }, description: 'the live version the caller knows' },
            { name: 'timeout', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 60, default: 25 } },
          ],
          responses: { 200: ok('the current state', { type: 'object', properties: { syncRequest: ref('SyncRequest'), liveVersion: { type: 'integer' } } }), 400: error('a query parameter is out of range') },
        }),
      },
      ...objectPaths,
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Config: json(documentSchema),
        Route: json(routeSchema),
        Upstream: json(upstreamSchema),
        Policy: json(policySchema),
        Certificate: json(certificateSchema),
        TokenRequest: json(tokenRequestSchema),
        GitopsReport: json(gitopsReportSchema),
        GitopsStatus: json(gitopsStatusSchema),
        SyncRequest: json(syncRequestSchema),
        TokenInfo: {
          type: 'object',
          properties: { name: { type: 'string' }, role: { type: 'string', enum: [...ROLES] }, createdAt: { type: 'string' }, createdBy: { type: 'string' } },
        },
        CreatedToken: { allOf: [ref('TokenInfo'), { type: 'object', properties: { token: { type: 'string', description: 'the bearer token; shown once' } } }] },
        Version: {
          type: 'object',
          properties: {
            version: { type: 'integer' },
            hash: { type: 'string', description: 'sha256 of the canonical config' },
            author: { type: 'string', description: 'name of the token that wrote it' },
            source: { type: 'string', enum: ['api', 'cli', 'gitops', 'dashboard'] },
            message: { type: 'string' },
            at: { type: 'string' },
            counts: { type: 'object', additionalProperties: { type: 'integer' } },
          },
        },
        Change: {
          type: 'object',
          properties: { kind: { type: 'string', enum: [...KINDS] }, id: { type: 'string' }, op: { type: 'string', enum: ['add', 'change', 'remove'] }, before: { type: 'object' }, after: { type: 'object' } },
        },
        WriteResult: {
          type: 'object',
          properties: {
            version: ref('Version'),
            unchanged: { type: 'boolean' },
            changes: { type: 'array', items: { type: 'object', properties: { kind: { type: 'string' }, id: { type: 'string' }, op: { type: 'string' } } } },
          },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: { type: 'string' },
            details: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' }, line: { type: 'integer' } } } },
          },
        },
      },
    },
  };
}
