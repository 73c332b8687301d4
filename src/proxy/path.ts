// Request path normalization, before routing: a path is routed and forwarded in one spelling, so
// no upstream can resolve it to a resource its route did not allow (`/public/../admin`).
//
// Rules (the README's routing section says the same):
//   - Percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded; every other
//     percent-encoding is kept, its hex digits uppercased (RFC 3986 §6.2.2.1 and §6.2.2.2).
//   - Repeated slashes are merged; "." and ".." segments are resolved (RFC 3986 §5.2.4), also
//     when written encoded ("%2e%2e"). A trailing "." or ".." leaves a trailing slash.
//   - Refused (400 bad_path): a ".." above the root; a "%" not followed by two hex digits; an
//     encoded NUL; a "#"; a segment "." or ".." followed by ";" ("..;/", which Tomcat and Jetty
//     read as ".." once they drop the path parameter).
//   - An encoded slash ("%2F") or backslash ("%5C", or a raw "\", which becomes "%5C") is kept
//     encoded, is part of its segment for routing and dot-segment resolution, and is reported in
//     `encodedSlash`: the handler refuses it unless the matched route sets allowEncodedSlashes.
//   - The query string is kept exactly as sent.
//
// The common path (no "%", no "\", no "//", no dot segment) is found in one scan and returned
// as the same string: no allocation.

/** Where normalizePath writes its answer; one per handler, reused by every request. */
export interface NormalizedPath {
  /** The path to route on and to forward, query string included. */
  path: string;
  /** The path holds an encoded "/" or "\" (kept encoded). */
  encodedSlash: boolean;
}

const SLASH = 47; // "/"
const DOT = 46; // "."
const PERCENT = 37; // "%"
const HASH = 35; // "#"
const SEMICOLON = 59; // ";"
const BACKSLASH = 92; // "\"

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === DOT || c === 95 || c === 126;
}

/** True when the character after a "/" at `i` starts a segment "." or ".." (or "..;"). */
function dotSegmentAt(path: string, i: number, end: number): boolean {
  if (i >= end || path.charCodeAt(i) !== DOT) return false;
  let j = i + 1;
  if (j < end && path.charCodeAt(j) === DOT) j++;
  if (j >= end) return true;
  const c = path.charCodeAt(j);
  return c === SLASH || c === SEMICOLON;
}

/**
 * Normalize an origin-form request target ("/..." with an optional query). Returns false when
 * the path cannot be normalized safely; otherwise fills `out`.
 */
export function normalizePath(target: string, out: NormalizedPath): boolean {
  let end = target.indexOf('?');
  if (end < 0) end = target.length;
  // The fast scan stops at the first character that needs the full pass.
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === SLASH) {
      const next = i + 1;
      if (next < end && target.charCodeAt(next) === SLASH) return normalizeSlow(target, end, out);
      if (dotSegmentAt(target, next, end)) return normalizeSlow(target, end, out);
    } else if (c === PERCENT || c === BACKSLASH || c === HASH) {
      return normalizeSlow(target, end, out);
    }
  }
  out.path = target;
  out.encodedSlash = false;
  return true;
}

function normalizeSlow(target: string, end: number, out: NormalizedPath): boolean {
  const segments: string[] = [];
  let encodedSlash = false;
  let trailingSlash = false;
  // target[0] is "/": each segment starts after a "/".
  let i = 1;
  for (;;) {
    let seg = '';
    let segEnd = i;
    while (segEnd < end && target.charCodeAt(segEnd) !== SLASH) segEnd++;
    let runStart = i;
    for (let k = i; k < segEnd; k++) {
      const c = target.charCodeAt(k);
      if (c === PERCENT) {
        if (k + 2 >= segEnd) return false;
        const hi = hexValue(target.charCodeAt(k + 1));
        const lo = hexValue(target.charCodeAt(k + 2));
        if (hi < 0 || lo < 0) return false;
        const v = hi * 16 + lo;
        if (v === 0) return false;
        seg += target.slice(runStart, k);
        if (isUnreserved(v)) {
          seg += String.fromCharCode(v);
        } else {
          if (v === SLASH || v === BACKSLASH) encodedSlash = true;
          seg += `%${HEX[hi]}${HEX[lo]}`;
        }
        k += 2;
        runStart = k + 1;
      } else if (c === BACKSLASH) {
        seg += `${target.slice(runStart, k)}%5C`;
        encodedSlash = true;
        runStart = k + 1;
      } else if (c === HASH) {
        return false;
      }
    }
    seg += target.slice(runStart, segEnd);

    const last = segEnd >= end;
    if (seg === '.' || seg === '..') {
      if (seg === '..' && segments.pop() === undefined) return false;
      if (last) trailingSlash = true;
    } else if (seg.length === 0) {
      // "//" merges; an empty last segment is a trailing slash.
      if (last) trailingSlash = true;
    } else {
      if (seg.charCodeAt(0) === DOT && (seg.startsWith('.;') || seg.startsWith('..;'))) return false;
      segments.push(seg);
    }
    if (last) break;
    i = segEnd + 1;
  }

  let path = `/${segments.join('/')}`;
  if (trailingSlash && segments.length > 0) path += '/';
  out.path = end < target.length ? path + target.slice(end) : path;
  out.encodedSlash = encodedSlash;
  return true;
}
