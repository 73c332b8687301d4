// API tokens in etcd: `<prefix>/tokens/<name>` holds a token's role and the sha256 of its secret.
// The secret itself is answered once, at creation, and stored nowhere.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { z } from 'zod';
import { buf, createIs, kvValue, prefixEnd, putOp } from '../store/kv.js';
import type { Keys } from '../store/keys.js';
import { ROLES, TOKEN_PURPOSES, type Role, type TokenInfo } from '../api/schemas.js';
import { tokenDigest, type Principal } from './auth.js';
import { parseStored } from './stored-record.js';

const storedTokenSchema = z.object({
  name: z.string(),
  role: z.enum(ROLES),
  for: z.enum(TOKEN_PURPOSES).optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string().default(''),
  createdBy: z.string().default(''),
});
type StoredToken = z.infer<typeof storedTokenSchema>;

export class TokenExistsError extends Error {
  constructor(readonly tokenName: string) {
    super(`a token named "${tokenName}" exists already`);
  }
}

export class TokenStore {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
  ) {}

  /** A new token with a fresh secret; TokenExistsError when the name is taken. */
  async create(name: string, role: Role, createdBy: string, purpose?: TokenInfo['for']): Promise<{ info: TokenInfo; token: string }> {
    const token = `sbx_${randomBytes(24).toString('base64url')}`;
    const info: TokenInfo = { name, role, ...(purpose ? { for: purpose } : {}), createdAt: new Date().toISOString(), createdBy };
    const stored: StoredToken = { ...info, sha256: tokenDigest(token).toString('hex') };
    const key = this.keys.token(name);
    const res = await this.client.kv.txn({ compare: [createIs(key, 0)], success: [putOp(key, JSON.stringify(stored))], failure: [] });
    if (!res.succeeded) throw new TokenExistsError(name);
    return { info, token };
  }

  async list(): Promise<TokenInfo[]> {
    return (await this.readAll()).map(({ name, role, for: purpose, createdAt, createdBy }) => ({ name, role, ...(purpose ? { for: purpose } : {}), createdAt, createdBy }));
  }

  /** false when there was no such token. */
  async delete(name: string): Promise<boolean> {
    const res = await this.client.delete().key(this.keys.token(name)).exec();
    return Number(res.deleted) > 0;
  }

  /** Who holds the token whose sha256 is `digest`; every record is compared, in constant time. */
  async find(digest: Buffer): Promise<Principal | null> {
    let found: Principal | null = null;
    for (const t of await this.readAll()) {
      if (timingSafeEqual(Buffer.from(t.sha256, 'hex'), digest)) found = { name: t.name, role: t.role, gitops: t.for === 'gitops' };
    }
    return found;
  }

  private async readAll(): Promise<StoredToken[]> {
    const res = await this.client.kv.range({ key: buf(this.keys.tokensPrefix), range_end: prefixEnd(this.keys.tokensPrefix) });
    return res.kvs.map((kv) => parseStored(storedTokenSchema, kvValue(kv))).filter((t): t is StoredToken => t !== null);
  }
}
