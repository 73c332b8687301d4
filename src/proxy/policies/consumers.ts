// Who a request can be: the consumers of the config being served, compiled for the auth
// policies' lookups. A runtime has one (reused by the next runtime while the consumers are
// unchanged, so what it remembers survives swaps); a request's policies see it through
// PolicyContext.
//
// Keys are looked up by their sha256 (what the config holds), so a lookup is one hash and one
// Map read, and a key's bytes are never compared one by one. Passwords are scrypt hashes, slow on
// purpose: checked with the asynchronous scrypt (the thread pool, never the event loop), identical
// checks in flight share one, at most MAX_PENDING different ones run at once, and a success is
// remembered by a sha256 of the username and password, so a client that keeps sending the right
// password costs one sha256 a request. Failures are never remembered: what a flood of wrong
// passwords can hold is MAX_PENDING checks, and what it can fill is nothing.
import { hash, scrypt, timingSafeEqual } from 'node:crypto';
import type { Consumer } from '../../config/schema.js';
import { RecentMap } from '../../util/recent-map.js';
import { KEY_DIGEST_PREFIX, parsePasswordHash, scryptMaxmem, sha256Hex, type ScryptHash } from '../../config/secrets.js';

/** Answer of a password check that could not start: too many others are running. */
export const BUSY = 'busy';
export type BasicOutcome = string | null | typeof BUSY;

export interface ConsumerIndex {
  /** Whether a consumer with this id exists. */
  has(id: string): boolean;
  /** The consumer a presented API key belongs to; null when none. */
  byKey(key: string): string | null;
  /**
   * The consumer these basic credentials belong to, null when none, BUSY when the check could
   * not start; a promise when scrypt must run.
   */
  byBasic(username: string, password: string): BasicOutcome | Promise<BasicOutcome>;
}

/** Password checks running at once, per runtime's consumers. */
export const MAX_PENDING = 16;
/** Successful checks remembered (RecentMap: the least recently used forgotten first). */
export const MAX_REMEMBERED = 4096;

interface BasicUser {
  readonly id: string;
  readonly hash: ScryptHash;
}

function sha256(text: string): string {
  return hash('sha256', text, 'base64');
}

export class CompiledConsumers implements ConsumerIndex {
  private readonly ids: ReadonlySet<string>;
  /** hex sha256 of a key → consumer id. */
  private readonly keys = new Map<string, string>();
  private readonly users = new Map<string, BasicUser>();
  /** sha256 of a username and password that matched → consumer id. */
  private readonly verified = new RecentMap<string>(MAX_REMEMBERED);
  private readonly pending = new Map<string, Promise<BasicOutcome>>();

  constructor(consumers: readonly Consumer[]) {
    this.ids = new Set(consumers.map((c) => c.id));
    for (const c of consumers) {
      for (const k of c.keys ?? []) if (k.startsWith(KEY_DIGEST_PREFIX)) this.keys.set(k.slice(KEY_DIGEST_PREFIX.length), c.id);
      const hash = c.basic === undefined ? null : parsePasswordHash(c.basic.password);
      if (hash !== null) this.users.set(c.basic!.username, { id: c.id, hash });
    }
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  byKey(key: string): string | null {
    return this.keys.get(sha256Hex(key)) ?? null;
  }

  /** How many successful checks are remembered (tests, metrics). */
  get remembered(): number {
    return this.verified.size;
  }

  byBasic(username: string, password: string): BasicOutcome | Promise<BasicOutcome> {
    const user = this.users.get(username);
    // A name no consumer has costs no scrypt: usernames are not secrets, CPU is.
    if (user === undefined) return null;
    const token = sha256(`${username}\0${password}`);
    const known = this.verified.get(token);
    if (known !== undefined) return known;
    const running = this.pending.get(token);
    if (running !== undefined) return running;
    if (this.pending.size >= MAX_PENDING) return BUSY;
    const check = new Promise<BasicOutcome>((resolve) => {
      const h = user.hash;
      scrypt(password, h.salt, h.hash.length, { N: h.N, r: h.r, p: h.p, maxmem: scryptMaxmem(h) }, (err, derived) => {
        this.pending.delete(token);
        if (err !== null || !timingSafeEqual(derived, h.hash)) return resolve(null);
        this.verified.set(token, user.id);
        resolve(user.id);
      });
    });
    this.pending.set(token, check);
    return check;
  }
}

export const NO_CONSUMERS: ConsumerIndex = new CompiledConsumers([]);
