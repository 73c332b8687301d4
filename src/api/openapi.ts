// The OpenAPI description, derived from the endpoint declarations and their zod schemas: the same
// ones the server checks requests with, so what it documents is what it enforces.
import { z } from 'zod';
import { certificateSchema, consumerSchema, policySchema, routeSchema, upstreamSchema } from '../config/schema.js';
import { API_BASE, REQUEST_HEADERS, allEndpoints, mergePatchSchema, type Endpoint } from './endpoints.js';
import * as s from './schemas.js';

/** Schemas shown by name under components.schemas; any other is written out where it is used. */
const NAMED: [z.ZodType, string][] = [
  [s.configSchema, 'Config'],
  [s.liveConfigSchema, 'LiveConfig'],
  [routeSchema, 'Route'],
  [upstreamSchema, 'Upstream'],
  [policySchema, 'Policy'],
  [certificateSchema, 'Certificate'],
  [consumerSchema, 'Consumer'],
  [s.errorBodySchema, 'Error'],
  [s.versionSchema, 'Version'],
  [s.changeSummarySchema, 'ChangeSummary'],
  [s.changeSchema, 'Change'],
  [s.writeResultSchema, 'WriteResult'],
  [s.validateAnswerSchema, 'ValidateAnswer'],
  [s.versionListSchema, 'VersionList'],
  [s.versionWithConfigSchema, 'VersionWithConfig'],
  [s.versionDiffSchema, 'VersionDiff'],
  [s.rollbackRequestSchema, 'RollbackRequest'],
  [s.fleetSchema, 'Fleet'],
  [s.tokenRequestSchema, 'TokenRequest'],
  [s.tokenInfoSchema, 'TokenInfo'],
  [s.createdTokenSchema, 'CreatedToken'],
  [s.tokenListSchema, 'TokenList'],
  [s.gitopsReportSchema, 'GitopsReport'],
  [s.gitopsStatusSchema, 'GitopsStatus'],
  [s.syncRequestSchema, 'SyncRequest'],
  [s.gitopsStateSchema, 'GitopsState'],
  [s.gitopsWaitSchema, 'GitopsWait'],
  [mergePatchSchema, 'MergePatch'],
];

const REF = (name: string) => `#/components/schemas/${name}`;
const OPTIONS = { target: 'openapi-3.0', io: 'input', unrepresentable: 'any', uri: REF } as const;

type JsonSchema = Record<string, unknown>;

/**
 * Every schema the endpoints use, as JSON schemas that refer to the named ones by $ref: the named
 * ones by their name, the others by an id of their own (they are written out where used).
 */
function jsonSchemas(used: readonly z.ZodType[]): { ids: Map<z.ZodType, string>; schemas: Record<string, JsonSchema> } {
  const ids = new Map(NAMED);
  for (const schema of used) if (!ids.has(schema)) ids.set(schema, `inline-${ids.size}`);
  const registry = z.registry<{ id: string }>();
  for (const [schema, id] of ids) registry.add(schema, { id });
  const schemas = z.toJSONSchema(registry, OPTIONS).schemas as Record<string, JsonSchema>;
  for (const schema of Object.values(schemas)) delete schema.$id;
  return { ids, schemas };
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  [field: string]: unknown;
}

let cached: OpenApiDocument | null = null;

export function openApiDocument(): OpenApiDocument {
  cached ??= build(allEndpoints());
  return cached;
}

function build(list: Endpoint[]): OpenApiDocument {
  const used = list.flatMap((e) => [e.ok.schema, e.body && e.body.read !== 'ignored' ? e.body.schema : undefined, e.query]).filter((x): x is z.ZodType => x !== undefined);
  const { ids, schemas } = jsonSchemas(used);
  const names = new Set(NAMED.map(([, name]) => name));
  const schemaOf = (schema: z.ZodType): JsonSchema => {
    const id = ids.get(schema)!;
    return names.has(id) ? { $ref: REF(id) } : schemas[id]!;
  };
  const componentSchemas = Object.fromEntries(Object.entries(schemas).filter(([id]) => names.has(id)));

  const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: REF('Error') } } } });
  const paths: Record<string, Record<string, unknown>> = {};
  for (const e of list) {
    const path = e.path.replace(/:(\w+)/g, '{$1}');
    const parameters: unknown[] = [
      ...Object.entries(e.params ?? {}).map(([name, type]) => ({ name, in: 'path', required: true, schema: { type } })),
      ...Object.entries((e.query ? schemaOf(e.query).properties : undefined) ?? {}).map(([name, schema]) => {
        const { description, ...rest } = schema as JsonSchema;
        return { name, in: 'query', required: false, schema: rest, ...(description ? { description } : {}) };
      }),
      ...(e.headers ?? []).map((name) => ({ name, in: 'header', required: false, schema: { type: 'string' }, description: REQUEST_HEADERS[name] })),
    ];
    const responses: Record<string, unknown> = {
      [e.ok.status]: {
        description: e.ok.description,
        ...(e.ok.schema
          ? { content: { 'application/json': { schema: schemaOf(e.ok.schema) }, ...(e.ok.yaml ? { 'application/yaml': { schema: schemaOf(e.ok.schema) } } : {}) } }
          : {}),
      },
    };
    for (const [status, description] of Object.entries(e.errors ?? {})) responses[status] = error(description!);
    if (e.role !== null) {
      responses[401] = error('missing or invalid token');
      responses[403] = error(`the token's role is below ${e.role}${e.headers?.includes('x-signalbox-source') ? ', or it may not say X-Signalbox-Source: gitops' : ''}`);
    }
    const body = e.body && e.body.read !== 'ignored' ? e.body : undefined;
    paths[path] ??= {};
    paths[path][e.method.toLowerCase()] = {
      summary: e.summary,
      ...(e.role === null ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(body ? { requestBody: { required: true, content: Object.fromEntries(body.types.map((t) => [t, { schema: schemaOf(body.schema) }])) } } : {}),
      responses,
    };
  }

  return {
    openapi: '3.0.3',
    info: {
      title: 'Signalbox control plane',
      version: '1',
      description:
        `Bearer tokens with roles ${s.ROLES.join(' < ')}: viewer reads, editor also writes the config, admin also manages tokens. ` +
        'Certificate keys are never returned: reads show keySha256 and notAfter instead, and a certificate written without key keeps the key stored for its id. ' +
        'Likewise a jwt policy\'s secret: reads show secretSha256, and a jwt policy written without key source keeps the secret stored for its id.',
    },
    servers: [{ url: API_BASE }],
    security: [{ bearer: [] }],
    paths,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: componentSchemas },
  };
}
