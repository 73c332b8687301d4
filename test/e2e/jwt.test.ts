// The jwt policy against a real upstream, with keys made here by jose: every algorithm, each way a
// token can be wrong (and the upstream never reached then), a JWKS endpoint that rotates and goes
// down, claims passed up as headers, consumers by a claim.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose';
import { json, named, proxy, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 20_000 };
const SECRET = 'a-secret-of-at-least-32-characters!!';
const now = () => Math.floor(Date.now() / 1000);

type SignKey = Parameters<SignJWT['sign']>[0];
function sign(key: SignKey, alg: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  return new SignJWT({ sub: 'alice', ...claims }).setProtectedHeader({ alg, ...header }).setIssuedAt().setExpirationTime('5m').setIssuer('https://id.test').setAudience('app').sign(key);
}

/** An upstream counting what reaches it, and a proxy with `policy` on its only route. */
async function guarded(t: TestContext, policy: Record<string, unknown>, extraPolicies: Record<string, unknown>[] = []) {
  let reached = 0;
  const echo = named('up');
  const up = await upstream(t, (req, res) => {
    reached++;
    echo(req, res);
  });
  const doc = {
    upstreams: [{ id: 'u', targets: [{ url: up.url }] }],
    routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', policies: [String(policy.id), ...extraPolicies.map((p) => String(p.id))] }],
    policies: [policy, ...extraPolicies],
  };
  const p = await proxy(t, doc);
  const get = (token?: string, headers: Record<string, string> = {}) => send(p.url, '/echo', { headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers } });
  return { p, doc, get, reached: () => reached };
}

const base = { id: 'auth', type: 'jwt', issuer: 'https://id.test', audience: 'app' };

describe('jwt policy', () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    it(`${alg}: a good token passes; a token signed by another key does not`, T, async (t) => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const other = await generateKeyPair(alg);
      const g = await guarded(t, { ...base, publicKey: await exportSPKI(publicKey) });
      assert.equal((await g.get(await sign(privateKey, alg))).status, 200);
      const forged = await g.get(await sign(other.privateKey, alg));
      assert.equal(forged.status, 401);
      assert.deepEqual(json(forged), { error: 'unauthorized' });
      assert.equal(forged.headers['www-authenticate'], 'Bearer error="invalid_token"');
      assert.equal(g.reached(), 1);
    });
  }

  it('HS256 with a secret: good passes; wrong issuer, audience, expired, other secret, none, no token: 401, upstream never reached', T, async (t) => {
    const key = new TextEncoder().encode(SECRET);
    const g = await guarded(t, { ...base, secret: SECRET, clockSkewS: 0 });
    assert.equal((await g.get(await sign(key, 'HS256'))).status, 200);
    assert.equal(g.reached(), 1);
    const bad = {
      issuer: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://evil.test').setAudience('app').setExpirationTime('5m').sign(key),
      audience: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://id.test').setAudience('other').setExpirationTime('5m').sign(key),
      expired: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://id.test').setAudience('app').setExpirationTime(now() - 5).sign(key),
      otherSecret: await sign(new TextEncoder().encode(`${SECRET}-not-this-one`), 'HS256'),
      // alg "none": a payload and no signature.
      none: `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: 'https://id.test', aud: 'app', exp: now() + 300 })).toString('base64url')}.`,
      garbage: 'not.a.token',
    };
    for (const [what, token] of Object.entries(bad)) {
      const r = await g.get(token);
      assert.equal(r.status, 401, what);
      assert.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token"', what);
    }
    const none = await g.get();
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer', 'no token: no error code (RFC 6750 §3)');
    assert.equal((await g.get(undefined, { authorization: 'Basic YTpi' })).status, 401);
    assert.equal(g.reached(), 1, 'no bad token reached the upstream');
  });

  it('algorithm confusion: an HS256 token whose secret is the public key is refused', T, async (t) => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1' };
    for (const policy of [{ ...base, publicKey: pem }, { ...base, id: 'auth', jwks: { keys: [jwk] } }]) {
      const g = await guarded(t, policy);
      for (const secret of [pem, JSON.stringify(jwk)]) {
        const r = await g.get(await sign(new TextEncoder().encode(secret), 'HS256', {}, { kid: 'k1' }));
        assert.equal(r.status, 401);
      }
      assert.equal(g.reached(), 0);
    }
  });

  it('the token from a cookie when the policy names one; Authorization wins when both are sent', T, async (t) => {
    const key = new TextEncoder().encode(SECRET);
    const g = await guarded(t, { ...base, secret: SECRET, cookie: 'session' });
    const token = await sign(key, 'HS256');
    assert.equal((await g.get(undefined, { cookie: `theme=dark; session=${token}` })).status, 200);
    assert.equal((await g.get('bad', { cookie: `session=${token}` })).status, 401);
  });

  it('claimsToHeaders sets headers from claims and strips the same headers sent by the client; consumerClaim needs its claim', T, async (t) => {
    const key = new TextEncoder().encode(SECRET);
    const g = await guarded(t, { ...base, secret: SECRET, consumerClaim: 'sub', claimsToHeaders: { sub: 'x-user', roles: 'x-roles', tenant: 'x-tenant' } });
    const r = await g.get(await sign(key, 'HS256', { roles: ['admin', 'dev'] }), { 'x-user': 'mallory', 'x-tenant': 'spoofed', 'x-consumer-id': 'mallory' });
    assert.equal(r.status, 200);
    const seen = (json(r) as { headers: Record<string, string> }).headers;
    assert.equal(seen['x-user'], 'alice');
    assert.equal(seen['x-consumer-id'], 'alice', 'the consumerClaim names the consumer upstream, not the client');
    assert.equal(seen['x-roles'], '["admin","dev"]');
    assert.equal(seen['x-tenant'], undefined, 'a claim the token lacks: the client\'s header is removed, not passed on');
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://id.test').setAudience('app').setExpirationTime('5m').sign(key);
    assert.equal((await g.get(noSub)).status, 401, 'consumerClaim names a claim the token lacks: it identifies no one');
    // No consumer "alice" in the config: the claim's value is no label (a claim has as many values as users).
    const counted = (await g.p.metrics.text()).split('\n').filter((l) => l.startsWith('signalbox_consumer_requests_total{'));
    assert.deepEqual(counted, ['signalbox_consumer_requests_total{consumer="(other)",code="200"} 1']);
  });
});

/** A JWKS endpoint the test controls: its keys, whether it answers, how often it was asked. */
async function jwksServer(t: TestContext) {
  const state = { keys: [] as JWK[], up: true, fetches: 0, cacheControl: undefined as string | undefined };
  const s = await upstream(t, (_req: IncomingMessage, res: ServerResponse) => {
    state.fetches++;
    if (!state.up) {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', ...(state.cacheControl ? { 'cache-control': state.cacheControl } : {}) });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  return { url: `${s.url}/.well-known/jwks.json`, state };
}

async function keyWithKid(kid: string) {
  const pair = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

describe('jwt policy with jwksUrl', () => {
  it('fetched once and cached; a new kid after rotation is fetched; the endpoint down keeps the cached keys', T, async (t) => {
    const jwks = await jwksServer(t);
    const k1 = await keyWithKid('k1');
    jwks.state.keys = [k1.jwk];
    const g = await guarded(t, { ...base, jwksUrl: jwks.url, jwksCooldownS: 1 });
    const t1 = await sign(k1.privateKey, 'ES256', {}, { kid: 'k1' });
    assert.equal((await g.get(t1)).status, 200);
    assert.equal((await g.get(t1)).status, 200);
    assert.equal(jwks.state.fetches, 1, 'fresh keys are not fetched again');

    const k2 = await keyWithKid('k2');
    jwks.state.keys = [k2.jwk];
    await new Promise((r) => setTimeout(r, 1100)); // past the 1 s cooldown
    const t2 = await sign(k2.privateKey, 'ES256', {}, { kid: 'k2' });
    assert.equal((await g.get(t2)).status, 200, 'unknown kid: refetched, rotated key found');
    assert.equal(jwks.state.fetches, 2);
    assert.equal((await g.get(t1)).status, 401, 'k1 is gone from the set');

    jwks.state.up = false;
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await g.get(t1)).status, 401, 'unknown kid again: a refetch, which fails');
    assert.equal(jwks.state.fetches, 3);
    assert.equal((await g.get(t2)).status, 200, 'the failed fetch kept the cached keys');
  });

  it('a flood of unknown kids within the cooldown makes no more fetches', T, async (t) => {
    const jwks = await jwksServer(t);
    const k1 = await keyWithKid('k1');
    jwks.state.keys = [k1.jwk];
    const g = await guarded(t, { ...base, jwksUrl: jwks.url, jwksCooldownS: 3600 });
    assert.equal((await g.get(await sign(k1.privateKey, 'ES256', {}, { kid: 'k1' }))).status, 200);
    const stranger = await keyWithKid('nope');
    const replies = await Promise.all(Array.from({ length: 20 }, async (_, i) => g.get(await sign(stranger.privateKey, 'ES256', {}, { kid: `made-up-${i}` }))));
    assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([401]));
    assert.equal(jwks.state.fetches, 1);
    assert.equal(g.reached(), 1);
  });

  it('never fetched (endpoint down from the start): 503 auth_unavailable, upstream never reached', T, async (t) => {
    const jwks = await jwksServer(t);
    jwks.state.up = false;
    const k1 = await keyWithKid('k1');
    const g = await guarded(t, { ...base, jwksUrl: jwks.url, jwksCooldownS: 3600 });
    const r = await g.get(await sign(k1.privateKey, 'ES256', {}, { kid: 'k1' }));
    assert.equal(r.status, 503);
    assert.deepEqual(json(r), { error: 'auth_unavailable' });
    assert.equal((await g.get(await sign(k1.privateKey, 'ES256', {}, { kid: 'k1' }))).status, 503);
    assert.equal(jwks.state.fetches, 1, 'within the cooldown the failed fetch is not retried per request');
    assert.equal(g.reached(), 0);
  });

  it('stale after Cache-Control max-age: the next request is served with the keys held and starts a refetch', T, async (t) => {
    const jwks = await jwksServer(t);
    const k1 = await keyWithKid('k1');
    jwks.state.keys = [k1.jwk];
    jwks.state.cacheControl = 'public, max-age=1';
    const g = await guarded(t, { ...base, jwksUrl: jwks.url, jwksCooldownS: 1 });
    const token = await sign(k1.privateKey, 'ES256', {}, { kid: 'k1' });
    assert.equal((await g.get(token)).status, 200);
    assert.equal(jwks.state.fetches, 1);
    jwks.state.up = false;
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await g.get(token)).status, 200, 'stale keys still verify while the refetch runs (and fails)');
    for (let i = 0; i < 100 && jwks.state.fetches < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(jwks.state.fetches, 2, 'the stale set was refetched');
    assert.equal((await g.get(token)).status, 200, 'the failed refetch kept the keys');
  });

  it('a key set endpoint that never answers: the first requests get 503 once the fetch gives up, not a hang', T, async (t) => {
    const silent = await upstream(t, () => {});
    const k1 = await keyWithKid('k1');
    const g = await guarded(t, { ...base, jwksUrl: `${silent.url}/jwks`, jwksCooldownS: 3600 });
    const token = await sign(k1.privateKey, 'ES256', {}, { kid: 'k1' });
    const replies = await Promise.all([g.get(token), g.get(token)]);
    assert.deepEqual(replies.map((r) => r.status), [503, 503]);
    assert.equal(g.reached(), 0);
  });

  it('the cached keys survive a config swap that leaves the policy as it was', T, async (t) => {
    const jwks = await jwksServer(t);
    const k1 = await keyWithKid('k1');
    jwks.state.keys = [k1.jwk];
    const policy = { ...base, jwksUrl: jwks.url, jwksCooldownS: 3600 };
    const g = await guarded(t, policy);
    const token = await sign(k1.privateKey, 'ES256', {}, { kid: 'k1' });
    assert.equal((await g.get(token)).status, 200);
    jwks.state.up = false;
    g.p.swap({ ...g.doc, routes: [{ ...g.doc.routes[0], match: { paths: ['/*', '/extra'] } }] });
    assert.equal((await g.get(token)).status, 200, 'same definition: same key cache, no fetch needed');
    assert.equal(jwks.state.fetches, 1);
    g.p.swap({ ...g.doc, policies: [{ ...policy, clockSkewS: 5 }] });
    assert.equal((await g.get(token)).status, 503, 'a changed policy starts afresh (and its endpoint is down)');
  });
});
