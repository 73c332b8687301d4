// The REST API (`/api/v1`). Every write goes through ConfigWriter: validated whole, written as
// one new version, guarded against concurrent writers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import Router from 'find-my-way';
import type { Etcd3 } from 'etcd3';
import { configHash } from '../config/canonical.js';
import { diffConfigs } from '../config/diff.js';
import { validateSources } from '../config/load.js';
import { KINDS, objectSchemas, type Config, type ConfigObject, type Kind } from '../config/schema.js';
import { formatIssue, formatPath, schemaIssues, validateDocument, type ValidationResult } from '../config/validate.js';
import { ConfigWriter, VersionConflictError } from '../store/config-writer.js';
import type { Keys } from '../store/keys.js';
import { ProxyRegistry } from '../store/proxy-registry.js';
import type { Principal } from './auth.js';
import { HttpError, issueDetails, readJson, readText, sendError, sendJson } from './http.js';
import { openApiDocument } from './openapi.js';

export interface ApiDeps {
  client: Etcd3;
  keys: Keys;
  writer: ConfigWriter;
  authenticate: (req: IncomingMessage) => Principal;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string | undefined>) => Promise<void>;

const SOURCES = new Set(['api', 'cli', 'gitops', 'dashboard']);

/** `If-Match: "7"` or `If-Match: 7` → 7. */
function ifMatchVersion(req: IncomingMessage): number | undefined {
  const raw = req.headers['if-match'];
  if (raw === undefined || raw === '*') return undefined;
  const n = Number(String(raw).replace(/^W\//, '').replace(/"/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new HttpError(400, `If-Match must be a config version such as "7", got ${raw}`);
  return n;
}

function writeMeta(req: IncomingMessage, principal: Principal, fallbackMessage: string) {
  const source = String(req.headers['x-signalbox-source'] ?? 'api');
  const rawMessage = req.headers['x-signalbox-message'];
  return {
    author: principal.name,
    source: SOURCES.has(source) ? source : 'api',
    message: rawMessage ? decodeURIComponent(String(rawMessage)) : fallbackMessage,
  };
}

function requireValid(result: ValidationResult): Config {
  if (!result.ok) throw new HttpError(400, 'invalid config', issueDetails(result.issues));
  return result.config;
}

function kindParam(params: Record<string, string | undefined>): Kind {
  const kind = params.kind as Kind;
  if (!KINDS.includes(kind)) throw new HttpError(404, `no such collection "${params.kind}"; known: ${KINDS.join(', ')}`);
  return kind;
}

export function createApi(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { writer, authenticate } = deps;
  const router = Router({ ignoreTrailingSlash: true });

  async function write(req: IncomingMessage, res: ServerResponse, config: Config, expectVersion: number | undefined, message: string) {
    const principal = authenticate(req);
    try {
      const result = await writer.write(config, { ...writeMeta(req, principal, message), expectVersion });
      sendJson(res, 200, { version: result.version, unchanged: result.unchanged, changes: summarize(result.changes) }, {
        etag: `"${result.version.version}"`,
      });
    } catch (err) {
      if (err instanceof VersionConflictError) {
        throw new HttpError(409, `config changed meanwhile: expected version ${err.expected}, live version is ${err.actual}`);
      }
      throw err;
    }
  }

  /** Read the live config, change one object, write the whole as a new version. */
  async function editObject(req: IncomingMessage, res: ServerResponse, kind: Kind, id: string, next: ConfigObject | null) {
    const { config, version } = await writer.readCommitted();
    const current = version?.version ?? 0;
    const expectVersion = ifMatchVersion(req) ?? current;
    const objects = config[kind].filter((o) => o.id !== id) as ConfigObject[];
    if (!next && objects.length === config[kind].length) throw new HttpError(404, `${kind}/${id} not found`);
    if (next) objects.push(next);
    const candidate = { ...config, [kind]: objects };
    const valid = requireValid(validateDocument(candidate));
    await write(req, res, valid, expectVersion, `${next ? 'put' : 'delete'} ${kind}/${id}`);
  }

  const routes: [string, string, Handler][] = [
    ['GET', '/api/v1/config', async (req, res) => {
      authenticate(req);
      const { config, version } = await writer.readCommitted();
      sendJson(res, 200, config, version ? { etag: `"${version.version}"` } : {});
    }],
    ['PUT', '/api/v1/config', async (req, res) => {
      authenticate(req);
      const config = requireValid(validateSources([{ file: 'request body', text: await readText(req) }]));
      await write(req, res, config, ifMatchVersion(req), 'apply config');
    }],
    ['POST', '/api/v1/config/validate', async (req, res) => {
      authenticate(req);
      const result = validateSources([{ file: 'request body', text: await readText(req) }]);
      if (!result.ok) {
        sendJson(res, 200, { valid: false, errors: issueDetails(result.issues) });
        return;
      }
      const live = await writer.readCommitted();
      sendJson(res, 200, {
        valid: true,
        liveVersion: live.version?.version ?? 0,
        changes: summarize(diffConfigs(live.config, result.config)),
      });
    }],
    ['GET', '/api/v1/versions', async (req, res) => {
      authenticate(req);
      sendJson(res, 200, { versions: await writer.listVersions() });
    }],
    ['GET', '/api/v1/versions/:n', async (req, res, params) => {
      authenticate(req);
      const found = await writer.getVersion(Number(params.n));
      if (!found) throw new HttpError(404, `version ${params.n} not found`);
      sendJson(res, 200, found);
    }],
    ['POST', '/api/v1/rollback', async (req, res) => {
      authenticate(req);
      const body = (await readJson(req)) as { version?: unknown };
      if (!Number.isInteger(body.version)) throw new HttpError(400, 'body must be {"version": N}', [{ path: 'version', message: 'must be an integer' }]);
      const found = await writer.getVersion(body.version as number);
      if (!found) throw new HttpError(404, `version ${body.version} not found`);
      await write(req, res, found.config, ifMatchVersion(req), `rollback to version ${body.version}`);
    }],
    ['GET', '/api/v1/proxies', async (req, res) => {
      authenticate(req);
      const [proxies, live] = await Promise.all([ProxyRegistry.list(deps.client, deps.keys), writer.readCommitted()]);
      const liveVersion = live.version?.version ?? 0;
      // By hash too: a proxy that refused a key written straight into etcd serves the same
      // version number but not what etcd holds.
      // And none is in sync with a config in etcd that does not validate.
      const liveHash = configHash(live.config);
      const valid = live.issues.length === 0;
      sendJson(res, 200, {
        liveVersion,
        liveHash,
        liveErrors: live.issues.map(formatIssue),
        proxies: proxies.map(({ id, status }) => {
          const s = (typeof status === 'object' && status !== null ? status : {}) as { version?: unknown; hash?: unknown };
          return { ...s, id, inSync: valid && s.version === liveVersion && s.hash === liveHash };
        }),
      });
    }],
    ['GET', '/api/v1/openapi.json', async (_req, res) => {
      sendJson(res, 200, openApiDocument());
    }],
    ['GET', '/api/v1/:kind', async (req, res, params) => {
      authenticate(req);
      const kind = kindParam(params);
      const { config, version } = await writer.readCommitted();
      sendJson(res, 200, { [kind]: config[kind] }, version ? { etag: `"${version.version}"` } : {});
    }],
    ['GET', '/api/v1/:kind/:id', async (req, res, params) => {
      authenticate(req);
      const kind = kindParam(params);
      const { config } = await writer.readCommitted();
      const found = (config[kind] as ConfigObject[]).find((o) => o.id === params.id);
      if (!found) throw new HttpError(404, `${kind}/${params.id} not found`);
      sendJson(res, 200, found);
    }],
    ['PUT', '/api/v1/:kind/:id', async (req, res, params) => {
      authenticate(req);
      const kind = kindParam(params);
      const body = await readJson(req);
      const parsed = objectSchemas[kind].safeParse(body);
      if (!parsed.success) {
        const details = schemaIssues(parsed.error).map((i) => ({ path: formatPath(i.path), message: i.message }));
        throw new HttpError(400, 'invalid object', details);
      }
      if (parsed.data.id !== params.id) {
        throw new HttpError(400, 'invalid object', [{ path: 'id', message: `id "${parsed.data.id}" differs from the URL's "${params.id}"` }]);
      }
      await editObject(req, res, kind, params.id!, parsed.data);
    }],
    ['DELETE', '/api/v1/:kind/:id', async (req, res, params) => {
      authenticate(req);
      await editObject(req, res, kindParam(params), params.id!, null);
    }],
  ];

  for (const [method, path, handler] of routes) {
    router.on(method as 'GET', path, (req, res, params) => {
      handler(req, res, params).catch((err) => fail(res, err));
    });
  }

  return (req, res) => {
    const found = router.find(req.method as 'GET', (req.url ?? '/').split('?')[0]!);
    if (!found) {
      fail(res, new HttpError(404, `no endpoint ${req.method} ${req.url}`));
      return;
    }
    found.handler(req, res, found.params, found.store, found.searchParams);
  };
}

function fail(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendError(res, err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error).message}`));
}

export function summarize(changes: ReturnType<typeof diffConfigs>) {
  return changes.map(({ kind, id, op }) => ({ kind, id, op }));
}
