// The pure parts of the auth policies: consumer lookups (keys by hash, passwords by async scrypt
// with successes remembered and checks bounded), Basic credentials parsing, query parameters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPassword, keyDigest } from '../../src/config/secrets.js';
import { basicCredentials } from '../../src/proxy/policies/basic-auth.js';
import { BUSY, CompiledConsumers, MAX_PENDING } from '../../src/proxy/policies/consumers.js';
import { queryValues, withoutQueryParams } from '../../src/proxy/query-params.js';

const KEY = 'alice-key-0123456789abcdef';
const index = () =>
  new CompiledConsumers([
    { id: 'alice', keys: [keyDigest(KEY)] },
    { id: 'bob', basic: { username: 'bob', password: hashPassword('right') } },
  ]);

describe('consumer index', () => {
  it('finds a consumer by its key, through the hash the config holds', () => {
    const c = index();
    assert.equal(c.byKey(KEY), 'alice');
    assert.equal(c.byKey(`${KEY}x`), null);
    assert.equal(c.byKey(keyDigest(KEY)), null, 'the stored digest is not a key');
    assert.ok(c.has('bob') && !c.has('carol'));
  });

  it('checks a password once: the next request with it is answered at once; a wrong one is never remembered', async () => {
    const c = index();
    assert.equal(c.byBasic('nobody', 'right'), null, 'an unknown user costs no scrypt');
    const first = c.byBasic('bob', 'right');
    assert.ok(first instanceof Promise);
    assert.equal(await first, 'bob');
    assert.equal(c.byBasic('bob', 'right'), 'bob', 'remembered: no promise');
    assert.equal(await c.byBasic('bob', 'wrong'), null);
    assert.ok(c.byBasic('bob', 'wrong') instanceof Promise, 'a failure is checked again');
    assert.equal(c.remembered, 1);
  });

  it('identical checks in flight share one; past MAX_PENDING different ones, BUSY; nothing is held afterwards', async () => {
    const c = index();
    const a = c.byBasic('bob', 'right');
    assert.equal(c.byBasic('bob', 'right'), a, 'the same check');
    const wrong = Array.from({ length: MAX_PENDING - 1 }, (_, i) => c.byBasic('bob', `wrong-${i}`));
    assert.equal(c.byBasic('bob', 'one-too-many'), BUSY);
    assert.deepEqual(await Promise.all(wrong), wrong.map(() => null));
    assert.equal(await a, 'bob');
    assert.ok(c.byBasic('bob', 'one-too-many') instanceof Promise, 'room again once the checks ended');
    assert.equal(c.remembered, 1);
  });
});

describe('basic credentials', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  it('splits at the first colon (a password may hold colons) and takes the scheme in any case', () => {
    assert.deepEqual(basicCredentials(`Basic ${b64('bob:a:b')}`), ['bob', 'a:b']);
    assert.deepEqual(basicCredentials(`basic ${b64('bob:')}`), ['bob', '']);
  });
  it('refuses what is not Basic credentials', () => {
    for (const v of [undefined, 'Bearer abc', 'Basic', `Basic ${b64('no colon')}`, 'Basic a!b', `Basic ${'A'.repeat(5000)}`]) assert.equal(basicCredentials(v), null, String(v));
  });
});

describe('query parameters', () => {
  it('reads and removes a parameter by its decoded name, keeping the others as sent', () => {
    const target = '/p?a=1&api%5Fkey=k%2B1&b=x+y&api_key=two';
    assert.deepEqual(queryValues(target, 'api_key'), ['k+1', 'two']);
    assert.equal(withoutQueryParams(target, ['api_key']), '/p?a=1&b=x+y');
    assert.equal(withoutQueryParams('/p?api_key=1', ['api_key']), '/p');
    assert.equal(withoutQueryParams('/p', ['api_key']), '/p');
    assert.deepEqual(queryValues('/p?api_key=%zz', 'api_key'), ['%zz'], 'what does not decode is kept as sent');
  });
});
