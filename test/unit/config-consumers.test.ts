// Consumers' secrets: plain on input, only their hashes in a normalized config, stored forms
// accepted back unchanged, duplicates refused with paths and without the secret in the message.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parsePasswordHash, passwordMatchesSync } from '../../src/config/secrets.js';
import { MAX_PLAIN_PASSWORDS, validateDocument } from '../../src/config/validate.js';

const KEY = 'alice-secret-key-0001';
const KEY_DIGEST = `sha256:${createHash('sha256').update(KEY).digest('hex')}`;

function valid(doc: unknown) {
  const r = validateDocument(doc);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.config;
}

function issues(doc: unknown) {
  const r = validateDocument(doc);
  assert.ok(!r.ok, 'expected invalid');
  return r.issues;
}

describe('consumers: secrets at rest', () => {
  it('a plain key is kept as its sha256; the stored form is accepted back as it is', () => {
    const config = valid({ consumers: [{ id: 'alice', keys: [KEY] }] });
    assert.deepEqual(config.consumers, [{ id: 'alice', keys: [KEY_DIGEST] }]);
    assert.deepEqual(valid(config).consumers, config.consumers);
  });

  it('a password is kept as an scrypt hash that verifies it, and a hash given back is kept', () => {
    const config = valid({ consumers: [{ id: 'bob', basic: { username: 'bob', password: 'correct horse' } }] });
    const stored = config.consumers[0]!.basic!.password;
    assert.ok(parsePasswordHash(stored) !== null, stored);
    assert.ok(!stored.includes('correct horse'));
    assert.ok(passwordMatchesSync('correct horse', stored));
    assert.ok(!passwordMatchesSync('wrong horse', stored));
    assert.equal(valid(config).consumers[0]!.basic!.password, stored);
  });

  it('the same plain password applied again keeps the stored hash (no change), another makes a new one', () => {
    const first = valid({ consumers: [{ id: 'bob', basic: { username: 'bob', password: 'pw-one' } }] }).consumers[0]!.basic!.password;
    const storedPassword = (id: string) => (id === 'bob' ? first : undefined);
    const again = validateDocument({ consumers: [{ id: 'bob', basic: { username: 'bob', password: 'pw-one' } }] }, { storedPassword });
    assert.ok(again.ok);
    assert.equal(again.config.consumers[0]!.basic!.password, first);
    const other = validateDocument({ consumers: [{ id: 'bob', basic: { username: 'bob', password: 'pw-two' } }] }, { storedPassword });
    assert.ok(other.ok);
    assert.notEqual(other.config.consumers[0]!.basic!.password, first);
  });

  it("a client that leaves secrets to the control plane (storedKeys: 'control-plane') sends the password as given, for it to compare", () => {
    const r = validateDocument({ consumers: [{ id: 'bob', keys: [KEY], basic: { username: 'bob', password: 'pw-one' } }] }, { storedKeys: 'control-plane' });
    assert.ok(r.ok);
    assert.deepEqual(r.config.consumers, [{ id: 'bob', keys: [KEY_DIGEST], basic: { username: 'bob', password: 'pw-one' } }]);
  });

  it('a consumer without credentials is valid (a JWT claim names it)', () => {
    assert.deepEqual(valid({ consumers: [{ id: 'carol' }] }).consumers, [{ id: 'carol' }]);
  });
});

describe('consumers: bad input', () => {
  it('a short key, a malformed digest, a malformed hash and a username with ":" are refused where they are', () => {
    const found = issues({
      consumers: [
        { id: 'a', keys: ['short'] },
        { id: 'b', keys: ['sha256:abc'] },
        { id: 'c', basic: { username: 'c:x', password: 'scrypt$1$2$3$x$y' } },
      ],
    });
    assert.deepEqual(
      found.map((i) => i.path),
      ['consumers[0].keys[0]', 'consumers[1].keys[0]', 'consumers[2].basic.username', 'consumers[2].basic.password'],
    );
  });

  it('the same key on two consumers (plain on one, stored on the other) is an error naming a fingerprint, never the key', () => {
    const found = issues({ consumers: [{ id: 'alice', keys: [KEY] }, { id: 'mallory', keys: ['other-key-0123456789', KEY_DIGEST] }] });
    assert.equal(found.length, 1);
    assert.equal(found[0]!.path, 'consumers[1].keys[1]');
    assert.match(found[0]!.message, /already belongs to consumer "alice"/);
    assert.ok(!found[0]!.message.includes(KEY) && !found[0]!.message.includes(KEY_DIGEST.slice(7)), found[0]!.message);
  });

  it('more plain passwords than MAX_PLAIN_PASSWORDS in one document are refused at the first one too many, before any is hashed', () => {
    const consumers = Array.from({ length: MAX_PLAIN_PASSWORDS + 2 }, (_, i) => ({ id: `c${i}`, basic: { username: `u${i}`, password: 'pw' } }));
    const found = issues({ consumers });
    assert.deepEqual(found.map((i) => i.path), [`consumers[${MAX_PLAIN_PASSWORDS}].basic.password`]);
  });

  it('the same basic username on two consumers is an error with its path', () => {
    const found = issues({ consumers: [{ id: 'a', basic: { username: 'same', password: 'p1' } }, { id: 'b', basic: { username: 'same', password: 'p2' } }] });
    assert.deepEqual(found.map((i) => [i.path, i.message]), [['consumers[1].basic.username', 'username "same" already belongs to consumer "a"']]);
  });
});

describe('auth policies: settings', () => {
  it('a consumerHeader the proxy sets itself, and a key-auth with both header and query, are refused where they are', () => {
    const found = issues({
      policies: [
        { id: 'a', type: 'key-auth', consumerHeader: 'Host' },
        { id: 'b', type: 'basic-auth', consumerHeader: 'x-forwarded-for' },
        { id: 'c', type: 'key-auth', header: 'x-key', query: 'key' },
      ],
    });
    assert.deepEqual(found.map((i) => i.path), ['policies[0].consumerHeader', 'policies[1].consumerHeader', 'policies[2].query']);
  });
});
