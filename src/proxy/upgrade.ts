// Upgrade requests (WebSocket, and any other `Upgrade` but h2c): Node hands them over on the
// server's 'upgrade' event with the raw socket. They go through the same front half as every
// request (handler.ts createAdmission: strict HTTP, path normalization, routing, policies), with
// a ServerResponse written onto that socket for whatever the proxy answers itself; then the
// exchange (forward.ts) sends them to a target with undici's `upgrade`, so connect failures,
// retries to another target and passive health work as for any request.
//
// - A 101 from the target: the 101 goes to the client, and from then on the two sockets are
//   piped both ways (pipe(): a side that does not read pauses the other). The session holds no
//   runtime and no pool: the runtime is released at the 101, and undici has already detached
//   the socket from its pool. So a session outlives any number of config swaps, including one
//   that removes its route or its upstream, and ends only when either side closes it (or the
//   proxy's drain timeout cuts it: listeners.ts).
// - Any other answer from the target is passed on as an ordinary response, and the connection
//   closes after it.
// - Not upgraded, but forwarded as an ordinary request without Upgrade (a server may ignore
//   Upgrade, RFC 9110 §7.8): on a route with `websocket: false`, and `Upgrade: h2c`, which would
//   let one tunnel carry requests that no route or policy ever sees.
// - An upgrade request with a body is refused (400): Node has already stopped parsing the
//   connection as HTTP, so the body cannot be told apart from the new protocol.
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { Exchange, clientResponseHeaders, requestHasBody } from './forward.js';
import { acquireRuntime, createAdmission, createRecorder, emptyAdmission, finalStatus, routeAction, type ProxyHandlerOptions } from './handler.js';
import { BAD_GATEWAY, BAD_REQUEST, sendJson } from './respond.js';
import type { PolicyContext } from './policies/index.js';
import type { UpstreamArm } from './route-actions.js';
import type { CompiledRoute, RuntimeHolder } from './runtime.js';

function noop(): void {}

/** After one side of a session closed, how long the other may take to flush what it was sent. */
const FLUSH_MS = 10_000;

/** The Upgrade header's protocols without h2c (see top); null when none is left. */
export function upgradeProtocols(value: string | undefined): string | null {
  if (value === undefined) return null;
  if (!/h2c/i.test(value)) return value;
  const kept = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0 && p.toLowerCase() !== 'h2c');
  return kept.length === 0 ? null : kept.join(', ');
}

/** The exchange of an upgrade request: an ordinary one until the target switches protocols. */
class UpgradeExchange extends Exchange {
  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    route: CompiledRoute,
    arm: UpstreamArm,
    path: string,
    headers: string[],
    logger: ProxyHandlerOptions['logger'],
    clientIp: string,
    policy: PolicyContext | null,
    protocols: string,
    private readonly client: Duplex,
    private readonly head: Buffer,
    private readonly switched: (client: Duplex, upstream: Duplex) => void,
  ) {
    super(req, res, route, arm, path, headers, logger, clientIp, policy, protocols);
  }

  onRequestUpgrade(_controller: Dispatcher.DispatchController, _statusCode: number, headers: IncomingHttpHeaders, upstream: Duplex): void {
    this.switchedProtocols();
    upstream.on('error', noop);
    if (this.stopped || this.client.destroyed) {
      upstream.destroy();
      return;
    }
    // From here the socket is the session's, not the response's.
    this.res.detachSocket(this.client as Socket);
    this.client.write(switchingProtocols(headers));
    if (this.head.length > 0) upstream.write(this.head);
    this.switched(this.client, upstream);
  }

}

/**
 * The 101 for the client: the target's fields, hop-by-hop ones dropped but for the two that make
 * the switch (Connection and Upgrade are per hop, and this hop switches too). The values come
 * from undici's parser, which refuses CR and LF in them.
 */
function switchingProtocols(headers: IncomingHttpHeaders): string {
  let head = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n';
  if (headers.upgrade !== undefined) head += `Upgrade: ${String(headers.upgrade)}\r\n`;
  const fields = clientResponseHeaders(headers);
  for (const name in fields) {
    const value = fields[name]!;
    if (Array.isArray(value)) for (const v of value) head += `${name}: ${v}\r\n`;
    else head += `${name}: ${String(value)}\r\n`;
  }
  return `${head}\r\n`;
}

/**
 * Pipe an upgraded session both ways until either side closes; then the other is ended once it
 * has flushed what it was sent (destroyed after FLUSH_MS if it cannot). `closed` runs once.
 */
function tunnel(client: Duplex, upstream: Duplex, closed: () => void): void {
  client.pipe(upstream);
  upstream.pipe(client);
  let open = 2;
  const onClose = (other: Duplex) => () => {
    if (!other.destroyed) {
      const timer = setTimeout(() => other.destroy(), FLUSH_MS).unref();
      other.once('close', () => clearTimeout(timer));
      // A net.Socket ends once its queued writes are out; any other Duplex is ended outright.
      const socket = other as Partial<Socket>;
      if (typeof socket.destroySoon === 'function') socket.destroySoon();
      else other.end();
    }
    if (--open === 0) closed();
  };
  client.once('close', onClose(upstream));
  upstream.once('close', onClose(client));
}

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Server 'upgrade': see the top of this file. */
export function createUpgradeHandler(holder: RuntimeHolder, opts: ProxyHandlerOptions): UpgradeHandler {
  const { logger, metrics } = opts;
  const admit = createAdmission(opts);
  const record = createRecorder(metrics, opts.accessLog ?? null, opts.spans ?? null);

  return function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const start = performance.now();
    socket.on('error', noop);
    // The proxy's own answers, and a target's answer that is no 101, go out through this; the
    // connection closes after it (Node adds Connection: close).
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => socket.end());

    const rt = acquireRuntime(holder, req, res, record, start);
    if (rt === null) return;
    const admission = emptyAdmission();
    let exchange: Exchange | null = null;
    let settled = false;
    // Once per request: at the 101, or when the response closes without one.
    const settle = (status: number): void => {
      if (settled) return;
      settled = true;
      rt.release();
      record(rt, req, res, admission, exchange, status, start);
    };
    res.once('close', () => {
      if (exchange !== null) exchange.clientClosed();
      settle(finalStatus(res));
    });
    const switched = (client: Duplex, upstream: Duplex): void => {
      const route = admission.route!.id;
      settle(101);
      metrics.upgraded(route);
      tunnel(client, upstream, () => metrics.upgradeClosed());
    };

    const fail = (err: unknown): void => {
      logger.error({ err, route: admission.route?.id }, 'proxy upgrade handler failed');
      if (!res.headersSent) sendJson(res, 502, BAD_GATEWAY);
      else socket.destroy();
    };
    const forward = (): void => {
      // A policy that waited may have outlived the client.
      if (res.destroyed || res.headersSent || socket.destroyed) return;
      const up = routeAction(req, res, admission);
      if (up === null) return;
      const route = admission.route!;
      const protocols = route.upgrades ? upgradeProtocols(req.headers.upgrade) : null;
      const { clientIp, policy } = admission;
      exchange =
        protocols === null
          ? new Exchange(req, res, route, up.arm, up.path, up.headers, logger, clientIp, policy)
          : new UpgradeExchange(req, res, route, up.arm, up.path, up.headers, logger, clientIp, policy, protocols, socket, head, switched);
      exchange.start();
    };

    try {
      if (requestHasBody(req)) {
        sendJson(res, 400, BAD_REQUEST);
        return;
      }
      const admitted = admit(rt, req, res, start, admission);
      if (admitted === true) forward();
      else if (admitted !== false) admitted.then((ok) => ok && forward()).catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}
