import type { Command } from 'commander';
import { ApiClient, CliError, apiOptions, printChanges, type ChangeSummary } from './common.js';

export function register(program: Command): void {
  apiOptions(
    program
      .command('rollback')
      .description('write a NEW version equal to an old one (history is never rewritten)')
      .argument('<version>', 'the version to return to'),
  ).action(async (version: string, opts: { server?: string; token?: string }) => {
    const n = Number(version);
    if (!Number.isInteger(n) || n < 1) throw new CliError(`rollback: VERSION must be a positive integer, got "${version}"`, 2);
    const { body } = await new ApiClient(opts).request<{ version: { version: number }; unchanged: boolean; changes: ChangeSummary[] }>('POST', '/rollback', { version: n });
    printChanges(body.changes);
    process.stdout.write(body.unchanged ? `unchanged: live config already equals version ${n}\n` : `rolled back to version ${n} as version ${body.version.version}\n`);
  });
}
