// One object at a time: /routes, /upstreams, /policies, /certificates. Each write reads the live
// config, changes one object, validates the whole and writes it as a new version, guarded by the
// version it read (or If-Match), so a concurrent change is never overwritten.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { referrers } from '../../config/references.js';
import { KINDS, objectSchemas, type Config, type ConfigObject, type Kind } from '../../config/schema.js';
import { validateDocument } from '../../config/validate.js';
import type { CommittedConfig } from '../../store/config-writer.js';
import type { Principal } from '../auth.js';
import type { ApiContext, Params, Route } from '../context.js';
import { HttpError, parseBody, readJson, sendJson } from '../http.js';
import { applyMergePatch } from '../merge-patch.js';
import { redactObject, storedKeys } from '../private-keys.js';
import { ifMatchVersion, requireValid, writeVersion } from '../writes.js';

function kindParam(params: Params): Kind {
  const kind = params.kind as Kind;
  if (!KINDS.includes(kind)) throw new HttpError(404, `no such collection "${params.kind}"; known: ${KINDS.join(', ')}`);
  return kind;
}

function findObject(config: Config, kind: Kind, id: string): ConfigObject {
  const found = (config[kind] as ConfigObject[]).find((o) => o.id === id);
  if (!found) throw new HttpError(404, `${kind}/${id} not found`);
  return found;
}

/** What a PUT or PATCH asks for: schema-checked, with the URL's id. */
function parseObject(kind: Kind, id: string, data: unknown): ConfigObject {
  const object = parseBody<ConfigObject>(objectSchemas[kind], data, 'invalid object');
  if (object.id !== id) {
    throw new HttpError(400, 'invalid object', [{ path: 'id', message: `id "${object.id}" differs from the URL's "${id}"` }]);
  }
  return object;
}

export function objectRoutes(ctx: ApiContext): Route[] {
  const { writer, authenticate } = ctx;

  /** `live` with object kind/id replaced by `next` (or deleted: null), validated whole, as a new version. */
  async function writeObject(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    live: CommittedConfig,
    target: { kind: Kind; id: string; next: ConfigObject | null; verb: string },
  ): Promise<void> {
    const { kind, id, next } = target;
    const objects = (live.config[kind] as ConfigObject[]).filter((o) => o.id !== id);
    if (next) objects.push(next);
    const config = requireValid(validateDocument({ ...live.config, [kind]: objects }, { storedKeys: storedKeys(live.config) }));
    const expectVersion = ifMatchVersion(req) ?? live.version?.version ?? 0;
    await writeVersion(ctx, req, res, principal, config, { expectVersion, message: `${target.verb} ${kind}/${id}` });
  }

  return [
    ['GET', '/:kind', async (req, res, params) => {
      await authenticate(req, 'viewer');
      const kind = kindParam(params);
      const { config, version } = await writer.readCommitted();
      const objects = (config[kind] as ConfigObject[]).map((o) => redactObject(kind, o));
      sendJson(res, 200, { [kind]: objects }, version ? { etag: `"${version.version}"` } : {});
    }],
    ['GET', '/:kind/:id', async (req, res, params) => {
      await authenticate(req, 'viewer');
      const kind = kindParam(params);
      const { config, version } = await writer.readCommitted();
      sendJson(res, 200, redactObject(kind, findObject(config, kind, params.id!)), version ? { etag: `"${version.version}"` } : {});
    }],
    ['PUT', '/:kind/:id', async (req, res, params) => {
      const principal = await authenticate(req, 'editor');
      const kind = kindParam(params);
      const next = parseObject(kind, params.id!, await readJson(req));
      await writeObject(req, res, principal, await writer.readCommitted(), { kind, id: params.id!, next, verb: 'put' });
    }],
    ['PATCH', '/:kind/:id', async (req, res, params) => {
      const principal = await authenticate(req, 'editor');
      const kind = kindParam(params);
      const patch = await readJson(req);
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
        throw new HttpError(400, 'the body must be a JSON merge patch (RFC 7396): an object of the fields to change, null to remove one');
      }
      const live = await writer.readCommitted();
      const next = parseObject(kind, params.id!, applyMergePatch(findObject(live.config, kind, params.id!), patch));
      await writeObject(req, res, principal, live, { kind, id: params.id!, next, verb: 'patch' });
    }],
    ['DELETE', '/:kind/:id', async (req, res, params) => {
      const principal = await authenticate(req, 'editor');
      const kind = kindParam(params);
      const id = params.id!;
      const live = await writer.readCommitted();
      findObject(live.config, kind, id);
      const users = referrers(live.config, kind, id);
      if (users.length > 0) {
        const names = users.map((u) => u.route).filter((r, i, all) => all.indexOf(r) === i);
        throw new HttpError(
          409,
          `${kind}/${id} is used by route${names.length === 1 ? '' : 's'} ${names.join(', ')}; change or delete ${names.length === 1 ? 'it' : 'them'} first`,
          users.map((u) => ({ path: u.path, message: `route "${u.route}" uses ${kind}/${id}` })),
        );
      }
      await writeObject(req, res, principal, live, { kind, id, next: null, verb: 'delete' });
    }],
  ];
}
