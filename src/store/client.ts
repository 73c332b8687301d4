// The one place an etcd client is configured. Every call gets a deadline, dead TCP connections
// are noticed by gRPC keepalive, and a host that failed is retried again after about a second
// (etcd3's default circuit breaker refuses calls for 5 s and more after etcd is back).
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

export interface EtcdClientOptions {
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

/** "http://a:2379,http://b:2379" or a list of such strings → one URL per endpoint. */
export function parseEndpoints(endpoints: string | readonly string[]): string[] {
  const list = (typeof endpoints === 'string' ? [endpoints] : [...endpoints])
    .flatMap((e) => e.split(','))
    .map((e) => e.trim())
    .filter((e) => e.length > 0)
    .map((e) => (/^[a-z]+:\/\//i.test(e) ? e : `http://${e}`));
  if (list.length === 0) throw new Error('no etcd endpoint given');
  return list;
}

/** A host is skipped after `threshold` consecutive recoverable failures, and tried again after `openMs`. */
function hostBreaker(threshold: number, openMs: number): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: openMs, breaker: new ConsecutiveBreaker(threshold) });
}

/**
 * Retries a call on another host (or the same one, shortly after) when it failed for a
 * transient reason or every host was being skipped. A deadline is not retried: the caller's
 * time is already spent.
 */
function globalRetry(): RetryPolicy {
  const transient = (err: Error) =>
    isBrokenCircuitError(err) || (isRecoverableError(err) && !(err instanceof GRPCDeadlineExceededError));
  return retry(handleWhen(transient), { maxAttempts: RETRY_DELAYS_MS.length, backoff: new IterableBackoff(RETRY_DELAYS_MS) });
}

export function createEtcdClient(endpoints: string | readonly string[], opts: EtcdClientOptions = {}): Etcd3 {
  const hosts = parseEndpoints(endpoints);
  const callTimeoutMs = opts.callTimeoutMs ?? 5_000;
  const threshold = opts.breakerThreshold ?? 3;
  const openMs = opts.breakerOpenMs ?? 1_000;
  return new Etcd3({
    hosts,
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
      global: globalRetry(),
    },
  });
}
