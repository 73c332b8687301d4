import type { Command } from 'commander';
import { wholeNumber } from './args.js';
import { ApiClient, apiOptions, printChanges, type ChangeSummary } from './common.js';
import { loadOrFail } from './load-or-fail.js';
import { previewChanges } from './preview.js';

interface WriteAnswer {
  version: { version: number };
  unchanged: boolean;
  changes: ChangeSummary[];
}

export function register(program: Command): void {
  apiOptions(
    program
      .command('apply')
      .description('make the live config equal to the documents (objects absent from them are deleted)')
      .requiredOption('-f, --file <paths...>', 'YAML/JSON files or folders')
      .option('--dry-run', 'validate and show the changes; write nothing')
      .option('-m, --message <text>', 'recorded with the new version')
      .option('--expect-version <n>', 'refuse (409) unless the live version is n', (v) => wholeNumber('--expect-version', v, 0)),
  ).action(async (opts: { file: string[]; dryRun?: boolean; message?: string; expectVersion?: number; server?: string; token?: string }) => {
    const config = await loadOrFail(opts.file);
    const api = new ApiClient(opts);
    if (opts.dryRun) {
      const { liveVersion, changes } = await previewChanges(api, config);
      printChanges(changes);
      process.stdout.write(`dry run: ${changes.length} change(s) against version ${liveVersion}; nothing written\n`);
      return;
    }
    const headers: Record<string, string> = {};
    if (opts.message) headers['x-signalbox-message'] = encodeURIComponent(opts.message);
    if (opts.expectVersion !== undefined) headers['if-match'] = `"${opts.expectVersion}"`;
    const { body } = await api.request<WriteAnswer>('PUT', '/config', config, headers);
    printChanges(body.changes);
    process.stdout.write(body.unchanged ? `unchanged: version ${body.version.version}\n` : `applied: version ${body.version.version}\n`);
  });
}
