// Starting signalbox processes and waiting on them, without node:test: benchmarks use this too
// (importing node:test would turn a benchmark into a test run).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Spawned {
  proc: ChildProcess;
  output(): string;
  /** SIGTERM by PID and wait for the exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** Start a signalbox process; the caller stops it (benchmarks use this directly). */
export function launch(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  return spawnProcess(process.execPath, [CLI, ...args], { SIGNALBOX_LOG_LEVEL: 'warn', ...env });
}

/**
 * Start any program with its output captured; the caller stops it (by its PID, like launch).
 * `ipc`: a Node program gets an IPC channel (process.send / 'message').
 */
export function spawnProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}, opts: { ipc?: boolean } = {}): Spawned {
  const stdio = opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
  const proc = spawn(command, args, { env: { ...process.env, ...env }, stdio: stdio as ('ignore' | 'pipe' | 'ipc')[] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(proc, 'exit');
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return { proc, output: () => out, stop };
}

/**
 * Poll until `check` returns a value other than undefined/false, or fail after `ms`. A function
 * for `what` is read on failure: a process's output then is what it printed until then.
 */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + ms;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}${lastErr ? `: ${describeError(lastErr)}` : ''}`);
}

/** An error and its cause: fetch says only "fetch failed", what failed (a refused connect) is in the cause. */
function describeError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause ? `${e.message} (${e.cause.code ?? e.cause.message})` : e.message;
}

/** The fields of a /proc stat file after the command name: [0] the state, [11] and [12] CPU ticks. */
async function statFields(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).replace(/^.*\) /s, '').split(' ');
}

/** A process's scheduler state (R running, S sleeping, T stopped, D in I/O) and CPU time, from /proc. */
async function processState(pid: number | undefined): Promise<string> {
  try {
    const fields = await statFields(`/proc/${pid}/stat`);
    return `state ${fields[0]}, ${(Number(fields[11]) + Number(fields[12])) * 10} ms of CPU`;
  } catch {
    return 'no /proc entry';
  }
}

/** The processes `pid` started (a multi-process proxy's workers), from each process's parent in /proc. */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent is the second field after "(comm) ".
      if (Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/**
 * waitFor on a process just started: fails as soon as it exits instead of polling to the
 * timeout, and either failure names what it printed.
 */
export async function waitForProcess<T>(p: Spawned, what: string, check: () => Promise<T | undefined | false>, ms?: number): Promise<T> {
  const exited = once(p.proc, 'exit').then(([code, signal]) => {
    throw new Error(`${what}: the process exited (${signal ?? `code ${code}`}) first; output: ${p.output()}`);
  });
  exited.catch(() => {});
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) throw new Error(`${what}: the process had exited; output: ${p.output()}`);
  const waited = waitFor(() => `${what} (output: ${p.output()})`, check, ms).catch(async (err: Error) => {
    // Still running but not answering: whether it was stopped, busy or idle says which.
    throw new Error(`${err.message}; process ${p.proc.pid}: ${await processState(p.proc.pid)}`);
  });
  return Promise.race([waited, exited]);
}

/**
 * SIGSTOP a process and wait until every one of its threads has stopped: kill() returns before
 * a busy process on a loaded machine has taken the signal, and it may answer a request meanwhile.
 */
export async function freeze(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const stopped = async () => {
    const tasks = await readdir(`/proc/${pid}/task`);
    const states = await Promise.all(tasks.map(async (t) => (await statFields(`/proc/${pid}/task/${t}/stat`))[0]));
    return states.every((s) => s === 'T' || s === 't');
  };
  await waitFor(`process ${pid} stopped`, stopped, 5_000, 5);
}
