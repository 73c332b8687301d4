// Starts a real etcd on free loopback ports for one test file and ends it by PID afterwards.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedEtcd } from '../../src/dev/managed-etcd.js';
import { atFileEnd } from './cleanup.js';

export async function startTestEtcd(args: string[] = []): Promise<ManagedEtcd> {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-etcd-'));
  const etcd = new ManagedEtcd({ dataDir: dir, args });
  atFileEnd(async () => {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await etcd.start();
  return etcd;
}
