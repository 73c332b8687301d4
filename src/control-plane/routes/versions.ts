// History: every version still kept, one version whole, and rollback (a NEW version equal to an
// old one; history is never rewritten).
import type { ApiContext, Route } from '../context.js';
import { HttpError, readJson, sendJson } from '../http.js';
import { ifMatchVersion, writeVersion } from '../writes.js';

export function versionRoutes(ctx: ApiContext): Route[] {
  const { writer, authenticate } = ctx;
  return [
    ['GET', '/versions', async (req, res) => {
      await authenticate(req, 'viewer');
      sendJson(res, 200, { versions: await writer.listVersions() });
    }],
    ['GET', '/versions/:n', async (req, res, params) => {
      await authenticate(req, 'viewer');
      const found = await writer.getVersion(Number(params.n));
      if (!found) throw new HttpError(404, `version ${params.n} not found`);
      sendJson(res, 200, found);
    }],
    ['POST', '/rollback', async (req, res) => {
      const principal = await authenticate(req, 'editor');
      const body = (await readJson(req)) as { version?: unknown };
      if (!Number.isInteger(body.version)) throw new HttpError(400, 'body must be {"version": N}', [{ path: 'version', message: 'must be an integer' }]);
      const found = await writer.getVersion(body.version as number);
      if (!found) throw new HttpError(404, `version ${body.version} not found`);
      await writeVersion(ctx, req, res, principal, found.config, { expectVersion: ifMatchVersion(req), message: `rollback to version ${body.version}` });
    }],
  ];
}
