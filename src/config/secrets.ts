// Consumers' secrets as the config holds them: an API key as `sha256:<hex>` of the key, a password
// as an scrypt hash `scrypt$<N>$<r>$<p>$<salt>$<hash>` (base64url). Plain input is turned into
// these forms when a document is normalized (validate.ts), so etcd, every answer, export, history
// and diffs only ever hold them; a stored form given back is kept as it is, so an exported
// document applies unchanged.
import { hash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

export const KEY_DIGEST_PREFIX = 'sha256:';
const KEY_DIGEST = /^sha256:[0-9a-f]{64}$/;
/** A plain key this short could be guessed back from its sha256, which is shown. */
export const MIN_KEY_CHARS = 16;

export function isKeyDigest(key: string): boolean {
  return KEY_DIGEST.test(key);
}

/** What the proxy looks a presented key up by (hex sha256), once per request. */
export function sha256Hex(text: string): string {
  // One-shot: a third of createHash's cost (no Hash object per call).
  return hash('sha256', text);
}

/** The stored form of a key: itself when it already is one. */
export function keyDigest(key: string): string {
  return isKeyDigest(key) ? key : `${KEY_DIGEST_PREFIX}${sha256Hex(key)}`;
}

/** A short, safe name for a secret in messages: the first hex digits of its stored form's digest. */
export function fingerprint(stored: string): string {
  return `sha256:${sha256Hex(stored).slice(0, 12)}`;
}

export interface ScryptHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Node's defaults (about 50 ms and 16 MiB a hash): slow on purpose, see the basic-auth policy. */
const SCRYPT_N = 16384;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const HASH_BYTES = 32;
// Bounds on what a stored hash may ask of a proxy: N ≤ 2^17 and r ≤ 16 keep one check under
// 256 MiB and a few hundred ms, whoever wrote the hash.
const MAX_N = 1 << 17;
const MAX_R = 16;
const MAX_P = 4;
const B64URL = '[A-Za-z0-9_-]';
const SCRYPT_FORM = new RegExp(`^scrypt\\$(\\d{1,7})\\$(\\d{1,2})\\$(\\d)\\$(${B64URL}{16,88})\\$(${B64URL}{22,88})$`);

export const PASSWORD_HASH_PREFIX = 'scrypt$';

/** The parts of a stored password hash; null when `text` is not one (or asks too much). */
export function parsePasswordHash(text: string): ScryptHash | null {
  const m = SCRYPT_FORM.exec(text);
  if (m === null) return null;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < 2 || N > MAX_N || (N & (N - 1)) !== 0 || r < 1 || r > MAX_R || p < 1 || p > MAX_P) return null;
  return { N, r, p, salt: Buffer.from(m[4]!, 'base64url'), hash: Buffer.from(m[5]!, 'base64url') };
}

/** What a stored hash's parameters need of scrypt's memory limit (Node refuses past maxmem). */
export function scryptMaxmem(h: Pick<ScryptHash, 'N' | 'r' | 'p'>): number {
  return 128 * h.N * h.r * (h.p + 2) + 1024;
}

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, HASH_BYTES, { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, maxmem: scryptMaxmem({ N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P }) });
  return `${PASSWORD_HASH_PREFIX}${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Synchronous: for the control plane's writes only, never a proxy's requests. */
export function passwordMatchesSync(password: string, stored: string): boolean {
  const h = parsePasswordHash(stored);
  if (h === null) return false;
  const got = scryptSync(password, h.salt, h.hash.length, { N: h.N, r: h.r, p: h.p, maxmem: scryptMaxmem(h) });
  return timingSafeEqual(got, h.hash);
}

/**
 * The stored form of a password: itself when it already is a hash; else the hash `previous` (the
 * one stored for this consumer) when the password matches it, so applying the same plain
 * password again changes nothing; else a new hash.
 */
export function passwordHashOf(password: string, previous: string | undefined): string {
  if (password.startsWith(PASSWORD_HASH_PREFIX)) return password;
  if (previous !== undefined && passwordMatchesSync(password, previous)) return previous;
  return hashPassword(password);
}
