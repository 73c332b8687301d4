// Load generators for the forwarding benchmark: wrk when it is installed (a C program outside
// this Node process, so the load costs the least CPU the 2 cores must share), otherwise a small
// undici loop in this process. Both keep `connections` keep-alive connections busy with GET `url`
// for `seconds` (or until `stop` resolves) and count a status outside 2xx/3xx as an error, as
// wrk does.
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import type { Children } from './stack.js';

export interface LoadRun {
  url: string;
  connections: number;
  /** Upper bound of the run. */
  seconds: number;
  /** Ends the run early when it resolves. */
  stop?: Promise<void>;
  /** Sent with every request (an API key). */
  headers?: Record<string, string>;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers with a status outside 2xx/3xx. */
  badStatus: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
}

export interface LoadGenerator {
  name: string;
  run(load: LoadRun): Promise<LoadResult>;
}

/** wrk with one thread: the other core is left to the proxy and the upstream. */
export function wrk(children: Children): LoadGenerator {
  return {
    name: 'wrk (1 thread)',
    async run({ url, connections, seconds, stop, headers = {} }) {
      const sent = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
      const p = children.spawn('wrk', ['-t1', `-c${connections}`, `-d${Math.ceil(seconds)}s`, '--latency', ...sent, url]);
      // 'close', not 'exit': the report is read once stdout has ended.
      const closed = once(p.proc, 'close');
      // wrk prints its results for the time it ran when interrupted.
      void stop?.then(() => p.proc.kill('SIGINT'));
      const [code] = (await closed) as [number | null];
      if (code !== 0) throw new Error(`wrk exited with ${code}: ${p.output()}`);
      return parseWrk(p.output());
    },
  };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function wrkNumber(out: string, re: RegExp): number {
  const m = re.exec(out);
  if (!m) throw new Error(`wrk output without ${re}: ${out}`);
  return Number(m[1]);
}

function wrkLatencyMs(out: string, percent: number): number {
  const m = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
  if (!m) throw new Error(`wrk output without its ${percent}% latency: ${out}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** wrk's report; its "Non-2xx or 3xx" and "Socket errors" lines appear only when not zero. */
export function parseWrk(out: string): LoadResult {
  const requests = wrkNumber(out, /^\s*(\d+) requests in/m);
  const rps = wrkNumber(out, /^Requests\/sec:\s+([\d.]+)/m);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests,
    seconds: requests / rps,
    rps,
    p50Ms: wrkLatencyMs(out, 50),
    p99Ms: wrkLatencyMs(out, 99),
    badStatus: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

/** The fallback: `connections` request loops over one undici keep-alive pool in this process. */
export const undiciLoop: LoadGenerator = {
  name: 'undici loop in the bench process',
  async run({ url, connections, seconds, stop, headers }) {
    const { origin, pathname, search } = new URL(url);
    const pool = new Pool(origin, { connections });
    const latencies: number[] = [];
    let badStatus = 0;
    let socketErrors = 0;
    let stopped = false;
    void stop?.then(() => (stopped = true));
    const start = performance.now();
    const deadline = start + seconds * 1000;
    const loop = async () => {
      while (!stopped && performance.now() < deadline) {
        const t = performance.now();
        try {
          const res = await pool.request({ origin, path: pathname + search, method: 'GET', headers });
          await res.body.dump();
          if (res.statusCode < 200 || res.statusCode >= 400) badStatus++;
          latencies.push(performance.now() - t);
        } catch {
          socketErrors++;
        }
      }
    };
    await Promise.all(Array.from({ length: connections }, loop));
    const elapsed = (performance.now() - start) / 1000;
    await pool.close();
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
    return { requests: latencies.length, seconds: elapsed, rps: latencies.length / elapsed, p50Ms: at(0.5), p99Ms: at(0.99), badStatus, socketErrors };
  },
};
