// jwt: a signed token in `Authorization: Bearer` (or a cookie), verified with jose
// (src/proxy/policies/jwt.ts). Each key source is tied to its algorithms, so a token can never
// choose how it is checked: a `secret` verifies HS256 only, public keys (`publicKey`, `jwks`,
// `jwksUrl`) verify RS256/ES256/EdDSA only (an HS256 token "signed" with a public key, the
// classic algorithm confusion, has no key to verify with), and `none` is not an algorithm here.
import { createPublicKey, type JsonWebKeyInput } from 'node:crypto';
import { z } from 'zod';
import { HEADER_NAME, consumerHeader, id, serviceUrl } from '../fields.js';

export const SECRET_ALGORITHMS = ['HS256'] as const;
export const PUBLIC_KEY_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
const ALGORITHMS = [...SECRET_ALGORITHMS, ...PUBLIC_KEY_ALGORITHMS] as const;
export const DEFAULT_CLOCK_SKEW_S = 30;
export const DEFAULT_JWKS_COOLDOWN_S = 30;

/** The fields that say where keys come from; exactly one is given (`secret` may be left to the store). */
export const JWT_KEY_SOURCES = ['secret', 'publicKey', 'jwks', 'jwksUrl'] as const;

const CLAIM = /^[A-Za-z0-9_.:-]{1,64}$/;
const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(32)]);

function publicKeyProblem(make: () => ReturnType<typeof createPublicKey>): string | null {
  let key;
  try {
    key = make();
  } catch (err) {
    return `is not a public key (${(err as Error).message})`;
  }
  // createPublicKey derives the public half of a private key: refused, a private key is no place here.
  return key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'ec' || key.asymmetricKeyType === 'ed25519' ? null : `key type ${String(key.asymmetricKeyType)} is not RSA, EC or Ed25519`;
}

const jwk = z.looseObject({ kty: z.string(), kid: z.string().max(256).optional() }).superRefine((k, ctx) => {
  if (k.kty === 'oct') ctx.addIssue({ code: 'custom', message: 'a symmetric (oct) key: HS256 takes `secret`, so a public key set never verifies HS tokens' });
  else if ('d' in k) ctx.addIssue({ code: 'custom', message: 'a private key: give the public part only' });
  else {
    const problem = publicKeyProblem(() => createPublicKey({ key: k, format: 'jwk' } as JsonWebKeyInput));
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }
});

export const jwtPolicy = z
  .strictObject({
    id,
    type: z.literal('jwt'),
    algorithms: z.array(z.enum(ALGORITHMS)).min(1).optional(),
    issuer: stringOrList.optional(),
    audience: stringOrList.optional(),
    clockSkewS: z.number().int().min(0).max(300).optional(),
    // Never shown: answers carry secretSha256 instead; left out, the secret stored for this id is kept.
    secret: z.string().min(32, 'must be at least 32 characters (RFC 7518 §3.2: a key as long as the hash)').max(1024).optional().meta({ writeOnly: true, description: 'HS256 secret; leave out to keep the secret stored for this id' }),
    secretSha256: z.string().optional().meta({ readOnly: true, description: 'sha256 (hex) of secret' }),
    publicKey: z
      .string()
      .superRefine((pem, ctx) => {
        const problem = pem.includes('PRIVATE KEY') ? 'a private key: give the public key (-----BEGIN PUBLIC KEY-----)' : publicKeyProblem(() => createPublicKey(pem));
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    jwks: z.strictObject({ keys: z.array(jwk).min(1).max(100) }).optional(),
    jwksUrl: serviceUrl('https://id.example.com/.well-known/jwks.json').optional(),
    jwksCooldownS: z.number().int().min(1).max(3600).optional(),
    cookie: z.string().regex(HEADER_NAME, 'must be a cookie name').optional(),
    claimsToHeaders: z.record(z.string().regex(CLAIM, 'must be a claim name'), z.string().regex(HEADER_NAME, 'must be a header name')).optional(),
    consumerClaim: z.string().regex(CLAIM, 'must be a claim name').optional(),
    consumerHeader: consumerHeader.optional(),
  })
  .superRefine((p, ctx) => {
    const given = JWT_KEY_SOURCES.filter((f) => p[f] !== undefined);
    if (given.length > 1) ctx.addIssue({ code: 'custom', message: `give one key source, not ${given.join(' and ')}` });
    if (p.jwksCooldownS !== undefined && p.jwksUrl === undefined) ctx.addIssue({ code: 'custom', path: ['jwksCooldownS'], message: 'only with jwksUrl' });
    const allowed: readonly string[] = given[0] === 'secret' ? SECRET_ALGORITHMS : given.length === 0 ? ALGORITHMS : PUBLIC_KEY_ALGORITHMS;
    (p.algorithms ?? []).forEach((alg, i) => {
      if (!allowed.includes(alg)) ctx.addIssue({ code: 'custom', path: ['algorithms', i], message: alg === 'HS256' ? 'HS256 verifies with a secret only, not with public keys' : `${alg} verifies with public keys (publicKey, jwks, jwksUrl), not with a secret` });
    });
  });

export type JwtPolicy = z.infer<typeof jwtPolicy>;

/** The algorithms a policy accepts: its own list, or every one its key source can verify. */
export function jwtAlgorithms(p: JwtPolicy): string[] {
  return p.algorithms ?? [...(p.secret !== undefined ? SECRET_ALGORITHMS : PUBLIC_KEY_ALGORITHMS)];
}
