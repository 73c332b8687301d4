// An access-log entry as its JSON line, field by field. The same text as
// `JSON.stringify(entry) + '\n'` (a unit test holds the two equal, hostile strings included), for
// less: a line costs 0.4-0.5 µs here against JSON.stringify's 1.2-1.5 (`npm run bench:access-line`).
//
// Two things make the difference. Only the strings that may need escaping are searched for what
// JSON escapes: what a client sends (request id, method, host, path), a JWT claim's consumer and a
// target URL (a WHATWG host may hold a `"`). The rest cannot hold such a character, by how they
// are made (the unit test checks each rule): the time, the trace ids (hex), the client IP (an
// address), the protocol (digits), route and upstream ids (ID_PATTERN). And the durations,
// rounded to the microsecond, are written from integers: a double's shortest form costs ~100 ns.
import type { AccessEntry } from './access-log.js';

/** What JSON must escape, and lone surrogates (JSON.stringify escapes those; pairs pass). */
// eslint-disable-next-line no-control-regex
export const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

function num(n: number): string {
  return Number.isFinite(n) ? '' + n : 'null';
}

/**
 * A count of milliseconds rounded to the microsecond, as JSON writes it: 2.385, 2.05, 2. Its
 * microseconds are an integer and their thousandths a decimal of at most three digits, which is
 * the shortest form that reads back as the same double. Past 10^9 ms (11 days), or not a count,
 * as JSON.stringify.
 */
export function millis(n: number): string {
  if (!(n >= 0 && n < 1e9)) return num(n);
  const us = Math.round(n * 1000);
  const whole = Math.floor(us / 1000);
  let frac = us - whole * 1000;
  if (frac === 0) return '' + whole;
  let digits = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  const text = '' + frac;
  return whole + (text.length === digits ? '.' : digits - text.length === 1 ? '.0' : '.00') + text;
}

/**
 * The most UTF-8 bytes a line takes, newline included: what a pipe takes in one write whole
 * (Linux's PIPE_BUF), so the lines of workers sharing stdout never cut each other.
 */
export const MAX_LINE_BYTES = 4096;

/**
 * The fields whose length is not bounded by how they are made or checked: a path and a host as
 * long as the request's head allows, a method as HTTP/2's `:method` carries it (HTTP/1's parser
 * knows its methods), a consumer named by a JWT claim, a target from the config. The rest come
 * to a few hundred bytes at most (a request id is 128 characters), so cutting these always fits.
 */
const CLIPPED = ['path', 'host', 'method', 'consumer', 'target'] as const;

/** The line for `e`, its fields in AccessEntry's order, those that are undefined left out. */
export function accessLine(e: AccessEntry): string {
  const line = fullLine(e);
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long line is measured.
  return line.length * 3 <= MAX_LINE_BYTES || Buffer.byteLength(line) <= MAX_LINE_BYTES ? line : clippedLine(e);
}

/**
 * A line over MAX_LINE_BYTES with its longest unbounded fields cut until it fits, and
 * `"truncated":true`: the longest field first, to what the line can spare of it (JSON's escapes
 * and UTF-8 counted), then the next if that was not enough.
 */
function clippedLine(e: AccessEntry): string {
  const cut: AccessEntry = { ...e, truncated: true };
  let over = Buffer.byteLength(fullLine(cut)) - MAX_LINE_BYTES;
  const bySize = CLIPPED.filter((f) => cut[f] !== undefined).sort((a, b) => encodedBytes(cut[b]!) - encodedBytes(cut[a]!));
  for (const field of bySize) {
    if (over <= 0) break;
    const value = cut[field]!;
    const before = encodedBytes(value);
    cut[field] = prefixWithin(value, Math.max(2, before - over));
    over -= before - encodedBytes(cut[field]!);
  }
  return fullLine(cut);
}

/** UTF-8 bytes of `s` as a JSON string, quotes included. */
function encodedBytes(s: string): number {
  return Buffer.byteLength(JSON.stringify(s));
}

/** The longest prefix of `s` whose JSON string takes at most `bytes`, a surrogate pair never split. */
function prefixWithin(s: string, bytes: number): string {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (encodedBytes(s.slice(0, mid)) <= bytes) lo = mid;
    else hi = mid - 1;
  }
  const last = s.charCodeAt(lo - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? lo - 1 : lo);
}

function fullLine(e: AccessEntry): string {
  let s = '{"time":"' + e.time + '","requestId":' + str(e.requestId) + ',"traceId":"' + e.traceId + '","spanId":"' + e.spanId;
  s += '","clientIp":"' + e.clientIp + '","method":' + str(e.method);
  if (e.host !== undefined) s += ',"host":' + str(e.host);
  s += ',"path":' + str(e.path) + ',"protocol":"' + e.protocol + '","status":' + num(e.status);
  if (e.bytesIn !== undefined) s += ',"bytesIn":' + num(e.bytesIn);
  s += ',"bytesOut":' + num(e.bytesOut) + ',"durationMs":' + millis(e.durationMs);
  if (e.upstreamMs !== undefined) s += ',"upstreamMs":' + millis(e.upstreamMs);
  if (e.route !== undefined) s += ',"route":"' + e.route + '"';
  if (e.upstream !== undefined) s += ',"upstream":"' + e.upstream + '"';
  if (e.target !== undefined) s += ',"target":' + str(e.target);
  if (e.consumer !== undefined) s += ',"consumer":' + str(e.consumer);
  s += ',"retries":' + num(e.retries) + ',"version":' + num(e.version);
  return (e.truncated === true ? s + ',"truncated":true' : s) + '}\n';
}
