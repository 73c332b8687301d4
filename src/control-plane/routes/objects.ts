// One object at a time: /routes, /upstreams, /policies, /certificates. Each write reads the live
// config, changes one object, validates the whole and writes it as a new version.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KINDS, objectSchemas, type ConfigObject, type Kind } from '../../config/schema.js';
import { formatPath, schemaIssues, validateDocument } from '../../config/validate.js';
import type { ApiContext, Params, Route } from '../context.js';
import { HttpError, readJson, sendJson } from '../http.js';
import { ifMatchVersion, requireValid, writeVersion } from '../writes.js';

function kindParam(params: Params): Kind {
  const kind = params.kind as Kind;
  if (!KINDS.includes(kind)) throw new HttpError(404, `no such collection "${params.kind}"; known: ${KINDS.join(', ')}`);
  return kind;
}

export function objectRoutes(ctx: ApiContext): Route[] {
  const { writer, authenticate } = ctx;

  async function editObject(req: IncomingMessage, res: ServerResponse, kind: Kind, id: string, next: ConfigObject | null) {
    const principal = await authenticate(req, 'editor');
    const { config, version } = await writer.readCommitted();
    const expectVersion = ifMatchVersion(req) ?? version?.version ?? 0;
    const objects = config[kind].filter((o) => o.id !== id) as ConfigObject[];
    if (!next && objects.length === config[kind].length) throw new HttpError(404, `${kind}/${id} not found`);
    if (next) objects.push(next);
    const valid = requireValid(validateDocument({ ...config, [kind]: objects }));
    await writeVersion(ctx, req, res, principal, valid, { expectVersion, message: `${next ? 'put' : 'delete'} ${kind}/${id}` });
  }

  return [
    ['GET', '/:kind', async (req, res, params) => {
      await authenticate(req, 'viewer');
      const kind = kindParam(params);
      const { config, version } = await writer.readCommitted();
      sendJson(res, 200, { [kind]: config[kind] }, version ? { etag: `"${version.version}"` } : {});
    }],
    ['GET', '/:kind/:id', async (req, res, params) => {
      await authenticate(req, 'viewer');
      const kind = kindParam(params);
      const { config } = await writer.readCommitted();
      const found = (config[kind] as ConfigObject[]).find((o) => o.id === params.id);
      if (!found) throw new HttpError(404, `${kind}/${params.id} not found`);
      sendJson(res, 200, found);
    }],
    ['PUT', '/:kind/:id', async (req, res, params) => {
      await authenticate(req, 'editor');
      const kind = kindParam(params);
      const parsed = objectSchemas[kind].safeParse(await readJson(req));
      if (!parsed.success) {
        const details = schemaIssues(parsed.error).map((i) => ({ path: formatPath(i.path), message: i.message }));
        throw new HttpError(400, 'invalid object', details);
      }
      if (parsed.data.id !== params.id) {
        throw new HttpError(400, 'invalid object', [{ path: 'id', message: `id "${parsed.data.id}" differs from the URL's "${params.id}"` }]);
      }
      await editObject(req, res, kind, params.id!, parsed.data);
    }],
    ['DELETE', '/:kind/:id', async (req, res, params) => {
      await editObject(req, res, kindParam(params), params.id!, null);
    }],
  ];
}
