// A child process spoken to over its IPC channel by message type: a request is answered by the
// next message of the reply's type. bench/watch-fanout.ts asks its watcher processes this way,
// and a relay among them its followers.
import type { ChildProcess } from 'node:child_process';

export type IpcMessage = { type: string } & Record<string, unknown>;

export class IpcPeer {
  private readonly replies = new Map<string, (msg: IpcMessage) => void>();

  /** `describeExit`: if given, a process that exits answers whatever is awaited with `{ exited }`. */
  constructor(
    readonly proc: ChildProcess,
    describeExit?: () => string,
  ) {
    proc.on('message', (msg: IpcMessage) => {
      const resolve = this.replies.get(msg.type);
      this.replies.delete(msg.type);
      resolve?.(msg);
    });
    if (describeExit) {
      proc.once('exit', (code, signal) => {
        for (const type of this.replies.keys()) this.replies.get(type)?.({ type, exited: `${code ?? signal}: ${describeExit()}` });
      });
    }
  }

  /** The next message of `type` (call it before that message can arrive). */
  next(type: string): Promise<IpcMessage> {
    return new Promise((resolve) => this.replies.set(type, resolve));
  }

  request<T>(msg: IpcMessage, reply: string): Promise<T> {
    const answer = this.next(reply);
    this.proc.send(msg);
    return answer as Promise<T>;
  }
}
