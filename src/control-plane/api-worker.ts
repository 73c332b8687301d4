// A handler thread's worker (handler-thread.ts): the API's handlers with an etcd client of their
// own, run for the calls the router sends; each reply is answered as text, each error as an
// answer (a fault of ours with its stack, for the control plane's log).
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { createEtcdClient } from '../store/client.js';
import { accessFromData } from '../store/etcd-access.js';
import { ConfigWriter } from '../store/config-writer.js';
import { Keys } from '../store/keys.js';
import { LiveConfig } from '../store/live-config.js';
import { apiRoutes } from './api.js';
import { httpErrorOf } from './errors.js';
import type { ThreadCall, ThreadReply, WorkerData } from './handler-thread.js';
import { TokenStore } from './token-store.js';

const port = parentPort!;
const data = workerData as WorkerData;
// Only level, message and fields: the control plane's logger adds its own time, pid and host.
const logger = pino({ level: data.logLevel, base: null, timestamp: false }, { write: (line: string) => port.postMessage({ log: line }) });
const client = createEtcdClient(data.etcd, accessFromData(data.etcdAccess));
const keys = new Keys(data.prefix);
// This thread's copy of the live config, kept by its own watch: read and planned against by
// every handler here, instead of reading and decoding etcd's prefix per request.
const live = new LiveConfig(client, keys, logger);
void live.start();
const writer = new ConfigWriter(client, keys, undefined, { logger, live });
const routes = new Map(apiRoutes({ client, keys, writer, tokens: new TokenStore(client, keys), logger }).map((r) => [r.id, r]));
// Nothing here waits on the client: a call that went away is answered all the same.
const signal = new AbortController().signal;

async function run(route: string, call: ThreadCall): Promise<ThreadReply> {
  try {
    const { handler } = routes.get(route)!;
    const reply = await handler({ ...call, raw: Buffer.from(call.raw.buffer, call.raw.byteOffset, call.raw.byteLength), query: call.query as never, body: call.body as never, signal });
    if (!reply) return { ok: false, status: 500, message: 'internal error: no reply', details: [], headers: {} };
    if ('text' in reply) return { ok: true, status: reply.status, text: reply.text, contentType: reply.contentType, headers: reply.headers };
    return { ok: true, status: reply.status, text: `${JSON.stringify(reply.body, null, 2)}\n`, contentType: 'application/json; charset=utf-8', headers: reply.headers };
  } catch (err) {
    const known = httpErrorOf(err);
    if (known) return { ok: false, status: known.status, message: known.message, details: known.details, headers: known.headers };
    const e = err as Error;
    return { ok: false, status: 500, message: `internal error: ${e.message}`, details: [], headers: {}, unexpected: e.stack ?? e.message };
  }
}

port.on('message', (m: { id: number; route: string; call: ThreadCall }) => {
  void run(m.route, m.call).then((reply) => port.postMessage({ id: m.id, reply }));
});
