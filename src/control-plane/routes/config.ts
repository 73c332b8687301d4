// The whole config: read it, replace it, or check what replacing it would change.
import { diffConfigs } from '../../config/diff.js';
import type { Kind } from '../../config/schema.js';
import { validateSources } from '../../config/load.js';
import { configToYaml } from '../../config/yaml.js';
import type { ApiContext, Handlers } from '../context.js';
import { issueDetails } from '../http.js';
import { redactChange, redactConfig, storedKeys, storedPasswords, storedSecrets } from '../private-keys.js';
import { requireValid, summarize, versionETag, writeVersion } from '../writes.js';

export function configHandlers(ctx: ApiContext): Pick<Handlers, 'getConfig' | 'putConfig' | 'validateConfig'> {
  const { writer } = ctx;
  const validate = async (raw: Buffer) => {
    const snapshot = await writer.snapshot();
    const { view } = snapshot;
    const live = view.objects.config();
    // Objects equal to live ones were valid on their own when they were written: not checked again.
    const known = (kind: Kind, object: unknown) => view.objects.same(kind, object);
    const stored = { storedKeys: storedKeys(live.certificates), storedPassword: storedPasswords(live.consumers), storedSecrets: storedSecrets(live.policies) };
    return { snapshot, view, live, result: validateSources([{ file: 'request body', text: raw.toString('utf8') }], { ...stored, known }) };
  };
  return {
    getConfig: async ({ accept }) => {
      const { view } = await writer.snapshot();
      const config = redactConfig(view.objects.config());
      const headers = versionETag(view.state.version);
      // The dashboard's editor: a browser has no YAML library of its own.
      if (/\byaml\b/.test(accept ?? '')) return { text: configToYaml(config), contentType: 'application/yaml; charset=utf-8', headers };
      return { body: config, headers };
    },
    putConfig: async ({ raw, principal, write }) => {
      const { snapshot, result } = await validate(raw);
      return writeVersion(ctx, principal, write, requireValid(result), { expectVersion: write.expectVersion, message: 'apply config', checkedOn: snapshot });
    },
    validateConfig: async ({ raw, query }) => {
      const { view, live, result } = await validate(raw);
      if (!result.ok) return { body: { valid: false, errors: issueDetails(result.issues) } };
      const changes = diffConfigs(live, result.config).map(redactChange);
      return {
        body: {
          valid: true,
          liveVersion: view.state.version?.version ?? 0,
          // ?detail=1: each object before and after, for the dashboard's diff preview.
          changes: query.detail === '1' ? changes : summarize(changes),
        },
      };
    },
  };
}
