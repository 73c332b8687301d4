import type { Command } from 'commander';
import { wholeNumber } from './args.js';
import { ApiClient, apiOptions, printChanges, type ChangeSummary } from './common.js';

export function register(program: Command): void {
  apiOptions(
    program
      .command('rollback')
      .description('write a NEW version equal to an old one (history is never rewritten)')
      .argument('<version>', 'the version to return to', (v) => wholeNumber('rollback: VERSION', v)),
  ).action(async (n: number, opts: { server?: string; token?: string }) => {
    const { body } = await new ApiClient(opts).request<{ version: { version: number }; unchanged: boolean; changes: ChangeSummary[] }>('POST', '/rollback', { version: n });
    printChanges(body.changes);
    process.stdout.write(body.unchanged ? `unchanged: live config already equals version ${n}\n` : `rolled back to version ${n} as version ${body.version.version}\n`);
  });
}
