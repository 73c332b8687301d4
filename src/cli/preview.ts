import type { Config } from '../config/schema.js';
import { CliError, formatDetails, type ApiClient, type ChangeSummary, type ErrorDetail } from './common.js';

type Preview = { valid: true; liveVersion: number; changes: ChangeSummary[] } | { valid: false; errors: ErrorDetail[] };

/**
 * What applying `config` would change, as the control plane sees it. Its check can fail where the
 * offline one passed: only it knows which certificate keys it stores for documents that leave a
 * key out.
 */
export async function previewChanges(api: ApiClient, config: Config): Promise<{ liveVersion: number; changes: ChangeSummary[] }> {
  const { body } = await api.request<Preview>('POST', '/config/validate', config);
  if (!body.valid) throw new CliError(`the control plane refuses the config; nothing written:${formatDetails(body.errors)}`);
  return body;
}
