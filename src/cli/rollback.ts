import type { Command } from '@commander-js/extra-typings';
import { routes } from '../api/routes.js';
import { wholeNumber } from './args.js';
import { apiClient, apiOptions, printChanges } from './common.js';

export function register(program: Command): void {
  apiOptions(
    program
      .command('rollback')
      .description('write a NEW version equal to an old one (history is never rewritten)')
      .argument('<version>', 'the version to return to', (v) => wholeNumber('rollback: VERSION', v)),
  ).action(async (n, opts) => {
    const { body } = await apiClient(opts).call(routes.rollback, { body: { version: n } });
    printChanges(body.changes);
    process.stdout.write(body.unchanged ? `unchanged: live config already equals version ${n}\n` : `rolled back to version ${n} as version ${body.version.version}\n`);
  });
}
