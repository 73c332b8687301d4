// The one place an etcd client is configured. Every call gets a deadline, dead TCP connections
// are noticed by gRPC keepalive, and a host that failed is retried again after about a second
// (etcd3's default circuit breaker refuses calls for 5 s and more after etcd is back). With an
// etcd user, an auth token etcd no longer accepts is replaced, whatever call or watch met it.
import { rootCertificates } from 'node:tls';
import {
  circuitBreaker,
  ConsecutiveBreaker,
  handleWhen,
  isBrokenCircuitError,
  IterableBackoff,
  retry,
  type CircuitBreakerPolicy,
  type RetryPolicy,
} from 'cockatiel';
import { Etcd3, GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';
import { parseEndpoints, readPem, type EtcdAccess, type EtcdTls } from './etcd-access.js';

export interface EtcdClientOptions extends EtcdAccess {
  /** Deadline of every unary call (streams have none). Default 5 s. */
  callTimeoutMs?: number;
  /** Consecutive failures after which a host is skipped. Default 3. */
  breakerThreshold?: number;
  /** How long a failing host is skipped before it is tried again. Default 1 s. */
  breakerOpenMs?: number;
  /** gRPC keepalive ping interval on connections with active streams (etcd refuses < 5 s). Default 10 s. */
  keepaliveTimeMs?: number;
  /** A ping unanswered for this long marks the connection dead. Default 5 s. */
  keepaliveTimeoutMs?: number;
}

/** Pauses before the two retries of a call that failed for a transient reason. */
const RETRY_DELAYS_MS = [50, 200];

/**
 * etcd's answers meaning "authenticate again": a simple token expired or was lost in a restart,
 * or a JWT predates a change of users or roles (etcd3 itself only renews on the first, and only
 * for unary calls).
 */
const STALE_TOKEN = /invalid auth token|revision of auth store is old/;

export function isStaleTokenError(message: string): boolean {
  return STALE_TOKEN.test(message);
}

/** A host is skipped after `threshold` consecutive recoverable failures, and tried again after `openMs`. */
function hostBreaker(threshold: number, openMs: number): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: openMs, breaker: new ConsecutiveBreaker(threshold) });
}

/**
 * Retries a call on another host (or the same one, shortly after) when it failed for a
 * transient reason or every host was being skipped, and once more with a new auth token when
 * etcd refused the one it had. A deadline is not retried: the caller's time is already spent.
 */
function globalRetry(renewToken: () => void): RetryPolicy {
  const retryable = (err: Error) =>
    isBrokenCircuitError(err) || isStaleTokenError(err.message) || (isRecoverableError(err) && !(err instanceof GRPCDeadlineExceededError));
  const policy = retry(handleWhen(retryable), { maxAttempts: RETRY_DELAYS_MS.length, backoff: new IterableBackoff(RETRY_DELAYS_MS) });
  policy.onRetry((reason) => {
    if ('error' in reason && isStaleTokenError(reason.error.message)) renewToken();
  });
  return policy;
}

/** What makes a client authenticate again on its next call (absent for clients without a user). */
const tokenRenewers = new WeakMap<Etcd3, () => void>();

/**
 * Drop the client's auth token: its next call or watch authenticates again. For a watch etcd
 * refused because of its token (a stream never sees the unary error that renews it).
 */
export function renewAuthToken(client: Etcd3): void {
  tokenRenewers.get(client)?.();
}

/**
 * etcd3 keeps the token in its connection pool's authenticator, with no public way to drop it:
 * reached here, and checked when the client is made, so an etcd3 that moved it fails at start.
 */
function tokenCacheOf(client: Etcd3): { invalidateMetadata(): void } {
  const pool: unknown = Reflect.get(client, 'pool');
  const authenticator: unknown = typeof pool === 'object' && pool !== null ? Reflect.get(pool, 'authenticator') : undefined;
  if (typeof authenticator !== 'object' || authenticator === null || typeof Reflect.get(authenticator, 'invalidateMetadata') !== 'function') {
    throw new Error('this version of etcd3 keeps its auth token where Signalbox cannot renew it');
  }
  return authenticator as { invalidateMetadata(): void };
}

/** gRPC TLS credentials: the given CA (default: Node's bundled CAs) and the client certificate, if any. */
function tlsCredentials(tls: EtcdTls): NonNullable<ConstructorParameters<typeof Etcd3>[0]>['credentials'] {
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new Error('etcd TLS: a client certificate needs its key, and a key its certificate');
  return {
    rootCertificate: tls.ca !== undefined ? readPem(tls.ca, 'etcd TLS CA') : Buffer.from(rootCertificates.join('\n')),
    certChain: tls.cert !== undefined ? readPem(tls.cert, 'etcd TLS client certificate') : undefined,
    privateKey: tls.key !== undefined ? readPem(tls.key, 'etcd TLS client key') : undefined,
  };
}

export function createEtcdClient(endpoints: string | readonly string[], opts: EtcdClientOptions = {}): Etcd3 {
  const hosts = parseEndpoints(endpoints, opts.tls ? 'https' : 'http');
  const plain = hosts.find((h) => !h.startsWith('https://'));
  if (opts.tls && plain) throw new Error(`etcd TLS options are given, but ${plain} is not an https:// endpoint`);
  const callTimeoutMs = opts.callTimeoutMs ?? 5_000;
  const threshold = opts.breakerThreshold ?? 3;
  const openMs = opts.breakerOpenMs ?? 1_000;
  let renewToken = () => {};
  const client = new Etcd3({
    hosts,
    credentials: opts.tls ? tlsCredentials(opts.tls) : undefined,
    auth: opts.auth ? { username: opts.auth.user, password: opts.auth.password } : undefined,
    grpcOptions: {
      // A ping every 10 s on connections with active streams; no answer within 5 s → the
      // connection is dead and its calls fail. etcd refuses pings more often than every 5 s
      // and, by default, pings on a connection without streams.
      'grpc.keepalive_time_ms': Math.max(5_000, opts.keepaliveTimeMs ?? 10_000),
      'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? 5_000,
      'grpc.keepalive_permit_without_calls': 0,
      // Reconnect quickly once etcd is back (gRPC's default backoff grows to 120 s).
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
      // A channel of its own per client: no reconnect backoff inherited from another one.
      'grpc.use_local_subchannel_pool': 1,
      // Whole-prefix reads and catch-up watch responses can exceed gRPC's 4 MiB default.
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
    },
    // etcd3 ignores its `dialTimeout` option; the call deadline bounds connecting as well.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      host: () => hostBreaker(threshold, openMs),
      global: globalRetry(() => renewToken()),
    },
  });
  if (opts.auth) {
    let cache: { invalidateMetadata(): void };
    try {
      cache = tokenCacheOf(client);
    } catch (err) {
      client.close();
      throw err;
    }
    renewToken = () => cache.invalidateMetadata();
    tokenRenewers.set(client, renewToken);
  }
  return client;
}
