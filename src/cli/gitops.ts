import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { wholeNumber } from './args.js';
import { apiClient, apiOptions, CliError } from './common.js';
import { onShutdown } from './shutdown.js';

export function register(program: Command): void {
  apiOptions(
    program
      .command('gitops')
      .description('keep the live config equal to a folder of a git checkout: sync at start, on file changes and on POST /api/v1/gitops/sync')
      .requiredOption('--dir <path>', 'the folder; every *.yaml, *.yml and *.json below it, merged, is the whole config')
      .option('--force', 'overwrite changes made to the live config outside git (without it they are reported as drift and left alone)')
      .option('--once', 'sync once and exit: 0 when the live config equals the folder, 1 otherwise')
      .option('--no-watch', 'ignore file changes: sync at start, on POST /api/v1/gitops/sync and when the live version changes')
      .option('--debounce-ms <ms>', 'quiet time after the last file change before a sync', (v) => wholeNumber('--debounce-ms', v, 0), 300),
  ).action(async (opts) => {
    const dir = resolve(opts.dir);
    if (!(await stat(dir).catch(() => null))?.isDirectory()) throw new CliError(`--dir ${opts.dir}: no such directory`, 2);
    const [{ GitopsAgent }, { summarize }, { createLogger }] = await Promise.all([import('../gitops/agent.js'), import('../gitops/summary.js'), import('./logger.js')]);
    // Its token must be one created for gitops (or an admin's): the control plane refuses source gitops from any other.
    const agent = new GitopsAgent({ dir, api: apiClient(opts, 'gitops'), force: opts.force ?? false, logger: createLogger('gitops') });
    if (opts.once) {
      const report = await agent.syncOnce();
      if (report.state !== 'synced') throw new CliError(summarize(report));
      process.stdout.write(`${summarize(report)}\n`);
      return;
    }
    await agent.start({ watch: opts.watch, debounceMs: opts.debounceMs });
    onShutdown(() => agent.stop());
  });
}
