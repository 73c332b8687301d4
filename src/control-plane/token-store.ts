// API tokens in etcd: `<prefix>/tokens/<name>` holds a token's role, its expiry and the sha256 of
// its secret. The secret itself is answered once, at creation, and stored nowhere. When a token
// was last used goes to `<prefix>/token-used/<name>`, at most once a minute per control plane, and
// only while the token it belongs to still exists (a use racing a delete never brings it back).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { z } from 'zod';
import { buf, createIs, deleteOp, kvKey, kvValue, prefixEnd, putOp } from '../store/kv.js';
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
  expiresAt: z.string().optional(),
});
type StoredToken = z.infer<typeof storedTokenSchema>;

/** A use is recorded at most this often per token and control plane: a request is not an etcd write. */
export const LAST_USED_EVERY_MS = 60_000;

/** The holder of a presented token, or why it is refused. */
export type TokenLookup = { principal: Principal } | { expired: { name: string; at: string } } | null;

export class TokenExistsError extends Error {
  constructor(readonly tokenName: string) {
    super(`a token named "${tokenName}" exists already`);
  }
}

export class TokenStore {
  /** Token name → when this process last recorded its use (ms). */
  private readonly recorded = new Map<string, number>();

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new token with a fresh secret; TokenExistsError when the name is taken. */
  async create(name: string, role: Role, createdBy: string, opts: { purpose?: TokenInfo['for']; ttlSeconds?: number } = {}): Promise<{ info: TokenInfo; token: string }> {
    const token = `sbx_${randomBytes(24).toString('base64url')}`;
    const created = this.now();
    const info: TokenInfo = {
      name,
      role,
      ...(opts.purpose ? { for: opts.purpose } : {}),
      createdAt: new Date(created).toISOString(),
      createdBy,
      ...(opts.ttlSeconds !== undefined ? { expiresAt: new Date(created + opts.ttlSeconds * 1000).toISOString() } : {}),
    };
    const stored: StoredToken = { ...info, sha256: tokenDigest(token).toString('hex') };
    const key = this.keys.token(name);
    const res = await this.client.kv.txn({ compare: [createIs(key, 0)], success: [putOp(key, JSON.stringify(stored))], failure: [] });
    if (!res.succeeded) throw new TokenExistsError(name);
    return { info, token };
  }

  async list(): Promise<TokenInfo[]> {
    const [tokens, used] = await Promise.all([this.readAll(), this.readUsed()]);
    return tokens.map(({ token: { sha256: _, ...info } }) => {
      const lastUsedAt = used.get(info.name);
      return lastUsedAt ? { ...info, lastUsedAt } : info;
    });
  }

  /** false when there was no such token. */
  async delete(name: string): Promise<boolean> {
    const res = await this.client.kv.txn({ compare: [], success: [deleteOp(this.keys.token(name)), deleteOp(this.keys.tokenUsed(name))], failure: [] });
    return Number(res.responses[0]!.response_delete_range.deleted) > 0;
  }

  /**
   * Who holds the token whose sha256 is `digest` (every record is compared, in constant time), or
   * that it expired; a use of a valid token is recorded in the background.
   */
  async find(digest: Buffer): Promise<TokenLookup> {
    let found: { token: StoredToken; createRevision: number } | null = null;
    for (const t of await this.readAll()) {
      if (timingSafeEqual(Buffer.from(t.token.sha256, 'hex'), digest)) found = t;
    }
    if (found === null) return null;
    const { token } = found;
    if (token.expiresAt !== undefined && Date.parse(token.expiresAt) <= this.now()) return { expired: { name: token.name, at: token.expiresAt } };
    this.recordUse(token.name, found.createRevision);
    return { principal: { name: token.name, role: token.role, gitops: token.for === 'gitops' } };
  }

  /** Throttled, never awaited by the request, and only while the token is the one that was read. */
  private recordUse(name: string, createRevision: number): void {
    const now = this.now();
    if (now - (this.recorded.get(name) ?? -Infinity) < LAST_USED_EVERY_MS) return;
    this.recorded.set(name, now);
    void this.client.kv
      .txn({ compare: [createIs(this.keys.token(name), createRevision)], success: [putOp(this.keys.tokenUsed(name), new Date(now).toISOString())], failure: [] })
      .catch(() => this.recorded.delete(name));
  }

  private async readAll(): Promise<{ token: StoredToken; createRevision: number }[]> {
    const res = await this.client.kv.range({ key: buf(this.keys.tokensPrefix), range_end: prefixEnd(this.keys.tokensPrefix) });
    const out: { token: StoredToken; createRevision: number }[] = [];
    for (const kv of res.kvs) {
      const token = parseStored(storedTokenSchema, kvValue(kv));
      if (token !== null) out.push({ token, createRevision: Number(kv.create_revision) });
    }
    return out;
  }

  private async readUsed(): Promise<Map<string, string>> {
    const res = await this.client.kv.range({ key: buf(this.keys.tokenUsedPrefix), range_end: prefixEnd(this.keys.tokenUsedPrefix) });
    return new Map(res.kvs.map((kv) => [kvKey(kv).slice(this.keys.tokenUsedPrefix.length), kvValue(kv)]));
  }
}
