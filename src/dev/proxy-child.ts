// The proxy of `signalbox dev`: a `signalbox proxy` child process, so that work in the dev
// process (the control plane validating a huge document) never delays proxied traffic. Its log
// lines go to dev's log file. It is ended by its PID; should dev die without ending it, the
// child sees its IPC channel close and stops by itself (src/cli/proxy.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HostPort } from '../net.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const READY_WITHIN_MS = 30_000;

export interface ProxyChildOptions {
  id: string;
  etcd: string;
  prefix: string;
  listen: HostPort;
  adminListen: HostPort;
  drainTimeoutMs: number;
  /** Appended to (the child's stdout and stderr), shared with dev's own log lines. */
  logFile: string;
}

export class ProxyChild {
  readonly url: string;
  readonly adminUrl: string;
  private readonly exited: Promise<unknown>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly opts: ProxyChildOptions,
  ) {
    this.url = `http://${opts.listen.host}:${opts.listen.port}`;
    this.adminUrl = `http://${opts.adminListen.host}:${opts.adminListen.port}`;
    // A child that could not be spawned emits 'error' and never 'exit'.
    this.exited = new Promise((resolve) => {
      child.once('exit', resolve);
      child.once('error', resolve);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Start the child and wait until its /readyz answers 200. */
  static async start(opts: ProxyChildOptions): Promise<ProxyChild> {
    const log = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      const at = (h: HostPort) => `${h.host}:${h.port}`;
      const args = [
        CLI, 'proxy', '--etcd', opts.etcd, '--prefix', opts.prefix, '--id', opts.id,
        '--listen', at(opts.listen), '--admin-listen', at(opts.adminListen), '--drain-timeout-ms', String(opts.drainTimeoutMs),
      ];
      // Its own process group: a Ctrl-C in the terminal reaches dev only, which then ends the
      // child once (a second signal would make the child skip its drain).
      child = spawn(process.execPath, args, { stdio: ['ignore', log, log, 'ipc'], detached: true });
    } finally {
      closeSync(log);
    }
    const proxy = new ProxyChild(child, opts);
    try {
      await proxy.waitReady();
    } catch (err) {
      await proxy.stop();
      throw err;
    }
    return proxy;
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + READY_WITHIN_MS;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.pid === undefined) {
        throw new Error(`the proxy ${this.child.pid === undefined ? 'could not be started' : `exited with code ${this.child.exitCode}`}; see ${this.opts.logFile}`);
      }
      try {
        if ((await fetch(`${this.adminUrl}/readyz`, { signal: AbortSignal.timeout(1000) })).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`the proxy was not ready within ${READY_WITHIN_MS / 1000} s; see ${this.opts.logFile}`);
  }

  /** SIGTERM by PID (the proxy drains), SIGKILL if it outlives its drain timeout. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), this.opts.drainTimeoutMs + 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}
