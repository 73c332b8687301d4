// One watcher process of bench/watch-fanout.ts, in one of three roles:
// - (default) --count light watchers, each the proxy's ConfigWatcher on an etcd client of its own
//   (its own connection, as every proxy has), with no HTTP and no compile;
// - --relay: a primary of --count workers, as `proxy --workers N` is: one ConfigWatcher here, and
//   --count follower processes (forked from this file with --follow) that get each state's changed
//   entries over IPC (relayedState) and fold them into a state of their own (RelayedWatch);
// - --follow: such a follower (no etcd).
// Driven over the IPC channel; ends when it is stopped or the bench is gone. Times are per watcher
// (per follower under --relay):
//   parent → { type: 'wait', rev, timeoutMs }  child → { type: 'seen', rev, times }   (per watcher:
//            the wall-clock ms its first state at or past rev was emitted; null if none in time)
//   parent → { type: 'stats' }                 child → { type: 'stats', loopDelayP99Ms, rssMb }
//   child  → { type: 'ready', rssMb, entries } once every watcher has its first state (entries:
//            how many each holds) and a watch
//   follower → relay { type: 'listening' } first; relay → follower { type: 'state', state }
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './args.js';
import { IpcPeer, type IpcMessage } from './ipc-peer.js';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { createEtcdClient } from '../src/store/client.js';
import { ConfigWatcher } from '../src/store/config-watcher.js';
import { Keys } from '../src/store/keys.js';
import { relayedState, RelayedWatch, type RelayedState } from '../src/proxy/relayed-watch.js';

const values = benchArgs({
  options: {
    etcd: { type: 'string' },
    prefix: { type: 'string' },
    count: { type: 'string' },
    batch: { type: 'string', default: '25' },
    relay: { type: 'boolean', default: false },
    follow: { type: 'boolean', default: false },
  },
});
if (!process.send || (!values.follow && (!values.etcd || !values.prefix || !values.count))) {
  throw new Error('started by bench/watch-fanout.js: --etcd URL --prefix P --count N [--relay], or --follow, with an IPC channel');
}
const logger = pino({ level: 'warn' });
const send = (msg: object) => process.send!(msg);
const wallMs = () => performance.timeOrigin + performance.now();
const rss = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const loopDelay = monitorEventLoopDelay({ resolution: 10 });

type Message = IpcMessage & { rev?: number; timeoutMs?: number };
type Stats = { loopDelayP99Ms: number; rssMb: number };

/** What emits states here: a watcher, or a follower's own fold of what its relay sent. */
interface Light {
  /** [revision, wall ms] of the states emitted since the last wait was answered. */
  seen: [number, number][];
  /** When this one reached the awaited revision (null: not yet). */
  reachedAt: number | null;
}
const newLight = (): Light => ({ seen: [], reachedAt: null });

/** Answers the bench's waits and stats from this process's own lights; returns what records a state. */
function serveLights(lights: Light[]): (light: Light, rev: number) => void {
  /** The revision the bench waits for, how many lights reached it, and the give-up timer. */
  let waiting: { rev: number; reached: number; timer: NodeJS.Timeout } | null = null;
  const answer = () => {
    clearTimeout(waiting!.timer);
    const rev = waiting!.rev;
    waiting = null;
    send({ type: 'seen', rev, times: lights.map((l) => l.reachedAt) });
    for (const l of lights) {
      l.reachedAt = null;
      l.seen = l.seen.filter(([r]) => r > rev);
    }
  };
  const reach = (light: Light, rev: number, at: number) => {
    if (!waiting || light.reachedAt !== null || rev < waiting.rev) return;
    light.reachedAt = at;
    if (++waiting.reached === lights.length) answer();
  };
  process.on('message', (msg: Message) => {
    if (msg.type === 'wait') {
      waiting = { rev: msg.rev!, reached: 0, timer: setTimeout(answer, msg.timeoutMs) };
      // States that came before the request (the change can outrun the commit answer).
      for (const l of lights) for (const [r, at] of l.seen) reach(l, r, at);
    } else if (msg.type === 'stats') {
      send({ type: 'stats', loopDelayP99Ms: loopDelay.percentile(99) / 1e6, rssMb: rss() } satisfies Stats & { type: string });
      loopDelay.reset();
    }
  });
  return (light, rev) => {
    const at = wallMs();
    light.seen.push([rev, at]);
    reach(light, rev, at);
  };
}

/** --count watchers, each on a connection of its own. */
async function runWatchers(count: number, batch: number): Promise<void> {
  const lights: Light[] = [];
  const watchers: { client: Etcd3; watcher: ConfigWatcher }[] = [];
  const saw = serveLights(lights);
  const startOne = async () => {
    const client = createEtcdClient(values.etcd!);
    const watcher = new ConfigWatcher(client, new Keys(values.prefix!), logger);
    const light = newLight();
    watcher.on('state', (s) => saw(light, s.revision));
    lights.push(light);
    watchers.push({ client, watcher });
    await watcher.start();
    if (!watcher.connected) await once(watcher, 'connected');
  };
  const stopAll = async () => {
    await Promise.all(watchers.map(async (w) => {
      await w.watcher.stop();
      w.client.close();
    }));
    process.exit(0);
  };
  process.once('SIGTERM', () => void stopAll());
  process.once('disconnect', () => void stopAll());
  // A few at a time, as a fleet rolls out, rather than every initial read at once.
  for (let i = 0; i < count; i += batch) await Promise.all(Array.from({ length: Math.min(batch, count - i) }, startOne));
  loopDelay.enable();
  send({ type: 'ready', rssMb: rss(), entries: watchers.map((w) => w.watcher.state?.entries.size ?? 0) });
}

/** A follower: the state its relay's watcher has, folded by a worker's RelayedWatch from what it is sent. */
function follow(): void {
  const light = newLight();
  const saw = serveLights([light]);
  const feed = new RelayedWatch(() => send({ type: 'listening' }));
  let first = true;
  feed.on('state', (s) => {
    saw(light, s.revision);
    if (!first) return;
    first = false;
    loopDelay.enable();
    send({ type: 'ready', rssMb: rss(), entries: [s.entries.size] });
  });
  process.on('message', (msg: Message) => {
    if (msg.type === 'state') feed.receive(msg.state as RelayedState);
  });
  process.once('SIGTERM', () => process.exit(0));
  process.once('disconnect', () => process.exit(0));
  void feed.start();
}

/** One watcher whose states go to --count followers over IPC, as a primary would pass them on to its workers. */
async function relay(count: number): Promise<void> {
  const followers = Array.from({ length: count }, () => new IpcPeer(fork(fileURLToPath(import.meta.url), ['--follow'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  const ask = (msg: Message, reply: string) => Promise.all(followers.map((f) => f.request<IpcMessage>(msg, reply)));
  // A state sent before a follower listens would be lost.
  await Promise.all(followers.map((f) => f.next('listening')));
  const ready = Promise.all(followers.map((f) => f.next('ready')));
  const client = createEtcdClient(values.etcd!);
  const watcher = new ConfigWatcher(client, new Keys(values.prefix!), logger);
  watcher.on('state', (s) => {
    const msg = { type: 'state', state: relayedState(s, false) };
    for (const f of followers) f.proc.send(msg);
  });
  const stopAll = async () => {
    for (const f of followers) f.proc.kill('SIGTERM');
    await watcher.stop();
    client.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stopAll());
  process.once('disconnect', () => void stopAll());
  process.on('message', (msg: Message) => {
    if (msg.type === 'wait') {
      void ask(msg, 'seen').then((seen) => send({ type: 'seen', rev: msg.rev, times: seen.flatMap((s) => s.times as (number | null)[]) }));
    } else if (msg.type === 'stats') {
      const own: Stats = { loopDelayP99Ms: loopDelay.percentile(99) / 1e6, rssMb: rss() };
      loopDelay.reset();
      void ask(msg, 'stats').then((all) => {
        const stats = [own, ...(all as unknown as Stats[])];
        send({ type: 'stats', loopDelayP99Ms: Math.max(...stats.map((s) => s.loopDelayP99Ms)), rssMb: stats.reduce((sum, s) => sum + s.rssMb, 0) });
      });
    }
  });
  await watcher.start();
  if (!watcher.connected) await once(watcher, 'connected');
  const first = await ready;
  loopDelay.enable();
  send({ type: 'ready', rssMb: rss() + first.reduce((sum, r) => sum + (r.rssMb as number), 0), entries: first.flatMap((r) => r.entries as number[]) });
}

if (values.follow) follow();
else if (values.relay) await relay(Number(values.count));
else await runWatchers(Number(values.count), Number(values.batch));
