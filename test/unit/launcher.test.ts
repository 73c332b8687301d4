// bin/signalbox, the launcher users and the systemd units run: which node flags each command gets.
// A `node` first on PATH that prints its arguments stands in for the real one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PROXY_NODE_FLAGS } from '../../src/proxy/defaults.js';

const LAUNCHER = fileURLToPath(new URL('../../../bin/signalbox', import.meta.url));

describe('bin/signalbox', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'signalbox-launcher-'));
    await writeFile(join(dir, 'node'), '#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n');
    await chmod(join(dir, 'node'), 0o755);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const nodeArgs = async (...args: string[]) => {
    const { stdout } = await promisify(execFile)(LAUNCHER, args, { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
    const lines = stdout.trim().split('\n');
    const main = lines.findIndex((l) => l.endsWith('/dist/src/cli/main.js'));
    assert.ok(main >= 0, `no main.js in ${stdout}`);
    return { flags: lines.slice(0, main).filter((f) => f !== '--enable-source-maps'), rest: lines.slice(main + 1) };
  };

  it('starts a proxy with the V8 flags of PROXY_NODE_FLAGS', async () => {
    const { flags, rest } = await nodeArgs('proxy', '--id', 'p1');
    assert.deepEqual(flags, [...PROXY_NODE_FLAGS]);
    assert.deepEqual(rest, ['proxy', '--id', 'p1']);
  });

  it('starts every other command without them', async () => {
    for (const command of ['control-plane', 'validate', 'dev']) assert.deepEqual((await nodeArgs(command)).flags, [], command);
  });
});
