// One object at a time: /routes, /upstreams, /policies, /certificates. Each write changes one
// object of the live config, checks it, and writes it as a new version, guarded by the version it
// read (or If-Match), so a concurrent change is never overwritten. Against a live config that
// validates, only the object and what it can affect are checked (validate-change.ts), with the
// issues a whole validation would give; against one that does not (keys written by hand), the
// whole changed config is validated and written, as the whole-config endpoint does.
import { objectSchemas, type Certificate, type ConfigObject, type Consumer, type Kind, type Policy } from '../../config/schema.js';
import { referrers, type Referrer } from '../../config/references.js';
import { validateChange } from '../../config/validate-change.js';
import { formatPath, schemaIssues, validateDocument } from '../../config/validate.js';
import type { LiveSnapshot } from '../../store/config-writer.js';
import type { LiveView } from '../../store/live-view.js';
import type { Principal } from '../auth.js';
import type { ApiContext, ObjectHandlers } from '../context.js';
import { HttpError, issueDetails } from '../http.js';
import { applyMergePatch } from '../merge-patch.js';
import { redactObject, storedKeys, storedPasswords, storedSecrets } from '../private-keys.js';
import type { WriteHeaders } from '../request-headers.js';
import { requireValid, versionETag, writeAnswer, writeMeta } from '../writes.js';

function findObject(view: LiveView, kind: Kind, id: string): ConfigObject {
  const found = view.objects.find(kind, id);
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

  /** `base` with object kind/id replaced by `next` (or deleted: null), checked, as a new version. */
  async function writeObject(principal: Principal, headers: WriteHeaders, base: LiveSnapshot, target: { kind: Kind; id: string; next: ConfigObject | null; verb: string }) {
    const { kind, id, next } = target;
    const { view } = base;
    const meta = writeMeta(principal, headers, { expectVersion: headers.expectVersion ?? view.state.version?.version ?? 0, message: `${target.verb} ${kind}/${id}` });
    const opts = {
      storedKeys: storedKeys(view.objects.objects('certificates') as Certificate[]),
      storedPassword: storedPasswords(view.objects.objects('consumers') as Consumer[]),
      storedSecrets: storedSecrets(view.objects.objects('policies') as Policy[]),
    };
    if (view.valid) {
      const checked = validateChange(view.objects, kind, id, next, opts);
      if (!checked.ok) throw new HttpError(400, 'invalid config', issueDetails(checked.issues));
      return writeAnswer(await writer.writeObject(base, { kind, id, object: checked.object }, meta));
    }
    const live = view.objects.config();
    const objects = (live[kind] as ConfigObject[]).filter((o) => o.id !== id);
    if (next) objects.push(next);
    const config = requireValid(validateDocument({ ...live, [kind]: objects }, opts));
    return writeAnswer(await writer.write(config, meta));
  }

  return (kind) => ({
    list: async () => {
      const { view } = await writer.snapshot();
      const objects = view.objects.objects(kind).map((o) => redactObject(kind, o));
      return { body: { [kind]: objects } as Record<Kind, ConfigObject[]>, headers: versionETag(view.state.version) };
    },
    get: async ({ params }) => {
      const { view } = await writer.snapshot();
      return { body: redactObject(kind, findObject(view, kind, params.id!)), headers: versionETag(view.state.version) };
    },
    put: async ({ params, body, principal, write }) => {
      const next = sameId(body, params.id!);
      return writeObject(principal, write, await writer.writeBase(), { kind, id: params.id!, next, verb: 'put' });
    },
    patch: async ({ params, body, principal, write }) => {
      const base = await writer.writeBase();
      const patched = objectSchemas[kind].safeParse(applyMergePatch(findObject(base.view, kind, params.id!), body));
      if (!patched.success) throw new HttpError(400, 'invalid object', schemaIssues(patched.error).map((i) => ({ path: formatPath(i.path), message: i.message })));
      const next = sameId(patched.data as ConfigObject, params.id!);
      return writeObject(principal, write, base, { kind, id: params.id!, next, verb: 'patch' });
    },
    delete: async ({ params, principal, write }) => {
      const id = params.id!;
      const base = await writer.writeBase();
      findObject(base.view, kind, id);
      const users = referrers(base.view.objects.config(), kind, id);
      if (users.length > 0) {
        const named = (k: Referrer['kind']) => users.filter((u) => u.kind === k).map((u) => u.id).filter((r, i, all) => all.indexOf(r) === i);
        const groups = (['routes', 'upstreams'] as const)
          .map((k) => ({ noun: k.slice(0, -1), names: named(k) }))
          .filter((g) => g.names.length > 0);
        const global = users.some((u) => u.kind === 'settings');
        const count = groups.reduce((n, g) => n + g.names.length, global ? 1 : 0);
        const phrases = [...(global ? ['globalPolicies'] : []), ...groups.map((g) => `${g.noun}${g.names.length === 1 ? '' : 's'} ${g.names.join(', ')}`)];
        throw new HttpError(
          409,
          `${kind}/${id} is used by ${phrases.join(' and ')}; change or delete ${count === 1 ? 'it' : 'them'} first`,
          users.map((u) => ({ path: u.path, message: u.kind === 'settings' ? `globalPolicies uses ${kind}/${id}` : `${u.kind.slice(0, -1)} "${u.id}" uses ${kind}/${id}` })),
        );
      }
      return writeObject(principal, write, base, { kind, id, next: null, verb: 'delete' });
    },
  });
};
