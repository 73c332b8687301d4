import { writeFile } from 'node:fs/promises';
import type { Command } from '@commander-js/extra-typings';
import { routes } from '../api/routes.js';
import { apiClient, apiOptions, CliError } from './common.js';
import { outputOption } from './output.js';

export function register(program: Command): void {
  apiOptions(
    program
      .command('export')
      .description('the live config as a document that `apply -f` takes back unchanged (certificate keys stay in the control plane)')
      .addOption(outputOption(['yaml', 'json']).default('yaml'))
      .option('--file <file>', 'write it to this file instead of stdout'),
  ).action(async (opts) => {
    // The control plane answers every certificate with keySha256 and notAfter instead of its key.
    // Both are read-only fields that a write ignores, and a certificate written without key keeps
    // the key stored for its id: so this document applies back as it is, without any key in it.
    const [{ configToYaml }, { formatDocument }] = await Promise.all([import('../config/yaml.js'), import('./document.js')]);
    const { body } = await apiClient(opts).call(routes.getConfig);
    // YAML the way people write it (flow lists for plain values), as they will keep it in git.
    const text = opts.output === 'json' ? formatDocument('json', body) : configToYaml(body);
    if (!opts.file) {
      process.stdout.write(text);
      return;
    }
    try {
      await writeFile(opts.file, text);
    } catch (err) {
      throw new CliError(`export: cannot write ${opts.file}: ${(err as Error).message}`);
    }
    process.stderr.write(`exported to ${opts.file}\n`);
  });
}
