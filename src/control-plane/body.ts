// Request bodies, bounded: a body over its endpoint's limit is refused (413) before it is parsed,
// and JSON is refused when it nests deeper than any document this API takes.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.js';

/** A config nests about six levels; a merge patch as deep as what it patches. */
export const MAX_JSON_DEPTH = 32;

// Once the 413 is sent, node reads what the client still sends and drops it (bounded by the server's
// request timeout), so the client gets to read the answer instead of a reset connection.
const tooLarge = (maxBytes: number) => new HttpError(413, `request body over ${maxBytes} bytes (${(maxBytes / 1048576).toFixed(0)} MiB)`);

/** The whole body, or a 413 as soon as it (or its Content-Length) is over `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  if (Number(req.headers['content-length']) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.pause();
      chunks.length = 0;
      reject(tooLarge(maxBytes));
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/** Deeper than `max` levels of arrays and objects (walked without recursion). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** A JSON body; an empty one is `{}`. */
export function parseJsonBody(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  let data: unknown;
  try {
    data = text.trim() ? JSON.parse(text) : {};
  } catch (err) {
    throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`);
  }
  if (nestsDeeperThan(data, MAX_JSON_DEPTH)) throw new HttpError(400, `request body nests deeper than ${MAX_JSON_DEPTH} levels; no document of this API does`);
  return data;
}
