// The whole config: read it, replace it, or check what replacing it would change.
import { diffConfigs } from '../../config/diff.js';
import { validateSources } from '../../config/load.js';
import { configToYaml } from '../../config/yaml.js';
import type { ApiContext, Route } from '../context.js';
import { issueDetails, queryOf, readText, sendJson, sendText } from '../http.js';
import { redactChange, redactConfig, storedKeys } from '../private-keys.js';
import { ifMatchVersion, requireValid, summarize, writeVersion } from '../writes.js';

export function configRoutes(ctx: ApiContext): Route[] {
  const { writer, authenticate } = ctx;
  return [
    ['GET', '/config', async (req, res) => {
      await authenticate(req, 'viewer');
      const { config: live, version } = await writer.readCommitted();
      const config = redactConfig(live);
      const etag: Record<string, string> = version ? { etag: `"${version.version}"` } : {};
      // The dashboard's editor: a browser has no YAML library of its own.
      if (/\byaml\b/.test(req.headers.accept ?? '')) sendText(res, 200, configToYaml(config), 'application/yaml; charset=utf-8', etag);
      else sendJson(res, 200, config, etag);
    }],
    ['PUT', '/config', async (req, res) => {
      const principal = await authenticate(req, 'editor');
      const text = await readText(req);
      const live = await writer.readCommitted();
      const config = requireValid(validateSources([{ file: 'request body', text }], { storedKeys: storedKeys(live.config) }));
      await writeVersion(ctx, req, res, principal, config, { expectVersion: ifMatchVersion(req), message: 'apply config' });
    }],
    ['POST', '/config/validate', async (req, res) => {
      await authenticate(req, 'viewer');
      const text = await readText(req);
      const live = await writer.readCommitted();
      const result = validateSources([{ file: 'request body', text }], { storedKeys: storedKeys(live.config) });
      if (!result.ok) {
        sendJson(res, 200, { valid: false, errors: issueDetails(result.issues) });
        return;
      }
      const changes = diffConfigs(live.config, result.config).map(redactChange);
      const detail = queryOf(req).get('detail') === '1';
      sendJson(res, 200, {
        valid: true,
        liveVersion: live.version?.version ?? 0,
        // ?detail=1: each object before and after, for the dashboard's diff preview.
        changes: detail ? changes : summarize(changes),
      });
    }],
  ];
}
