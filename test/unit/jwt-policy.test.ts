// The jwt policy's config checks (key sources tied to their algorithms) and what it tells the
// rest of the chain: the consumer a claim names.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { SignJWT, exportJWK, exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { validateDocument } from '../../src/config/validate.js';
import { Jwt } from '../../src/proxy/policies/jwt.js';
import { NO_CONSUMERS, PolicyContext } from '../../src/proxy/policies/index.js';

const SECRET = 'a-secret-of-at-least-32-characters!!';

function problems(policy: Record<string, unknown>): string[] {
  const r = validateDocument({ policies: [{ id: 'j', type: 'jwt', ...policy }] });
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

describe('jwt policy config', () => {
  it('ties each key source to its algorithms; refuses none, HS with public keys, private keys, two sources, no source', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    assert.deepEqual(problems({ secret: SECRET }), []);
    assert.deepEqual(problems({ publicKey: pem, algorithms: ['RS256'] }), []);
    assert.deepEqual(problems({ publicKey: pem, algorithms: ['HS256'] }), ['policies[0].algorithms[0]: HS256 verifies with a secret only, not with public keys']);
    assert.deepEqual(problems({ secret: SECRET, algorithms: ['RS256'] }), ['policies[0].algorithms[0]: RS256 verifies with public keys (publicKey, jwks, jwksUrl), not with a secret']);
    assert.match(problems({ secret: SECRET, algorithms: ['none'] })[0]!, /^policies\[0\]\.algorithms\[0\]: /);
    assert.deepEqual(problems({ secret: 'short' }), ['policies[0].secret: must be at least 32 characters (RFC 7518 §3.2: a key as long as the hash)']);
    assert.deepEqual(problems({ secret: SECRET, publicKey: pem }), ['policies[0]: give one key source, not secret and publicKey']);
    assert.deepEqual(problems({}), ['policies[0]: required: one of secret, publicKey, jwks, jwksUrl']);
    assert.match(problems({ publicKey: await exportPKCS8(privateKey) })[0]!, /^policies\[0\]\.publicKey: a private key/);
    assert.match(problems({ publicKey: 'nope' })[0]!, /^policies\[0\]\.publicKey: is not a public key/);
    assert.deepEqual(problems({ jwks: { keys: [await exportJWK(privateKey)] } }), ['policies[0].jwks.keys[0]: a private key: give the public part only']);
    assert.deepEqual(problems({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }), ['policies[0].jwks.keys[0]: a symmetric (oct) key: HS256 takes `secret`, so a public key set never verifies HS tokens']);
    assert.deepEqual(problems({ jwksUrl: 'ftp://x/keys' }), ['policies[0].jwksUrl: scheme must be http or https']);
    assert.deepEqual(problems({ secret: SECRET, jwksCooldownS: 5 }), ['policies[0].jwksCooldownS: only with jwksUrl']);
  });
});

describe('jwt policy consumer', () => {
  it('consumerClaim: the claim becomes ctx.consumer', async () => {
    const def = { id: 'j', type: 'jwt' as const, secret: SECRET, consumerClaim: 'sub' };
    const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
    const req = { headers: { authorization: `Bearer ${token}` } } as unknown as IncomingMessage;
    const res = {} as ServerResponse;
    const ctx = new PolicyContext('r', 0, '192.0.2.1', 'req-1', NO_CONSUMERS, res);
    assert.equal(await new Jwt(def).handle(req, res, ctx), 0);
    assert.equal(ctx.consumer, 'alice');
  });
});
