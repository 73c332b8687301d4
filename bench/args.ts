// A bench's command-line options (node:util parseArgs). `--help` prints the bench's opening
// comment, where its usage is written once, and a mistyped option is named without a stack trace.
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export function benchArgs<const C extends ParseArgsConfig>(config: C): ReturnType<typeof parseArgs<C>>['values'] {
  const args = config.args ?? process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    const source = readFileSync(process.argv[1]!, 'utf8').split('\n');
    const header = source.slice(0, source.findIndex((line) => !line.startsWith('//')));
    console.log(header.map((line) => line.replace(/^\/\/ ?/, '')).join('\n'));
    process.exit(0);
  }
  try {
    return parseArgs(config).values;
  } catch (err) {
    console.error(`${(err as Error).message} (--help says what it takes)`);
    process.exit(2);
  }
}
