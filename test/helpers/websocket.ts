// WebSocket upstreams and clients for tests: a real `ws` echo server behind a node:http server
// that records what it was sent, and `ws` clients.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { atFileEnd } from './cleanup.js';

export interface EchoServer {
  url: string;
  server: Server;
  /** Upgrade requests that reached the server, and ordinary requests (answered 426). */
  upgrades: IncomingHttpHeaders[];
  plain: IncomingHttpHeaders[];
  /** Sessions the server has open. */
  readonly open: number;
}

/** Echoes every message as "<name>:<message>"; an ordinary request gets 426 "upgrade required". */
export async function echoServer(name: string): Promise<EchoServer> {
  const upgrades: IncomingHttpHeaders[] = [];
  const plain: IncomingHttpHeaders[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    plain.push(req.headers);
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'upgrade' });
    res.end(`${name}: upgrade required`);
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    upgrades.push(req.headers);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, binary) => ws.send(binary ? data : `${name}:${String(data)}`, { binary }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  atFileEnd(async () => {
    for (const ws of wss.clients) ws.terminate();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    upgrades,
    plain,
    get open() {
      return wss.clients.size;
    },
  };
}

export interface Refused {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A connected client, or the answer that was no 101. */
export function openWs(url: string, headers: Record<string, string> = {}, protocols: string[] = []): Promise<WebSocket | Refused> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols, { headers });
    atFileEnd(() => ws.terminate());
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.once('error', reject);
  });
}

export async function connectWs(url: string, headers: Record<string, string> = {}, protocols: string[] = []): Promise<WebSocket> {
  const ws = await openWs(url, headers, protocols);
  if (!(ws instanceof WebSocket)) throw new Error(`expected 101, got ${ws.status} ${ws.body}`);
  return ws;
}

export async function refusedWs(url: string, headers: Record<string, string> = {}): Promise<Refused> {
  const r = await openWs(url, headers);
  if (r instanceof WebSocket) {
    r.terminate();
    throw new Error('expected the upgrade to be refused, but it was switched');
  }
  return r;
}

/** Send one text message and wait for the next message back. */
export function roundTrip(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error(`closed before an answer to "${text}"`));
    ws.once('message', (data) => {
      ws.off('close', onClose);
      resolve(String(data));
    });
    ws.once('close', onClose);
    ws.send(text);
  });
}

/** Resolves with the close code when the session closes. */
export function closed(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(-1);
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}
