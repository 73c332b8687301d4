import type { Command } from 'commander';
import { ApiClient, apiOptions, printChanges, type ChangeSummary } from './common.js';
import { loadOrFail } from './load-or-fail.js';

export function register(program: Command): void {
  apiOptions(
    program
      .command('diff')
      .description('show what apply would change, per object')
      .requiredOption('-f, --file <paths...>', 'YAML/JSON files or folders')
      .option('--exit-code', 'exit 1 when there are changes'),
  ).action(async (opts: { file: string[]; exitCode?: boolean; server?: string; token?: string }) => {
    const config = await loadOrFail(opts.file);
    const { body } = await new ApiClient(opts).request<{ liveVersion: number; changes: ChangeSummary[] }>('POST', '/config/validate', config);
    printChanges(body.changes);
    if (body.changes.length === 0) process.stdout.write(`no changes against version ${body.liveVersion}\n`);
    if (opts.exitCode && body.changes.length > 0) process.exitCode = 1;
  });
}
