import { join } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { port } from './args.js';
import { CliError, env } from './common.js';
import { onShutdown } from './shutdown.js';

export function register(program: Command): void {
  program
    .command('dev')
    .description('managed local etcd, control plane, one proxy (a child process), an echo upstream and the demo config')
    .option('--dir <dir>', 'state folder (etcd data, token, logs)', '.signalbox')
    .option('--proxy-port <port>', 'proxy HTTP port', port, 8080)
    .option('--api-port <port>', 'control plane port', port, 9000)
    .option('--admin-port <port>', 'proxy admin port', port, 9901)
    .option('--echo-port <port>', 'echo upstream port (the demo config is pointed here)', port, 9100)
    .option('--etcd-port <port>', 'etcd client port (peer port is the next one)', port, 2379)
    .action(async (opts) => {
      const [{ runDev }, { createLogger }] = await Promise.all([import('../dev/dev.js'), import('./logger.js')]);
      const logFile = join(opts.dir, 'signalbox.log');
      try {
        const dev = await runDev({ ...opts, prefix: env.prefix(), logFile, logger: createLogger('dev', logFile) });
        onShutdown(() => dev.close());
      } catch (err) {
        // Everything up to here is a start-up problem the user fixes (a port, etcd missing, a
        // broken data dir): one line, not a stack.
        throw new CliError(`dev: ${(err as Error).message}`);
      }
    });
}
