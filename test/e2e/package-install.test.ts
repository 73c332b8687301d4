// What `npm pack` makes installs the way an operator installs it, `npm install -g ./signalbox-*.tgz`
// (here into a temporary prefix), and runs from there: built JavaScript inside, nothing built at
// install, no development dependency, the dashboard and the demo config where the code finds them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../src/util/ports.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { spawnProcess } from '../helpers/launch.js';
import { waitForProcess } from '../helpers/processes.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

test('npm pack → npm install -g gives a working signalbox without development dependencies', { timeout: 240_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-pack-'));
  atFileEnd(() => rm(dir, { recursive: true, force: true }));
  // dist/ is what `npm test` just built; --ignore-scripts keeps pack from building it again.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT });
  const tgz = join(dir, stdout.trim().split('\n').at(-1)!);
  const prefix = join(dir, 'prefix');
  // From the npm cache that `npm ci` filled; the registry only for what it lacks.
  await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-fund', '--no-audit', tgz], { timeout: 180_000 });

  const pkg = join(prefix, 'lib', 'node_modules', 'signalbox');
  const installed = new Set(await readdir(join(pkg, 'node_modules')));
  for (const dev of ['typescript', 'eslint', 'typescript-eslint', 'playwright-core', 'ws']) assert.ok(!installed.has(dev), `${dev} is not installed`);
  for (const runtime of ['etcd3', 'undici', 'zod']) assert.ok(installed.has(runtime), `${runtime} is installed`);
  assert.ok(!existsSync(join(pkg, 'src')) && !existsSync(join(pkg, 'dist', 'test')), 'no TypeScript sources or tests inside');

  const signalbox = join(prefix, 'bin', 'signalbox');
  const help = await run(signalbox, ['--help']);
  assert.match(help.stdout, /Usage: signalbox/);
  const valid = await run(signalbox, ['validate', join(pkg, 'examples', 'demo.yaml')]);
  assert.match(valid.stdout, /^valid: /);

  // A control plane from the installed package serves its API and the dashboard's files.
  const etcd = await startTestEtcd();
  const port = await freePort();
  const cp = spawnProcess(signalbox, ['control-plane', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${port}`, '--insecure'], { SIGNALBOX_LOG_LEVEL: 'warn' });
  atFileEnd(cp.stop);
  const base = `http://127.0.0.1:${port}`;
  await waitForProcess(cp, 'the installed control plane', async () => (await fetch(`${base}/healthz`)).ok);
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>Signalbox/);
  assert.equal((await fetch(`${base}/api/v1/config`)).status, 200);
});
