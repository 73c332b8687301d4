import type { Command } from '@commander-js/extra-typings';
import { routes } from '../api/routes.js';
import { wholeNumber } from './args.js';
import { apiClient, apiOptions, printChanges } from './common.js';

export function register(program: Command): void {
  apiOptions(
    program
      .command('apply')
      .description('make the live config equal to the documents (objects absent from them are deleted)')
      .requiredOption('-f, --file <paths...>', 'YAML/JSON files or folders')
      .option('--dry-run', 'validate and show the changes; write nothing')
      .option('-m, --message <text>', 'recorded with the new version')
      .option('--expect-version <n>', 'refuse (409) unless the live version is n', (v) => wholeNumber('--expect-version', v, 0)),
  ).action(async (opts) => {
    const { loadOrFail } = await import('./load-or-fail.js');
    const config = await loadOrFail(opts.file);
    const api = apiClient(opts);
    if (opts.dryRun) {
      const { previewChanges } = await import('./preview.js');
      const { liveVersion, changes } = await previewChanges(api, config);
      printChanges(changes);
      process.stdout.write(`dry run: ${changes.length} change(s) against version ${liveVersion}; nothing written\n`);
      return;
    }
    const { body } = await api.call(routes.putConfig, { body: config, message: opts.message, expectVersion: opts.expectVersion });
    printChanges(body.changes);
    process.stdout.write(body.unchanged ? `unchanged: version ${body.version.version}\n` : `applied: version ${body.version.version}\n`);
  });
}
