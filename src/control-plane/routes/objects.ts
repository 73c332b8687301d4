// One object at a time: /routes, /upstreams, /policies, /certificates. Each write reads the live
// config, changes one object, validates the whole and writes it as a new version, guarded by the
// version it read (or If-Match), so a concurrent change is never overwritten.
import { objectSchemas, type Config, type ConfigObject, type Kind } from '../../config/schema.js';
import { referrers, type Referrer } from '../../config/references.js';
import { formatPath, schemaIssues, validateDocument } from '../../config/validate.js';
import type { CommittedConfig } from '../../store/config-writer.js';
import type { Principal } from '../auth.js';
import type { ApiContext, ObjectHandlers } from '../context.js';
import { HttpError } from '../http.js';
import { applyMergePatch } from '../merge-patch.js';
import { redactObject, storedKeys } from '../private-keys.js';
import type { WriteHeaders } from '../request-headers.js';
import { requireValid, versionETag, writeVersion } from '../writes.js';

function findObject(config: Config, kind: Kind, id: string): ConfigObject {
  const found = (config[kind] as ConfigObject[]).find((o) => o.id === id);
  if (!found) throw new HttpError(404, `${kind}/${id} not found`);
  return found;
}

/** The object must keep the URL's id. */
function sameId(object: ConfigObject, id: string): ConfigObject {
  if (object.id !== id) throw new HttpError(400, 'invalid object', [{ path: 'id', message: `id "${object.id}" differs from the URL's "${id}"` }]);
  return object;
}

export const objectHandlers = (ctx: ApiContext): ObjectHandlers => {
  const { writer } = ctx;

  /** `live` with object kind/id replaced by `next` (or deleted: null), validated whole, as a new version. */
  async function writeObject(principal: Principal, headers: WriteHeaders, live: CommittedConfig, target: { kind: Kind; id: string; next: ConfigObject | null; verb: string }) {
    const { kind, id, next } = target;
    const objects = (live.config[kind] as ConfigObject[]).filter((o) => o.id !== id);
    if (next) objects.push(next);
    const config = requireValid(validateDocument({ ...live.config, [kind]: objects }, { storedKeys: storedKeys(live.config) }));
    const expectVersion = headers.expectVersion ?? live.version?.version ?? 0;
    return writeVersion(ctx, principal, headers, config, { expectVersion, message: `${target.verb} ${kind}/${id}` });
  }

  return (kind) => ({
    list: async () => {
      const { config, version } = await writer.readCommitted();
      const objects = (config[kind] as ConfigObject[]).map((o) => redactObject(kind, o));
      return { body: { [kind]: objects } as Record<Kind, ConfigObject[]>, headers: versionETag(version) };
    },
    get: async ({ params }) => {
      const { config, version } = await writer.readCommitted();
      return { body: redactObject(kind, findObject(config, kind, params.id!)), headers: versionETag(version) };
    },
    put: async ({ params, body, principal, write }) => {
      const next = sameId(body, params.id!);
      return writeObject(principal, write, await writer.readCommitted(), { kind, id: params.id!, next, verb: 'put' });
    },
    patch: async ({ params, body, principal, write }) => {
      const live = await writer.readCommitted();
      const patched = objectSchemas[kind].safeParse(applyMergePatch(findObject(live.config, kind, params.id!), body));
      if (!patched.success) throw new HttpError(400, 'invalid object', schemaIssues(patched.error).map((i) => ({ path: formatPath(i.path), message: i.message })));
      const next = sameId(patched.data as ConfigObject, params.id!);
      return writeObject(principal, write, live, { kind, id: params.id!, next, verb: 'patch' });
    },
    delete: async ({ params, principal, write }) => {
      const id = params.id!;
      const live = await writer.readCommitted();
      findObject(live.config, kind, id);
      const users = referrers(live.config, kind, id);
      if (users.length > 0) {
        const named = (k: Referrer['kind']) => users.filter((u) => u.kind === k).map((u) => u.id).filter((r, i, all) => all.indexOf(r) === i);
        const groups = (['routes', 'upstreams'] as const)
          .map((k) => ({ noun: k.slice(0, -1), names: named(k) }))
          .filter((g) => g.names.length > 0);
        const count = groups.reduce((n, g) => n + g.names.length, 0);
        throw new HttpError(
          409,
          `${kind}/${id} is used by ${groups.map((g) => `${g.noun}${g.names.length === 1 ? '' : 's'} ${g.names.join(', ')}`).join(' and ')}; change or delete ${count === 1 ? 'it' : 'them'} first`,
          users.map((u) => ({ path: u.path, message: `${u.kind.slice(0, -1)} "${u.id}" uses ${kind}/${id}` })),
        );
      }
      return writeObject(principal, write, live, { kind, id, next: null, verb: 'delete' });
    },
  });
};
