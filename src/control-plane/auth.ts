// Who is calling and what they may do. Roles are ordered: viewer (read) < editor (write config)
// < admin (tokens). Bearer tokens are compared as sha256 digests in constant time, so neither a
// token's length nor its prefix leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ROLES, type Role } from '../api/schemas.js';
import { HttpError } from './http.js';
import type { TokenLookup } from './token-store.js';

export interface Principal {
  /** Recorded as the author of every version this caller writes. */
  name: string;
  role: Role;
  /** A token made for the GitOps agent (`--for gitops`). */
  gitops: boolean;
}

/** The caller of `req` if it holds at least `need`; rejects with 401 (no valid token) or 403 (role too low). */
export type Authenticate = (req: IncomingMessage, need: Role) => Promise<Principal>;

export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** The bearer token of a request, or null when there is none. */
export function bearerToken(req: IncomingMessage): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return match ? match[1]! : null;
}

export function requireRole(principal: Principal, need: Role): Principal {
  if (ROLES.indexOf(principal.role) < ROLES.indexOf(need)) {
    throw new HttpError(403, `token "${principal.name}" has role ${principal.role}; this needs ${need}`);
  }
  return principal;
}

/** The token of `--admin-token-file`: an admin, recorded as author under this name. */
export const BOOTSTRAP_NAME = 'admin';

const unauthorized = (message: string) => new HttpError(401, message, [], { 'www-authenticate': 'Bearer' });

/**
 * The bootstrap token, then the token store (`lookup` by the sha256 of the presented token). The
 * store is asked on every request, so a deleted token stops working at once. A null bootstrap
 * token disables authentication (`--insecure`): every caller is an anonymous admin.
 */
export function tokenAuth(bootstrap: string | null, lookup: (digest: Buffer) => Promise<TokenLookup>): Authenticate {
  if (bootstrap === null) return async () => ({ name: 'anonymous', role: 'admin', gitops: false });
  const expected = tokenDigest(bootstrap);
  return async (req, need) => {
    const presented = bearerToken(req);
    if (presented === null) throw unauthorized('missing bearer token');
    const digest = tokenDigest(presented);
    if (timingSafeEqual(digest, expected)) return requireRole({ name: BOOTSTRAP_NAME, role: 'admin', gitops: false }, need);
    const found = await lookup(digest);
    if (found === null) throw unauthorized('invalid token');
    if ('expired' in found) throw unauthorized(`token "${found.expired.name}" expired at ${found.expired.at}; an admin can create a new one`);
    return requireRole(found.principal, need);
  };
}
