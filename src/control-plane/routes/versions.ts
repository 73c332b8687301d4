// History: every version still kept, one version whole, what changed between two versions, and
// rollback (a NEW version equal to an old one; history is never rewritten).
import { diffConfigs } from '../../config/diff.js';
import type { ApiContext, Handlers } from '../context.js';
import { HttpError } from '../http.js';
import { redactChange, redactConfig } from '../private-keys.js';
import { writeVersion } from '../writes.js';

export function versionHandlers(ctx: ApiContext): Pick<Handlers, 'listVersions' | 'getVersion' | 'diffVersions' | 'rollback'> {
  const { writer } = ctx;
  const versionOr404 = async (n: number) => {
    const found = await writer.getVersion(n);
    if (!found) throw new HttpError(404, `version ${n} not found`);
    return found;
  };
  return {
    listVersions: async () => ({ body: { versions: await writer.listVersions() } }),
    getVersion: async ({ params }) => {
      const { version, config } = await versionOr404(Number(params.n));
      return { body: { version, config: redactConfig(config) } };
    },
    diffVersions: async ({ params }) => {
      const [a, b] = await Promise.all([versionOr404(Number(params.a)), versionOr404(Number(params.b))]);
      return { body: { from: a.version, to: b.version, changes: diffConfigs(a.config, b.config).map(redactChange) } };
    },
    rollback: async ({ body, principal, write }) => {
      const found = await versionOr404(body.version);
      return writeVersion(ctx, principal, write, found.config, { expectVersion: write.expectVersion, message: `rollback to version ${body.version}` });
    },
  };
}
