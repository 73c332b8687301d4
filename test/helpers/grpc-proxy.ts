// `etcd grpc-proxy` (part of the etcd binary) in front of one etcd, on a free loopback port, as a
// child process stopped by its PID. No node:test here: bench/watch-fanout.ts uses it too.
import { createEtcdClient } from '../../src/store/client.js';
import { freePort } from '../../src/util/ports.js';
import { spawnProcess, waitFor, type Spawned } from './launch.js';

export class GrpcProxy {
  port = 0;
  private spawned: Spawned | null = null;

  constructor(
    private readonly etcdPort: number,
    private readonly dataDir: string,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.spawned?.proc.pid;
  }

  /** Starts it (on the port of an earlier start, so clients can come back) and waits until it answers. */
  async start(): Promise<void> {
    this.port ||= await freePort();
    const listen = `127.0.0.1:${this.port}`;
    const spawned = spawnProcess('etcd', [
      'grpc-proxy', 'start', '--endpoints', `127.0.0.1:${this.etcdPort}`,
      '--listen-addr', listen, '--advertise-client-url', listen, '--data-dir', this.dataDir,
    ]);
    this.spawned = spawned;
    const probe = createEtcdClient(this.endpoint);
    try {
      await waitFor(`etcd grpc-proxy on ${listen}`, async () => {
        if (spawned.proc.exitCode !== null) throw new Error(`it exited: ${spawned.output().slice(-500)}`);
        await probe.get('/probe').string();
        return true;
      });
    } finally {
      probe.close();
    }
  }

  async stop(): Promise<void> {
    await this.spawned?.stop();
    this.spawned = null;
  }
}
