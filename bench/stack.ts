// The Signalbox side of a benchmark: a real etcd, a control plane and proxy processes on
// 127.0.0.1, each a child process ended by its own PID. Used by the benches that run a whole stack
// (propagation, forwarding, writes, proxy-memory and others).
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ManagedEtcd } from '../src/dev/managed-etcd.js';
import { freePort } from '../src/util/ports.js';
import { CLI, spawnProcess, waitFor, type Spawned } from '../test/helpers/launch.js';

const TOKEN = 'bench-token';

/**
 * A signalbox command of the build whose CLI is `cli`, through that build's launcher
 * (bin/signalbox) as a deployment runs it: Node's flags are the launcher's (a proxy's smaller
 * young generation among them). A build without one runs its CLI with bare node.
 */
function run(cli: string, args: string[]): Spawned {
  const launcher = resolve(dirname(cli), '../../../bin/signalbox');
  const [command, argv] = existsSync(launcher) ? [launcher, args] : [process.execPath, [cli, ...args]];
  return spawnProcess(command, argv, { SIGNALBOX_LOG_LEVEL: 'warn' });
}

/** What a control-plane write answers (the fields the benches read). */
interface WriteAnswer {
  version: { version: number };
}

export interface BenchProxy {
  url: string;
  admin: string;
  pid: number;
}

/**
 * Everything a benchmark starts, stopped newest first by stopAll(). A bench ended by SIGINT or
 * SIGTERM stops it too, so no etcd, proxy, nginx or wrk outlives it.
 */
export class Children {
  private readonly stops: (() => Promise<void>)[] = [];
  /** Set by SIGINT/SIGTERM: what fails from then on fails because its processes were stopped. */
  interrupted = false;

  constructor() {
    const onSignal = () => {
      this.interrupted = true;
      process.stderr.write('interrupted: stopping what the bench started\n');
      void this.stopAll().finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  add(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }

  /** spawnProcess, stopped with the rest. */
  spawn(command: string, args: string[], env: NodeJS.ProcessEnv = {}, opts: { ipc?: boolean } = {}): Spawned {
    const p = spawnProcess(command, args, env, opts);
    this.add(p.stop);
    return p;
  }

  /** Where stopSince() stops from: what is started after this call. */
  mark(): number {
    return this.stops.length;
  }

  /** Stop what was started since `mark`, newest first. */
  async stopSince(mark: number): Promise<void> {
    while (this.stops.length > mark) await this.stops.pop()!();
  }

  async stopAll(): Promise<void> {
    await this.stopSince(0);
  }
}

/** Run a benchmark and stop all it started, also when it fails or is interrupted. */
export async function runBench(main: (children: Children) => Promise<void>): Promise<void> {
  const children = new Children();
  try {
    await main(children);
  } catch (err) {
    if (!children.interrupted) throw err;
  } finally {
    await children.stopAll();
  }
}

export class BenchStack {
  private constructor(
    readonly children: Children,
    readonly etcd: ManagedEtcd,
    readonly api: string,
    readonly controlPlanePid: number,
    private readonly cli: string,
  ) {}

  /**
   * etcd and a control plane in a temp dir; its children (and the dir) go with children.stopAll().
   * `cli`: another build's dist/src/cli/main.js runs the control plane and proxies (a "before").
   */
  static async start(children: Children, cli = CLI): Promise<BenchStack> {
    const dir = await mkdtemp(join(tmpdir(), 'signalbox-bench-'));
    children.add(() => rm(dir, { recursive: true, force: true }));
    const etcd = new ManagedEtcd({ dataDir: join(dir, 'etcd') });
    children.add(() => etcd.stop());
    await etcd.start();
    await writeFile(join(dir, 'token'), TOKEN);
    const port = await freePort();
    const cp = run(cli, ['control-plane', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${port}`, '--admin-token-file', join(dir, 'token')]);
    children.add(cp.stop);
    const api = `http://127.0.0.1:${port}`;
    await waitFor('control plane', async () => (await fetch(`${api}/healthz`)).ok);
    return new BenchStack(children, etcd, api, cp.proc.pid!, cli);
  }

  /** A write through the control plane's REST API (path under /api/v1); the version it made. */
  async write(method: 'PUT' | 'PATCH', path: string, body: unknown): Promise<number> {
    const res = await fetch(`${this.api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as WriteAnswer).version.version;
  }

  /** Replace the whole config. */
  putConfig(doc: unknown): Promise<number> {
    return this.write('PUT', '/config', doc);
  }

  /**
   * Start a proxy process (not waiting for it: see waitReady). `profileDir`: run it under
   * `node --cpu-prof`, which writes a .cpuprofile there when the proxy exits (Node refuses
   * --cpu-prof in NODE_OPTIONS, so it goes on the command line, and the launcher's flags are not
   * there). `extraArgs` go to the proxy command (e.g. --tls-listen).
   */
  async startProxy(id: string, profileDir?: string, extraArgs: string[] = []): Promise<BenchProxy> {
    const [port, admin] = [await freePort(), await freePort()];
    const args = ['proxy', '--etcd', this.etcd.endpoint, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`, '--id', id, ...extraArgs];
    const p = profileDir === undefined
      ? run(this.cli, args)
      : spawnProcess(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profileDir, this.cli, ...args], { SIGNALBOX_LOG_LEVEL: 'warn' });
    this.children.add(p.stop);
    return { url: `http://127.0.0.1:${port}`, admin: `http://127.0.0.1:${admin}`, pid: p.proc.pid! };
  }
}

export function waitReady(proxy: BenchProxy, ms = 60_000): Promise<boolean> {
  return waitFor(`${proxy.admin} ready`, async () => (await fetch(`${proxy.admin}/readyz`)).ok, ms);
}

/** Poll a proxy's /status until it runs `version`; resolves to its appliedAt (ms since the epoch). */
export function waitVersion(proxy: BenchProxy, version: number, ms = 30_000): Promise<number> {
  return waitFor(`${proxy.admin} at version ${version}`, async () => {
    const s = (await (await fetch(`${proxy.admin}/status`)).json()) as { version: number; appliedAt: string };
    return s.version === version ? Date.parse(s.appliedAt) : undefined;
  }, ms, 20);
}
