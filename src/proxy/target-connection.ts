// What a connection to a target is made with: the settings that identify it, and the undici
// options built from them. Two upstreams that list the same origin with the same settings share
// one target (its keep-alive connections and its health, target-registry.ts); any setting here
// that differs makes it another target, since its connections would differ.
import { createHash } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Pool } from 'undici';
import { stableStringify } from '../config/canonical.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, type Certificate, type Upstream } from '../config/schema.js';

/** An upstream's TLS to its https:// targets, resolved once per compiled upstream. */
export interface TargetTls {
  /** SNI and the name the target's certificate must hold; null: the URL's host. */
  readonly serverName: string | null;
  readonly verify: boolean;
  /** CA and client certificate; null: Node's bundled CAs and no client certificate. */
  readonly secureContext: SecureContext | null;
  /** sha256 of what the settings are made of (PEMs included), for the key. */
  readonly fingerprint: string;
}

export interface ConnectionSettings {
  /** Normalized origin, e.g. "https://10.0.0.5:8443". */
  readonly origin: string;
  readonly connectTimeoutMs: number;
  /** null for http:// targets. */
  readonly tls: TargetTls | null;
  /** HTTP/2 to the target (`http2: true`): ALPN h2 over TLS, prior knowledge (h2c) over plain TCP. */
  readonly http2: boolean;
}

/**
 * The TLS settings of an upstream, or null when it has none. `certificate` looks up the
 * certificates object named by tls.clientCertificate (validation checked that it exists).
 * Throws naming the upstream when Node refuses a PEM.
 */
export function targetTls(def: Upstream, certificate: (id: string) => Certificate | undefined): TargetTls | null {
  const tls = def.tls;
  if (tls === undefined) return null;
  const client = tls.clientCertificate === undefined ? undefined : certificate(tls.clientCertificate);
  if (tls.clientCertificate !== undefined && client === undefined) throw new Error(`upstream "${def.id}": unknown certificate "${tls.clientCertificate}"`);
  const verify = tls.insecureSkipVerify !== true;
  let secureContext: SecureContext | null = null;
  if (tls.ca !== undefined || client !== undefined) {
    try {
      secureContext = createSecureContext({ ca: tls.ca, cert: client?.cert, key: client?.key });
    } catch (err) {
      throw new Error(`upstream "${def.id}": tls: ${(err as Error).message}`);
    }
  }
  const material = { serverName: tls.serverName, verify, ca: tls.ca, cert: client?.cert, key: client?.key };
  return {
    serverName: tls.serverName ?? null,
    verify,
    secureContext,
    fingerprint: createHash('sha256').update(stableStringify(material)).digest('hex'),
  };
}

export function connectionSettings(def: Upstream, origin: string, tls: TargetTls | null): ConnectionSettings {
  return {
    origin,
    connectTimeoutMs: def.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    tls: origin.startsWith('https:') ? tls : null,
    http2: def.http2 === true,
  };
}

/** Equal keys: the same target, whichever upstream lists it. */
export function connectionKey(s: ConnectionSettings): string {
  return `${s.origin} ${s.connectTimeoutMs} ${s.tls === null ? '-' : s.tls.fingerprint}${s.http2 ? ' h2' : ''}`;
}

/**
 * The undici options of a target's connections, for its traffic Pool and its health checker's
 * own Client alike, so a check reaches the target as a request does (SNI, CA, client
 * certificate, HTTP/2). Timeouts waiting for a response are set per request (forward.ts,
 * health-check.ts). `http1`: HTTP/1.1 whatever the settings say, for upgrades (undici tunnels
 * WebSocket over HTTP/2 only as RFC 8441 CONNECT, which few servers take).
 *
 * HTTP/2 over TLS: ALPN offers h2 (and http/1.1, which a target may still pick). On a plain
 * http:// target: prior knowledge (h2c), as gRPC services inside a cluster mostly speak; every
 * connection is then HTTP/2, so requests without a body share one (undici gives a request with a
 * body, and every gRPC call is one, a connection of its own while it runs).
 */
export function dispatcherOptions(s: ConnectionSettings, http1 = false): Pool.Options {
  const connect: Record<string, unknown> = { timeout: s.connectTimeoutMs };
  if (s.tls !== null) {
    if (s.tls.serverName !== null) connect.servername = s.tls.serverName;
    if (s.tls.secureContext !== null) connect.secureContext = s.tls.secureContext;
    connect.rejectUnauthorized = s.tls.verify;
  }
  if (!s.http2 || http1) return { connect };
  if (s.tls !== null) return { connect, allowH2: true };
  // undici's own h2c switch (what its H2CClient sets); the Pool builds the connector from this.
  connect.useH2c = true;
  return { connect, allowH2: true, pipelining: H2C_STREAMS };
}

/** Requests in flight on one h2c connection (undici's H2CClient default). */
const H2C_STREAMS = 100;
