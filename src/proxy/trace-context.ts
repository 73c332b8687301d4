// W3C Trace Context (https://www.w3.org/TR/trace-context/): the proxy is one hop of the
// client's trace. It keeps the trace id and the sampled flag it was given and sends its own span
// id upstream as the parent, so the upstream's spans hang under the proxy's. A missing or
// malformed traceparent starts a new trace, sampled with the probability `--trace-sample` gives
// (default 0: without a tracing backend nobody records it), and a tracestate that came with a
// malformed traceparent is dropped, as the spec asks. The spans of sampled requests are what
// span-export.ts sends to an OTLP collector.
import { randomFillSync } from 'node:crypto';

export interface TraceContext {
  /** 32 lowercase hex digits. */
  readonly traceId: string;
  /** The proxy's span: the parent id sent upstream. 16 hex digits. */
  readonly spanId: string;
  /** The client's span, when it sent a valid traceparent. */
  readonly parentId: string | null;
  /** The traceparent header sent upstream. */
  readonly header: string;
  /** Whether the client's tracestate goes on (only beside a valid traceparent). */
  readonly keepsState: boolean;
  /** The sampled flag: the trace is recorded (its span exported, when there is a collector). */
  readonly sampled: boolean;
}

// version-traceid-parentid-flags; a future version may append fields after another "-".
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-|$)/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

// Ids come from one buffer of random bytes refilled when used up: a request costs a slice, not
// a call into the CSPRNG.
const pool = Buffer.allocUnsafe(4096);
let used = pool.length;

function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex;
}

function newSpanId(): string {
  let id = randomHex(8);
  while (id === ZERO_SPAN) id = randomHex(8);
  return id;
}

/**
 * The context of the proxy's hop for a request whose traceparent header is `sent`; a new trace is
 * sampled with probability `sampleNew`.
 */
export function childContext(sent: string | string[] | undefined, sampleNew = 0): TraceContext {
  const spanId = newSpanId();
  const parsed = typeof sent === 'string' ? TRACEPARENT.exec(sent) : null;
  if (parsed !== null) {
    const [, version, traceId, parentId, flags, more] = parsed as unknown as [string, string, string, string, string, string];
    // Version 00 has exactly four fields; ff is forbidden; all-zero ids are invalid.
    const valid = version !== 'ff' && !(version === '00' && more !== '') && traceId !== ZERO_TRACE && parentId !== ZERO_SPAN;
    if (valid) {
      // Version 00 defines one flag, "sampled"; the others are not passed on under it.
      const sampled = (parseInt(flags, 16) & 1) === 1;
      return { traceId, spanId, parentId, header: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`, keepsState: true, sampled };
    }
  }
  const traceId = randomHex(16);
  const sampled = sampleNew > 0 && Math.random() < sampleNew;
  return { traceId, spanId, parentId: null, header: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`, keepsState: false, sampled };
}
