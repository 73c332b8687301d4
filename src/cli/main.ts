// The `signalbox` command. Exit codes: 0 ok, 1 failed or invalid, 2 usage.
import { Command, CommanderError } from '@commander-js/extra-typings';
import { userFailure } from './common.js';
import * as apply from './apply.js';
import * as controlPlane from './control-plane.js';
import * as dev from './dev.js';
import * as diff from './diff.js';
import * as exportConfig from './export.js';
import * as get from './get.js';
import * as gitops from './gitops.js';
import * as history from './history.js';
import * as proxy from './proxy.js';
import * as rollback from './rollback.js';
import * as status from './status.js';
import * as token from './token.js';
import * as validate from './validate.js';

const program = new Command('signalbox')
  .description('Reverse proxy / API gateway configured in etcd, hot-swapped without restarts')
  .exitOverride()
  .showHelpAfterError();

// Each command's module only declares its flags and help; its action loads what it uses when it
// runs (zod and the config schemas, YAML, the control plane, the proxy). So `--help` and every
// command start with commander and these declarations alone (test/e2e/cli-startup.test.ts).
for (const cmd of [dev, controlPlane, proxy, validate, apply, diff, get, history, exportConfig, rollback, status, token, gitops]) cmd.register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const failure = userFailure(err);
  if (!failure) throw err;
  process.stderr.write(`signalbox: ${failure.message}\n`);
  process.exit(failure.exitCode);
}
