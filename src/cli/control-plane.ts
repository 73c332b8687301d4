import { readFileSync } from 'node:fs';
import type { Command } from '@commander-js/extra-typings';
import { parseHostPort } from '../net.js';
import { CliError, etcdOptions, etcdTarget } from './common.js';
import { onShutdown } from './shutdown.js';

export function register(program: Command): void {
  etcdOptions(program.command('control-plane').description('the REST API that validates changes and writes versions to etcd'))
    .requiredOption('--listen <host:port>', 'where the API listens')
    .option('--admin-token-file <file>', 'file holding the bearer token')
    .option('--insecure', 'run without a token (anyone who reaches the port can change the config)')
    .action(async (opts) => {
      const target = etcdTarget(opts);
      let token: string | null = null;
      if (opts.adminTokenFile) {
        token = readFileSync(opts.adminTokenFile, 'utf8').trim();
        if (!token) throw new CliError(`${opts.adminTokenFile} is empty`, 2);
      } else if (!opts.insecure) {
        throw new CliError('control-plane: no --admin-token-file; refusing to start without auth (add --insecure to run open)', 2);
      }
      const [{ startControlPlane }, { createLogger }] = await Promise.all([import('../control-plane/server.js'), import('./logger.js')]);
      const cp = await startControlPlane({
        etcd: target.endpoints,
        etcdAccess: target.access,
        prefix: opts.prefix,
        listen: parseHostPort(opts.listen, '--listen'),
        token,
        logger: createLogger('control-plane'),
      }).catch((err: Error) => {
        // A start-up problem the user fixes (the port in use): one line, not a stack trace.
        throw new CliError(`control-plane: ${err.message}`);
      });
      onShutdown(() => cp.close());
    });
}
