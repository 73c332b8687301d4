// The key set of a jwt policy's `jwksUrl`, fetched by the proxy and cached. Refresh rules (what
// users of other gateways ask for: rotation picked up without a restart, an identity provider's
// outage not turned into an outage of every API):
// - fetched on the first request that needs it (a proxy that never sees a token never asks);
//   requests wait for that one fetch, which gives up after FETCH_TIMEOUT_MS;
// - fresh for the answer's Cache-Control max-age, held within [cooldown, MAX_AGE_MS]
//   (DEFAULT_AGE_MS without one); once stale, the next request starts a refetch in the background
//   and is verified with the keys held;
// - a token whose `kid` is not in the set starts a refetch (key rotation) and waits for it;
// - at most one fetch per cooldown, whatever arrives: a flood of made-up `kid`s cannot turn into
//   a flood of fetches, and between fetches such tokens are refused at once;
// - a failed fetch keeps the keys held. Without any (the first fetch failed), tokens are answered
//   503 until a fetch succeeds (the client's token is not what is wrong).
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import { Agent, request } from 'undici';
import { readBounded } from './bounded-body.js';

export const FETCH_TIMEOUT_MS = 5000;
const MAX_BYTES = 1 << 20;
const DEFAULT_AGE_MS = 10 * 60_000;
const MAX_AGE_MS = 24 * 3600_000;

type KeySet = ReturnType<typeof createLocalJWKSet>;
type Key = Awaited<ReturnType<KeySet>>;

/** No key set could be fetched yet: the policy answers 503, not 401. */
export class KeysUnavailable extends Error {}

// Key sets are small and rarely fetched: a few connections per identity provider are plenty.
let agent: Agent | null = null;
const dispatcher = () => (agent ??= new Agent({ connections: 4, keepAliveTimeout: 10_000 }));

export class RemoteJwks {
  private keys: KeySet | null = null;
  private freshUntil = 0;
  private lastAttempt = -Infinity;
  private inflight: Promise<void> | null = null;

  constructor(
    private readonly url: string,
    private readonly cooldownMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** jose's key lookup: resolves the key for a token's header, or rejects as jose does. */
  readonly lookup = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Key> => {
    if (this.keys === null) {
      this.refetch();
      if (this.inflight !== null) await this.inflight;
      if (this.keys === null) throw new KeysUnavailable();
    } else if (this.now() >= this.freshUntil) {
      this.refetch();
    }
    try {
      return await this.keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      this.refetch();
      if (this.inflight === null) throw err;
      await this.inflight;
      return await this.keys(header, token);
    }
  };

  /** Start a fetch unless one runs or the last began less than a cooldown ago. */
  private refetch(): void {
    const now = this.now();
    if (this.inflight !== null || now - this.lastAttempt < this.cooldownMs) return;
    this.lastAttempt = now;
    this.inflight = fetchKeySet(this.url).then(
      ({ jwks, maxAgeMs }) => {
        this.keys = createLocalJWKSet(jwks);
        this.freshUntil = this.now() + Math.min(MAX_AGE_MS, Math.max(this.cooldownMs, maxAgeMs ?? DEFAULT_AGE_MS));
        this.inflight = null;
      },
      () => {
        // Kept: whatever keys were held. The next try waits out the cooldown.
        this.inflight = null;
      },
    );
  }
}

async function fetchKeySet(url: string): Promise<{ jwks: JSONWebKeySet; maxAgeMs: number | null }> {
  const res = await request(url, { dispatcher: dispatcher(), signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } });
  const body = await readBounded(res.body, MAX_BYTES);
  if (body === null) throw new Error(`key set larger than ${MAX_BYTES} bytes`);
  if (res.statusCode !== 200) throw new Error(`key set answered ${res.statusCode}`);
  const jwks = JSON.parse(body.toString('utf8')) as JSONWebKeySet;
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) throw new Error('not a key set: no "keys" list');
  createLocalJWKSet(jwks); // throws on a malformed set, before it replaces a good one
  return { jwks, maxAgeMs: maxAge(res.headers['cache-control']) };
}

/** Cache-Control max-age in ms; 0 for no-store/no-cache; null without either. */
function maxAge(header: string | string[] | undefined): number | null {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value === undefined) return null;
  if (/(?:^|,)\s*no-(?:store|cache)\b/i.test(value)) return 0;
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?/i.exec(value);
  return m === null ? null : Number(m[1]) * 1000;
}
