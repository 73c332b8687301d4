// Waiting until one of a few keys changes after a revision: what a long poll of the API needs.
// Each key gets its own watch from the revision after the caller's read, so a change that lands
// between that read and the watch is not missed, and a broken stream resumes from there too.
import type { Etcd3 } from 'etcd3';
import { PrefixWatch } from './watch-stream.js';

export type WaitOutcome = 'changed' | 'timeout' | 'aborted';

export function waitForChange(
  client: Etcd3,
  keys: readonly string[],
  afterRevision: number,
  opts: { timeoutMs: number; signal: AbortSignal },
): Promise<WaitOutcome> {
  if (opts.signal.aborted) return Promise.resolve('aborted');
  return new Promise((resolve) => {
    const watches: PrefixWatch[] = [];
    let done = false;
    const finish = (outcome: WaitOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      for (const w of watches) w.close();
      resolve(outcome);
    };
    const onAbort = () => finish('aborted');
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs);
    opts.signal.addEventListener('abort', onAbort);
    for (const key of keys) {
      const watch = new PrefixWatch(client, key, {
        startRevision: () => afterRevision + 1,
        onCreated: () => {},
        onResponse: (res) => {
          if (res.events.length > 0) finish('changed');
        },
        // PrefixWatch reconnects by itself, from afterRevision + 1 again.
        onDisconnected: () => {},
        // Compacted past afterRevision: something may have changed; the caller reads afresh.
        onCanceled: () => finish('changed'),
      });
      watches.push(watch);
      watch.start();
    }
  });
}
