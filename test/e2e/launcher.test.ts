// bin/signalbox, the launcher every installed command and the systemd units go through: how it
// starts Node. A proxy gets a young generation of 2 × 8 MB (README, Benchmarks: RSS at 10,000
// routes), its workers too; an operator's NODE_OPTIONS size wins; other commands keep V8's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/util/ports.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { childPids, spawnProcess, waitForProcess } from '../helpers/launch.js';

const BIN = fileURLToPath(new URL('../../../bin/signalbox', import.meta.url));

/** The semi-space flags on a process's command line (Node's own execArgv among them). */
const semiSpaceFlags = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a.startsWith('--max-semi-space-size'));

/** Through the launcher; NODE_OPTIONS only as given here (not the test runner's). */
async function started(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = spawnProcess(BIN, args, { SIGNALBOX_LOG_LEVEL: 'warn', NODE_OPTIONS: '', ...env });
  atFileEnd(p.stop);
  return p;
}

it('`signalbox proxy` caps the young generation at 2 × 8 MB in the primary and its workers; NODE_OPTIONS wins; other commands keep the default', async () => {
  const etcd = await startTestEtcd();
  const proxyArgs = async () => ['proxy', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${await freePort()}`, '--admin-listen', `127.0.0.1:${await freePort()}`, '--workers', '2'];

  const proxy = await started(await proxyArgs());
  const workers = await waitForProcess(proxy, 'two workers', async () => {
    const pids = childPids(proxy.proc.pid!);
    return pids.length === 2 ? pids : undefined;
  });
  assert.deepEqual(semiSpaceFlags(proxy.proc.pid!), ['--max-semi-space-size=8']);
  for (const pid of workers) assert.deepEqual(semiSpaceFlags(pid), ['--max-semi-space-size=8'], 'a worker inherits it');

  const own = await started(await proxyArgs(), { NODE_OPTIONS: '--max-semi-space-size=32' });
  await waitForProcess(own, 'the proxy started', async () => childPids(own.proc.pid!).length > 0);
  assert.deepEqual(semiSpaceFlags(own.proc.pid!), [], "the operator's NODE_OPTIONS size is not overridden");

  const cp = await started(['control-plane', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${await freePort()}`, '--insecure']);
  await waitForProcess(cp, 'the control plane started', async () => readFileSync(`/proc/${cp.proc.pid}/cmdline`, 'utf8').includes('control-plane'));
  assert.deepEqual(semiSpaceFlags(cp.proc.pid!), []);
});
