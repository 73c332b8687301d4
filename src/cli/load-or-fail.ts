import type { Config } from '../config/schema.js';
import { loadConfigFiles } from '../config/load.js';
import { formatIssue } from '../config/validate.js';
import { CliError } from './common.js';

/**
 * Load -f paths; an invalid document stops the command before anything is sent. A certificate
 * without key is left for the control plane, which keeps the key it stores for that id.
 */
export async function loadOrFail(paths: string[]): Promise<Config> {
  const result = await loadConfigFiles(paths, { storedKeys: 'control-plane' });
  if (!result.ok) throw new CliError(`invalid config, nothing sent:\n${result.issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
  return result.config;
}
