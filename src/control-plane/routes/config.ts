// The whole config: read it, replace it, or check what replacing it would change.
import { diffConfigs } from '../../config/diff.js';
import { validateSources } from '../../config/load.js';
import type { ApiContext, Route } from '../context.js';
import { issueDetails, readText, sendJson } from '../http.js';
import { ifMatchVersion, requireValid, summarize, writeVersion } from '../writes.js';

export function configRoutes(ctx: ApiContext): Route[] {
  const { writer, authenticate } = ctx;
  return [
    ['GET', '/config', async (req, res) => {
      await authenticate(req, 'viewer');
      const { config, version } = await writer.readCommitted();
      sendJson(res, 200, config, version ? { etag: `"${version.version}"` } : {});
    }],
    ['PUT', '/config', async (req, res) => {
      const principal = await authenticate(req, 'editor');
      const config = requireValid(validateSources([{ file: 'request body', text: await readText(req) }]));
      await writeVersion(ctx, req, res, principal, config, { expectVersion: ifMatchVersion(req), message: 'apply config' });
    }],
    ['POST', '/config/validate', async (req, res) => {
      await authenticate(req, 'viewer');
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
  ];
}
