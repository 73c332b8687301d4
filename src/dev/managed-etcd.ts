// A real single-member etcd run as a child process on loopback: `signalbox dev` and the test
// harness both use it. It is stopped by its own PID, never by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../util/ports.js';

export interface ManagedEtcdOptions {
  dataDir: string;
  clientPort?: number;
  peerPort?: number;
  /** Extra etcd flags, e.g. `--auto-compaction-retention`. */
  args?: string[];
  /** Serve clients over TLS (https:// endpoint). */
  tls?: ManagedEtcdTls;
}

export interface ManagedEtcdTls {
  /** The server certificate (it must name 127.0.0.1) and its key, as PEM files. */
  certFile: string;
  keyFile: string;
  /** Require client certificates signed by this CA (`--client-cert-auth`). */
  clientCaFile?: string;
}

/** etcd exited at start because a port it was given is in use. */
class PortTakenError extends Error {}

export class EtcdNotFoundError extends Error {
  constructor() {
    super("etcd not found on PATH; install it with 'sudo apt-get install -y etcd-server' (Debian/Ubuntu) or from the etcd releases page");
  }
}

export class ManagedEtcd {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Resolves once everything the running etcd printed is in its log file. */
  private logged: Promise<unknown> = Promise.resolve();
  clientPort = 0;
  peerPort = 0;
  /** Plain-HTTP port of /health and /metrics when clients are served over TLS. */
  metricsPort = 0;

  constructor(private readonly opts: ManagedEtcdOptions) {}

  get endpoint(): string {
    return `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
  }

  /** Where /health answers without a client certificate. */
  private get healthUrl(): string {
    return this.opts.tls ? `http://127.0.0.1:${this.metricsPort}/health` : `${this.endpoint}/health`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Starts etcd (keeping the ports of an earlier start, so clients can reconnect) and waits until
   * it serves. Ports it chose itself can be taken by another process between the choice and
   * etcd's bind (tests start many processes at once): then it chooses again, twice at most.
   */
  async start(): Promise<void> {
    if (this.child) throw new Error('etcd is already running');
    const choosing = this.clientPort === 0 && this.opts.clientPort === undefined && this.opts.peerPort === undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce();
        return;
      } catch (err) {
        if (!choosing || attempt >= 3 || !(err instanceof PortTakenError)) throw err;
        this.clientPort = this.peerPort = this.metricsPort = 0;
      }
    }
  }

  private async startOnce(): Promise<void> {
    this.clientPort ||= this.opts.clientPort ?? (await freePort());
    this.peerPort ||= this.opts.peerPort ?? (await freePort());
    const tls = this.opts.tls;
    if (tls) this.metricsPort ||= await freePort();
    const dataDir = this.opts.dataDir;
    await mkdir(dataDir, { recursive: true });
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const args = [
      '--name', 'signalbox-dev',
      '--data-dir', join(dataDir, 'data'),
      '--listen-client-urls', this.endpoint,
      '--advertise-client-urls', this.endpoint,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `signalbox-dev=${peer}`,
      ...(tls
        ? [
            '--cert-file', tls.certFile,
            '--key-file', tls.keyFile,
            '--listen-metrics-urls', `http://127.0.0.1:${this.metricsPort}`,
            ...(tls.clientCaFile ? ['--client-cert-auth', '--trusted-ca-file', tls.clientCaFile] : []),
          ]
        : []),
      ...(this.opts.args ?? []),
    ];
    const log = createWriteStream(join(dataDir, 'etcd.log'), { flags: 'a' });
    const child = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // Two sources into one file: neither may end it for the other.
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    this.logged = Promise.all([once(child.stdout!, 'close'), once(child.stderr!, 'close')]).then(
      () => new Promise<void>((resolve) => log.end(resolve)),
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', resolve);
    });
    if (spawned) {
      this.child = null;
      throw (spawned as NodeJS.ErrnoException).code === 'ENOENT' ? new EtcdNotFoundError() : spawned;
    }
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    await this.waitHealthy(child);
  }

  private async waitHealthy(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) {
        await this.logged;
        const logFile = join(this.opts.dataDir, 'etcd.log');
        const log = await readFile(logFile, 'utf8').catch(() => '');
        if (/address already in use/.test(log.slice(-2000))) throw new PortTakenError(`etcd could not bind its ports; see ${logFile}`);
        throw new Error(`etcd exited with code ${child.exitCode}; see ${logFile}`);
      }
      try {
        const res = await fetch(this.healthUrl, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch {
        // not up yet
      }
      await sleep(50);
    }
    throw new Error(`etcd did not become healthy on ${this.endpoint} within 20s`);
  }

  /** Ends etcd by its PID: SIGTERM, then SIGKILL if it lingers. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
    this.child = null;
  }

  /** A crash, as tests need one: SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
    this.child = null;
  }
}
