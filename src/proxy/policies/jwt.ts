// jwt: a request passes with a token that verifies (signature by a key of the policy's source,
// an allowed algorithm, exp/nbf within clockSkewS, issuer and audience when set). Keys and
// algorithms are tied in the schema (src/config/policies/jwt.ts); jose refuses `none` and a key
// of the wrong type for an algorithm besides. The token is read from `Authorization: Bearer`,
// or from the policy's `cookie` when there is no such header (browsers cannot send the header on
// navigations). Query parameters are not read: URLs end up in access logs, and tokens with them.
import { createPublicKey } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwtVerify, createLocalJWKSet, type JWTPayload, type JWTVerifyOptions, type JWTVerifyGetKey } from 'jose';
import { DEFAULT_CLOCK_SKEW_S, DEFAULT_JWKS_COOLDOWN_S, jwtAlgorithms, type JwtPolicy } from '../../config/policies/index.js';
import { DEFAULT_CONSUMER_HEADER } from '../../config/fields.js';
import { cookieValue } from '../balancers/hash-key.js';
import { AUTH_UNAVAILABLE, UNAUTHORIZED, sendJson } from '../respond.js';
import { KeysUnavailable, RemoteJwks } from './jwks-cache.js';
import { CONTINUE, HANDLED, type PolicyContext, type PolicyInstance, type PolicyResult } from './types.js';

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i;
/** What may go into a header value (RFC 9110 field-value, without obs-text). */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
// RFC 6750 §3: no error code when the request carried no token, invalid_token when it did.
const NO_TOKEN = { 'www-authenticate': 'Bearer' };
const INVALID_TOKEN = { 'www-authenticate': 'Bearer error="invalid_token"' };

type VerifyKey = Parameters<typeof jwtVerify>[1] | JWTVerifyGetKey;

function keyOf(def: JwtPolicy): VerifyKey {
  if (def.secret !== undefined) return new TextEncoder().encode(def.secret);
  if (def.publicKey !== undefined) return createPublicKey(def.publicKey);
  if (def.jwks !== undefined) return createLocalJWKSet(def.jwks as Parameters<typeof createLocalJWKSet>[0]);
  if (def.jwksUrl !== undefined) return new RemoteJwks(def.jwksUrl, (def.jwksCooldownS ?? DEFAULT_JWKS_COOLDOWN_S) * 1000).lookup;
  // Validation fills a secret left out from the store, or refuses the policy.
  throw new Error(`policy "${def.id}": no key`);
}

/** A claim as a header value: strings as they are, anything else as JSON; null when it cannot be one. */
function headerValue(claim: unknown): string | null {
  if (claim === undefined || claim === null) return null;
  const text = typeof claim === 'string' ? claim : JSON.stringify(claim);
  return FIELD_VALUE.test(text) ? text : null;
}

export class Jwt implements PolicyInstance {
  readonly id: string;
  readonly type = 'jwt';
  private readonly key: VerifyKey;
  private readonly options: JWTVerifyOptions;
  private readonly claimHeaders: [claim: string, header: string][];
  /** Where the consumer named by `consumerClaim` goes upstream; none without a consumerClaim. */
  readonly consumerHeader: string | undefined;

  constructor(private readonly def: JwtPolicy) {
    this.id = def.id;
    this.consumerHeader = def.consumerClaim === undefined ? undefined : (def.consumerHeader ?? DEFAULT_CONSUMER_HEADER).toLowerCase();
    this.key = keyOf(def);
    this.options = {
      algorithms: jwtAlgorithms(def),
      clockTolerance: def.clockSkewS ?? DEFAULT_CLOCK_SKEW_S,
      ...(def.issuer === undefined ? {} : { issuer: def.issuer }),
      ...(def.audience === undefined ? {} : { audience: def.audience }),
    };
    this.claimHeaders = Object.entries(def.claimsToHeaders ?? {});
  }

  private tokenOf(req: IncomingMessage): string | null {
    const auth = req.headers.authorization;
    if (auth !== undefined) return BEARER.exec(auth)?.[1] ?? null;
    return this.def.cookie === undefined ? null : cookieValue(req.headers.cookie, this.def.cookie);
  }

  handle(req: IncomingMessage, res: ServerResponse, ctx: PolicyContext): PolicyResult | Promise<PolicyResult> {
    const token = this.tokenOf(req);
    if (token === null) {
      sendJson(res, 401, UNAUTHORIZED, NO_TOKEN);
      return HANDLED;
    }
    // jwtVerify's overloads split on the key's kind; both kinds are handled the same way.
    return jwtVerify(token, this.key as Uint8Array, this.options).then(
      ({ payload }) => this.pass(payload, res, ctx),
      (err: unknown) => {
        sendJson(res, err instanceof KeysUnavailable ? 503 : 401, err instanceof KeysUnavailable ? AUTH_UNAVAILABLE : UNAUTHORIZED, INVALID_TOKEN);
        return HANDLED;
      },
    );
  }

  private pass(payload: JWTPayload, res: ServerResponse, ctx: PolicyContext): PolicyResult {
    const consumerClaim = this.def.consumerClaim;
    if (consumerClaim !== undefined) {
      const who = payload[consumerClaim];
      if (typeof who !== 'string' || who.length === 0) {
        // The policy identifies consumers by this claim: a token without it identifies no one.
        sendJson(res, 401, UNAUTHORIZED, INVALID_TOKEN);
        return HANDLED;
      }
      ctx.consumer = who;
    }
    // Every listed header is replaced or removed, so a client cannot send its own.
    for (const [claim, header] of this.claimHeaders) {
      const value = headerValue(payload[claim]);
      if (value === null) ctx.editUpstream('remove', header);
      else ctx.editUpstream('set', header, value);
    }
    return CONTINUE;
  }
}
