// Bearer-token check. Tokens are compared as sha256 digests in constant time, so neither a
// token's length nor its prefix leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.js';

export interface Principal {
  name: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** null token → authentication disabled (`--insecure`), every caller is "anonymous". */
export function bearerAuth(token: string | null): (req: IncomingMessage) => Principal {
  if (token === null) return () => ({ name: 'anonymous' });
  const expected = digest(token);
  return (req) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new HttpError(401, match ? 'invalid token' : 'missing bearer token', [], { 'www-authenticate': 'Bearer' });
    }
    return { name: 'admin' };
  };
}
