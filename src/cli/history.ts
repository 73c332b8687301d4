import type { Command } from '@commander-js/extra-typings';
import type { ApiClient } from '../api/client.js';
import { routes } from '../api/routes.js';
import { wholeNumber } from './args.js';
import { apiClient, apiOptions, CliError, printChanges } from './common.js';
import { FORMATS, outputOption, printDocument, printTable, type Format } from './output.js';
import { versionColumns } from './tables.js';

/** Per object, what changed from version a to version b (either may be the older). */
async function showDiff(api: ApiClient, versions: string[], format: Format): Promise<void> {
  if (versions.length !== 2) throw new CliError(`history --diff takes two versions, A and B; got ${versions.length}`, 2);
  const [a, b] = versions.map((v) => wholeNumber('history --diff: a version', v)) as [number, number];
  const { body } = await api.call(routes.diffVersions, { params: { a, b } });
  if (format !== 'table') {
    await printDocument(format, body);
    return;
  }
  printChanges(body.changes);
  process.stdout.write(`${body.changes.length} change(s) from version ${a} to version ${b}\n`);
}

export function register(program: Command): void {
  apiOptions(
    program
      .command('history')
      .description('every version kept, newest first: when, from where, by whom, why; --diff A B: what changed between two')
      .addOption(outputOption(FORMATS).default('table'))
      .option('--limit <n>', 'only the newest n versions', (v) => wholeNumber('--limit', v))
      .option('--diff <versions...>', 'A B: the objects added (+), removed (-) and changed (~) from version A to version B'),
  ).action(async (opts) => {
    const api = apiClient(opts);
    if (opts.diff) {
      await showDiff(api, opts.diff, opts.output);
      return;
    }
    const { body } = await api.call(routes.listVersions);
    const versions = body.versions.slice(0, opts.limit);
    if (opts.output === 'table') printTable(versionColumns, versions);
    else await printDocument(opts.output, { versions });
  });
}
