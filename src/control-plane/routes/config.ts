// The whole config: read it, replace it, or check what replacing it would change.
import { diffConfigs } from '../../config/diff.js';
import { validateSources } from '../../config/load.js';
import { configToYaml } from '../../config/yaml.js';
import type { ApiContext, Route } from '../context.js';
import { issueDetails, readText, sendJson, sendText } from '../http.js';
import { ifMatchVersion, requireValid, summarize, writeVersion } from '../writes.js';

export function configRoutes(ctx: ApiContext): Route[] {
  const { writer, authenticate } = ctx;
  return [
    ['GET', '/config', async (req, res) => {
      await authenticate(req, 'viewer');
      const { config, version } = await writer.readCommitted();
      const etag: Record<string, string> = version ? { etag: `"${version.version}"` } : {};
      // The dashboard's editor: a browser has no YAML library of its own.
      if (/\byaml\b/.test(req.headers.accept ?? '')) sendText(res, 200, configToYaml(config), 'application/yaml; charset=utf-8', etag);
      else sendJson(res, 200, config, etag);
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
      const changes = diffConfigs(live.config, result.config);
      const detail = new URL(req.url ?? '/', 'http://control-plane').searchParams.get('detail') === '1';
      sendJson(res, 200, {
        valid: true,
        liveVersion: live.version?.version ?? 0,
        // ?detail=1: each object before and after, for the dashboard's diff preview.
        changes: detail ? changes : summarize(changes),
      });
    }],
  ];
}
