// One watcher process of bench/watch-fanout.ts: --count light watchers, each the proxy's
// ConfigWatcher on an etcd client of its own (its own connection, as every proxy has), with no
// HTTP and no compile. Driven over the IPC channel; ends when it is stopped or the bench is gone.
//   parent → { type: 'wait', rev, timeoutMs }  child → { type: 'seen', rev, times }   (per watcher:
//            the wall-clock ms its first state at or past rev was emitted; null if none in time)
//   parent → { type: 'stats' }                 child → { type: 'stats', loopDelayP99Ms, rssMb }
//   child  → { type: 'ready', rssMb, entries } once every watcher has its first state (entries:
//            how many each holds) and a watch
import { once } from 'node:events';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { benchArgs } from './args.js';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { createEtcdClient } from '../src/store/client.js';
import { ConfigWatcher } from '../src/store/config-watcher.js';
import { Keys } from '../src/store/keys.js';

const values = benchArgs({
  options: { etcd: { type: 'string' }, prefix: { type: 'string' }, count: { type: 'string' }, batch: { type: 'string', default: '25' } },
});
if (!values.etcd || !values.prefix || !values.count || !process.send) {
  throw new Error('started by bench/watch-fanout.js: --etcd URL --prefix P --count N, with an IPC channel');
}
const keys = new Keys(values.prefix);
const logger = pino({ level: 'warn' });
const send = (msg: object) => process.send!(msg);
const wallMs = () => performance.timeOrigin + performance.now();

interface Light {
  client: Etcd3;
  watcher: ConfigWatcher;
  /** [revision, wall ms] of the states emitted since the last wait was answered. */
  seen: [number, number][];
  /** When this watcher reached the awaited revision (null: not yet). */
  reachedAt: number | null;
}
const lights: Light[] = [];
/** The revision the bench waits for, how many watchers reached it, and the give-up timer. */
let waiting: { rev: number; reached: number; timer: NodeJS.Timeout } | null = null;

const rss = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const loopDelay = monitorEventLoopDelay({ resolution: 10 });

function reach(light: Light, rev: number, at: number): void {
  if (!waiting || light.reachedAt !== null || rev < waiting.rev) return;
  light.reachedAt = at;
  if (++waiting.reached === lights.length) answer();
}

function answer(): void {
  clearTimeout(waiting!.timer);
  const rev = waiting!.rev;
  waiting = null;
  send({ type: 'seen', rev, times: lights.map((l) => l.reachedAt) });
  for (const l of lights) {
    l.reachedAt = null;
    l.seen = l.seen.filter(([r]) => r > rev);
  }
}

async function startOne(): Promise<void> {
  const client = createEtcdClient(values.etcd!);
  const watcher = new ConfigWatcher(client, keys, logger);
  const light: Light = { client, watcher, seen: [], reachedAt: null };
  watcher.on('state', (s) => {
    const at = wallMs();
    light.seen.push([s.revision, at]);
    reach(light, s.revision, at);
  });
  lights.push(light);
  await watcher.start();
  if (!watcher.connected) await once(watcher, 'connected');
}

async function stopAll(): Promise<void> {
  await Promise.all(lights.map(async (l) => {
    await l.watcher.stop();
    l.client.close();
  }));
  process.exit(0);
}
process.once('SIGTERM', () => void stopAll());
process.once('disconnect', () => void stopAll());

process.on('message', (msg: { type: string; rev?: number; timeoutMs?: number }) => {
  if (msg.type === 'wait') {
    waiting = { rev: msg.rev!, reached: 0, timer: setTimeout(answer, msg.timeoutMs) };
    // States that came before the request (the change can outrun the commit answer).
    for (const l of lights) for (const [r, at] of l.seen) reach(l, r, at);
  } else if (msg.type === 'stats') {
    send({ type: 'stats', loopDelayP99Ms: loopDelay.percentile(99) / 1e6, rssMb: rss() });
    loopDelay.reset();
  }
});

// A few at a time, as a fleet rolls out, rather than every initial read at once.
const count = Number(values.count);
const batch = Number(values.batch);
for (let i = 0; i < count; i += batch) await Promise.all(Array.from({ length: Math.min(batch, count - i) }, startOne));
loopDelay.enable();
send({ type: 'ready', rssMb: rss(), entries: lights.map((l) => l.watcher.state?.entries.size ?? 0) });
