// What a request must be before it is routed, and the answers to what Node's HTTP parser refuses
// or hands over outside the 'request' event.
//
// Node's parser (llhttp) refuses, before any request exists, malformed request lines and
// headers, Transfer-Encoding beside Content-Length and chunked applied twice: 'clientError',
// answered here with Node's status and our JSON body. It hands over what the checks below refuse:
// a second Host line (it keeps the first), a Host that is no authority, no Host at all (the
// listeners turn Node's own check off to answer it here), "HTTP/2.0" or "HTTP/0.9" in the
// request line, and a Transfer-Encoding other than chunked (501; when chunked is not last, Node
// also fails the connection after the answer). CONNECT never reaches the handler: 'connect'.
//
// Over HTTP/2 (the TLS listener) there is no request line and no HTTP/1 framing to check: nghttp2
// refuses connection-specific fields and malformed pseudo-headers itself (RFC 9113 §8.2.2,
// §8.3). What is checked is the authority: `:authority`, else Host, must be one, and when both
// are sent they must agree (RFC 9113 §8.3.1).
import type { IncomingMessage } from 'node:http';
import { isHttp2 } from './http2-compat.js';
import type { Duplex } from 'node:stream';
import {
  BAD_HOST,
  BAD_PATH,
  BAD_REQUEST,
  BAD_VERSION,
  HEADERS_TOO_LARGE,
  METHOD_NOT_ALLOWED,
  REQUEST_TIMEOUT,
  UNSUPPORTED_TRANSFER_ENCODING,
} from './respond.js';

export interface Refusal {
  readonly status: number;
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

/** The methods a route can forward: what a 405 names in Allow. */
export const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

const CLOSE = { connection: 'close' };
export const REFUSE_HOST: Refusal = { status: 400, body: BAD_HOST, headers: CLOSE };
/** HTTP/2 has no Connection field (a stream is refused, not the connection). */
export const REFUSE_AUTHORITY: Refusal = { status: 400, body: BAD_HOST, headers: {} };
export const REFUSE_VERSION: Refusal = { status: 400, body: BAD_VERSION, headers: CLOSE };
export const REFUSE_TRANSFER_ENCODING: Refusal = { status: 501, body: UNSUPPORTED_TRANSFER_ENCODING, headers: CLOSE };
export const REFUSE_METHOD: Refusal = { status: 405, body: METHOD_NOT_ALLOWED, headers: { allow: ALLOW } };

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** RFC 3986 reg-name characters: unreserved, sub-delims (pct-encoded is checked apart). */
function isRegNameChar(c: number): boolean {
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || isDigit(c)) return true;
  switch (c) {
    case 45: // -
    case 46: // .
    case 95: // _
    case 126: // ~
    case 33: // !
    case 36: // $
    case 38: // &
    case 39: // '
    case 40: // (
    case 41: // )
    case 42: // *
    case 43: // +
    case 44: // ,
    case 59: // ;
    case 61: // =
      return true;
  }
  return false;
}

/**
 * `host [":" port]` as RFC 9110 §7.2 takes it: a reg-name or IPv4 address, or an IPv6 literal in
 * brackets; no user info, path or white space; a port of digits up to 65535. Not empty: an http
 * URI has a host (RFC 9110 §4.2.1).
 */
export function isValidAuthority(s: string): boolean {
  const n = s.length;
  let i = 0;
  if (n > 0 && s.charCodeAt(0) === 91 /* [ */) {
    const close = s.indexOf(']');
    if (close < 3) return false;
    for (let k = 1; k < close; k++) {
      const c = s.charCodeAt(k);
      if (!isHex(c) && c !== 58 /* : */ && c !== 46 /* . */) return false;
    }
    i = close + 1;
  } else {
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c === 58 /* : */) break;
      if (c === 37 /* % */) {
        if (i + 2 >= n || !isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return false;
        i += 2;
      } else if (!isRegNameChar(c)) {
        return false;
      }
    }
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (s.charCodeAt(i) !== 58 /* : */) return false;
  let port = 0;
  for (let k = i + 1; k < n; k++) {
    const c = s.charCodeAt(k);
    if (!isDigit(c)) return false;
    port = port * 10 + (c - 48);
    if (port > 65535) return false;
  }
  return true;
}

function hostLines(raw: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) count++;
  }
  return count;
}

function isChunked(te: string): boolean {
  return te === 'chunked' || (te.length === 7 && te.toLowerCase() === 'chunked');
}

/**
 * The request line and framing headers a proxy must not pass on (RFC 9112 §3.2, §6.1): null
 * when the request may be routed.
 */
export function refuseRequest(req: IncomingMessage): Refusal | null {
  if (req.httpVersionMajor !== 1) return isHttp2(req) ? refuseHttp2(req) : REFUSE_VERSION;
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && !isChunked(te)) return REFUSE_TRANSFER_ENCODING;
  const host = req.headers.host;
  if (host === undefined) {
    // HTTP/1.0 may leave Host out; 1.1 must send exactly one (RFC 9112 §3.2).
    return req.httpVersionMinor === 0 ? null : REFUSE_HOST;
  }
  if (!isValidAuthority(host) || hostLines(req.rawHeaders) !== 1) return REFUSE_HOST;
  return null;
}

function refuseHttp2(req: IncomingMessage): Refusal | null {
  const authority = req.headers[':authority'] as string | undefined;
  const host = req.headers.host;
  const named = authority ?? host;
  if (named === undefined || !isValidAuthority(named)) return REFUSE_AUTHORITY;
  if (authority !== undefined && host !== undefined && host.toLowerCase() !== authority.toLowerCase()) return REFUSE_AUTHORITY;
  return null;
}

function rawResponse(status: number, reason: string, body: Buffer, extra = ''): Buffer {
  const head =
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${body.length}\r\ncache-control: no-store\r\n${extra}connection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const CONNECT_REFUSED = rawResponse(405, 'Method Not Allowed', METHOD_NOT_ALLOWED, `allow: ${ALLOW}\r\n`);
const PARSE_ERRORS: Readonly<Record<string, Buffer>> = {
  HPE_HEADER_OVERFLOW: rawResponse(431, 'Request Header Fields Too Large', HEADERS_TOO_LARGE),
  HPE_INVALID_VERSION: rawResponse(400, 'Bad Request', BAD_VERSION),
  HPE_INVALID_URL: rawResponse(400, 'Bad Request', BAD_PATH),
  ERR_HTTP_REQUEST_TIMEOUT: rawResponse(408, 'Request Timeout', REQUEST_TIMEOUT),
};
const PARSE_ERROR_DEFAULT = rawResponse(400, 'Bad Request', BAD_REQUEST);

function answerAndClose(socket: Duplex, response: Buffer): void {
  socket.end(response, () => socket.destroy());
}

/** Server 'connect': a proxy that tunnels nothing answers CONNECT with 405 and closes. */
export function refuseConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => {});
  answerAndClose(socket, CONNECT_REFUSED);
}

/**
 * Server 'clientError' (the parser refused the bytes): Node's own answer, with our JSON body,
 * unless a response on this connection has already started (then only a close is safe).
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  socket.on('error', () => {});
  // Node's private link from the socket to the response in progress, as its own default uses.
  const inProgress = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent === true) {
    socket.destroy();
    return;
  }
  answerAndClose(socket, PARSE_ERRORS[err.code ?? ''] ?? PARSE_ERROR_DEFAULT);
}
