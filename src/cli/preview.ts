import { formatDetails, type ApiClient } from '../api/client.js';
import { routes } from '../api/routes.js';
import type { ChangeSummary } from '../api/schemas.js';
import type { Config } from '../config/schema.js';
import { CliError } from './common.js';

/**
 * What applying `config` would change, as the control plane sees it. Its check can fail where the
 * offline one passed: only it knows which certificate keys it stores for documents that leave a
 * key out.
 */
export async function previewChanges(api: ApiClient, config: Config): Promise<{ liveVersion: number; changes: ChangeSummary[] }> {
  const { body } = await api.call(routes.validateConfig, { body: config });
  if (!body.valid) throw new CliError(`the control plane refuses the config; nothing written:${formatDetails(body.errors)}`);
  return body;
}
