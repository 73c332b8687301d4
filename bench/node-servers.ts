// The forwarding benchmark's Node processes, each run on its own so it gets the CPU a real
// deployment would give it rather than sharing the bench's event loop:
//   node dist/bench/node-servers.js upstream PORT...        the upstream when nginx is missing
//   node dist/bench/node-servers.js proxy PORT TARGET...    a hand-written reverse proxy
//   node dist/bench/node-servers.js floor PORT TARGET...    the least a node:http + undici proxy does
//                                                          (WORKERS=N: N node:cluster workers, as
//                                                          `signalbox proxy --workers N` runs)
//   node dist/bench/node-servers.js ws-echo PORT            a WebSocket echo server (`ws`)
// All listen on 127.0.0.1 and run until the bench ends them (SIGTERM's default: exit).
import cluster from 'node:cluster';
import { createServer, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { BODY } from './peers.js';

// Hop-by-hop headers: about one connection, never forwarded.
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'];

type Headers = Record<string, string | string[] | undefined>;

function withoutHopByHop(headers: Headers): Headers {
  const copy = { ...headers };
  for (const h of HOP_BY_HOP) delete copy[h];
  return copy;
}

function upstream(ports: number[]): void {
  for (const port of ports) {
    createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(BODY) });
      res.end(BODY);
    }).listen(port, '127.0.0.1');
  }
}

/** One keep-alive pool per target, taken in turn. */
function roundRobin(targets: string[]): () => Pool {
  const pools = targets.map((t) => new Pool(t));
  let next = 0;
  return () => pools[next++ % pools.length]!;
}

/** Round robin over one keep-alive pool per target; 502 when the upstream fails. */
function proxy(port: number, targets: string[]): void {
  const nextPool = roundRobin(targets);
  createServer((req, res) => {
    const pool = nextPool();
    const headers = withoutHopByHop(req.headers);
    headers['x-forwarded-for'] = req.socket.remoteAddress;
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    pool.request({ method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers, body: hasBody ? req : null }).then(
      (up) => {
        res.writeHead(up.statusCode, withoutHopByHop(up.headers));
        // A stream that fails destroys both ends: after the headers, that is all a client can be told.
        pipeline(up.body, res, () => {});
      },
      () => res.writeHead(502).end(),
    );
  }).listen(port, '127.0.0.1');
}

/** Headers minus hop-by-hop ones, copied rather than deleted from (delete makes objects slow). */
function forwardable(headers: Headers): Headers {
  const out: Headers = {};
  for (const name in headers) if (!HOP_BY_HOP.includes(name)) out[name] = headers[name];
  return out;
}

/** The upstream side of the floor proxy: the response as it comes, no backpressure, 502 on error. */
class FloorExchange implements Dispatcher.DispatchHandler {
  constructor(private readonly res: ServerResponse) {}

  /** Nothing to keep, but undici drives a handler with onResponse* calls only when it has this. */
  onRequestStart(): void {}

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Headers): void {
    this.res.writeHead(statusCode, forwardable(headers));
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.res.write(chunk);
  }

  onResponseEnd(): void {
    this.res.end();
  }

  onResponseError(): void {
    if (this.res.headersSent) this.res.destroy();
    else this.res.writeHead(502).end();
  }
}

/**
 * The floor under any proxy built on node:http and undici, Signalbox included: the dispatch API
 * Signalbox uses, and nothing else (no routing, policies, X-Forwarded-*, metrics, retries or
 * request bodies). What Signalbox spends above it is its own work.
 */
function floor(port: number, targets: string[]): void {
  const nextPool = roundRobin(targets);
  createServer((req, res) => {
    const opts = { method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers: forwardable(req.headers), body: null };
    nextPool().dispatch(opts, new FloorExchange(res));
  }).listen(port, '127.0.0.1');
}

/** Echoes every WebSocket message as it came; a plain GET gets 200, so a proxy can be probed. */
async function wsEcho(port: number): Promise<void> {
  const { WebSocketServer } = await import('ws');
  const server = createServer((_req, res) => res.end('ws echo\n'));
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  server.listen(port, '127.0.0.1');
}

/** The primary of WORKERS processes on one port: it forks them and serves nothing (as Signalbox's). */
function forkWorkers(count: number): void {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  for (let i = 0; i < count; i++) cluster.fork();
  // Ended by its PID: the workers go with it.
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
}

const [mode, first, ...rest] = process.argv.slice(2);
const workers = Number(process.env.WORKERS ?? 1);
if (mode === 'upstream') upstream([first, ...rest].map(Number));
else if (mode === 'proxy') proxy(Number(first), rest);
else if (mode === 'floor' && workers > 1 && cluster.isPrimary) forkWorkers(workers);
else if (mode === 'floor') floor(Number(first), rest);
else if (mode === 'ws-echo') await wsEcho(Number(first));
else throw new Error('usage: node-servers.js upstream PORT... | proxy|floor PORT TARGET... | ws-echo PORT');
