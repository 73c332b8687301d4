import type { Command } from '@commander-js/extra-typings';
import { apiClient, apiOptions, CliError, printChanges, userFailure } from './common.js';

export function register(program: Command): void {
  apiOptions(
    program
      .command('diff')
      .description('show what apply would change, per object')
      .requiredOption('-f, --file <paths...>', 'YAML/JSON files or folders')
      .option('--exit-code', 'exit 1 when there are changes, 0 when there are none, 2 when the diff cannot be made'),
  ).action(async (opts) => {
    try {
      const [{ loadOrFail }, { previewChanges }] = await Promise.all([import('./load-or-fail.js'), import('./preview.js')]);
      const config = await loadOrFail(opts.file);
      const { liveVersion, changes } = await previewChanges(apiClient(opts), config);
      printChanges(changes);
      if (changes.length === 0) process.stdout.write(`no changes against version ${liveVersion}\n`);
      if (opts.exitCode && changes.length > 0) process.exitCode = 1;
    } catch (err) {
      // With --exit-code, 1 means "there are changes": a diff that could not be made must not
      // look like one to a CI script (kubectl diff does the same).
      const failure = userFailure(err);
      if (opts.exitCode && failure) throw new CliError(failure.message, 2);
      throw err;
    }
  });
}
