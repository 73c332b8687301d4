// History: every version still kept, one version whole, what changed between two versions, and
// rollback (a NEW version equal to an old one; history is never rewritten).
import { diffConfigs } from '../../config/diff.js';
import type { ApiContext, Route } from '../context.js';
import { HttpError, readJson, sendJson } from '../http.js';
import { redactChange, redactConfig } from '../private-keys.js';
import { ifMatchVersion, writeVersion } from '../writes.js';

export function versionRoutes(ctx: ApiContext): Route[] {
  const { writer, authenticate } = ctx;
  const versionOr404 = async (n: number) => {
    const found = await writer.getVersion(n);
    if (!found) throw new HttpError(404, `version ${n} not found`);
    return found;
  };
  return [
    ['GET', '/versions', async (req, res) => {
      await authenticate(req, 'viewer');
      sendJson(res, 200, { versions: await writer.listVersions() });
    }],
    ['GET', '/versions/:n', async (req, res, params) => {
      await authenticate(req, 'viewer');
      const { version, config } = await versionOr404(Number(params.n));
      sendJson(res, 200, { version, config: redactConfig(config) });
    }],
    ['GET', '/versions/:a/diff/:b', async (req, res, params) => {
      await authenticate(req, 'viewer');
      const [a, b] = await Promise.all([versionOr404(Number(params.a)), versionOr404(Number(params.b))]);
      sendJson(res, 200, { from: a.version, to: b.version, changes: diffConfigs(a.config, b.config).map(redactChange) });
    }],
    ['POST', '/rollback', async (req, res) => {
      const principal = await authenticate(req, 'editor');
      const body = (await readJson(req)) as { version?: unknown };
      if (!Number.isInteger(body.version)) throw new HttpError(400, 'body must be {"version": N}', [{ path: 'version', message: 'must be an integer' }]);
      const found = await versionOr404(body.version as number);
      await writeVersion(ctx, req, res, principal, found.config, { expectVersion: ifMatchVersion(req), message: `rollback to version ${body.version}` });
    }],
  ];
}
