// The OpenAPI description, generated from the same zod schemas that validate requests.
import { z } from 'zod';
import { certificateSchema, documentSchema, policySchema, routeSchema, upstreamSchema } from '../config/schema.js';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'any' });

let cached: object | null = null;

export function openApiDocument(): object {
  cached ??= build();
  return cached;
}

function build(): object {
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const body = (name: string) => ({ required: true, content: { 'application/json': { schema: ref(name) }, 'application/yaml': { schema: ref(name) } } });
  const ok = (description: string, schema?: object) => ({ description, ...(schema ? { content: { 'application/json': { schema } } } : {}) });
  const errors = { 400: ok('invalid input', ref('Error')), 401: ok('missing or invalid token', ref('Error')), 409: ok('stale If-Match or concurrent change', ref('Error')) };
  const objectPaths = Object.fromEntries(
    (['routes', 'upstreams', 'policies', 'certificates'] as const).flatMap((kind) => {
      const name = { routes: 'Route', upstreams: 'Upstream', policies: 'Policy', certificates: 'Certificate' }[kind];
      return [
        [`/${kind}`, { get: { summary: `list ${kind}`, responses: { 200: ok(kind) } } }],
        [`/${kind}/{id}`, {
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          get: { summary: `one of ${kind}`, responses: { 200: ok(name, ref(name)), 404: ok('not found', ref('Error')) } },
          put: { summary: `create or replace one of ${kind} (a new version)`, requestBody: body(name), responses: { 200: ok('written'), ...errors } },
          delete: { summary: `delete one of ${kind} (a new version)`, responses: { 200: ok('written'), 404: ok('not found', ref('Error')), ...errors } },
        }],
      ];
    }),
  );
  return {
    openapi: '3.0.3',
    info: { title: 'Signalbox control plane', version: '1' },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    paths: {
      '/config': {
        get: { summary: 'the live config; ETag is its version', responses: { 200: ok('config', ref('Config')) } },
        put: { summary: 'replace the whole config (a new version); If-Match guards against concurrent changes', requestBody: body('Config'), responses: { 200: ok('written'), ...errors } },
      },
      '/config/validate': { post: { summary: 'validate and diff against the live config; writes nothing', requestBody: body('Config'), responses: { 200: ok('result') } } },
      '/versions': { get: { summary: 'version history', responses: { 200: ok('versions') } } },
      '/versions/{n}': { get: { summary: 'one version with its whole config', parameters: [{ name: 'n', in: 'path', required: true, schema: { type: 'integer' } }], responses: { 200: ok('version'), 404: ok('not found', ref('Error')) } } },
      '/rollback': { post: { summary: 'write a new version equal to an old one', requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { version: { type: 'integer' } }, required: ['version'] } } } }, responses: { 200: ok('written'), 404: ok('no such version', ref('Error')) } } },
      '/proxies': { get: { summary: 'every running proxy, its version, in sync or not', responses: { 200: ok('proxies') } } },
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
