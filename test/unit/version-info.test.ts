// The version key's value as readers take it: lenient with a key someone wrote by hand.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseVersionInfo } from '../../src/store/decode.js';

const zeros = { upstreams: 0, routes: 0, policies: 0, certificates: 0, consumers: 0, settings: 0 };

it('a version key with only a version reads with empty fields and zero counts', () => {
  assert.deepEqual(parseVersionInfo('{"version":3}'), { version: 3, hash: '', author: '', message: '', source: '', at: '', counts: zeros });
});

it('fields of the wrong type read as empty; counts keep what is a number', () => {
  const v = parseVersionInfo(JSON.stringify({ version: 2, hash: 5, author: null, counts: { routes: 4, upstreams: 'x' } }));
  assert.deepEqual(v, { version: 2, hash: '', author: '', message: '', source: '', at: '', counts: { ...zeros, routes: 4 } });
  assert.deepEqual(parseVersionInfo('{"version":2,"counts":"many"}')?.counts, zeros);
  assert.deepEqual(parseVersionInfo('{"version":2,"counts":null}')?.counts, zeros);
});

it('what the writer adds beside the VersionInfo (its write id) is not part of it', () => {
  const v = parseVersionInfo(JSON.stringify({ version: 7, hash: 'h', writeId: 'w', counts: { ...zeros, routes: 1 } }));
  assert.deepEqual(v && Object.keys(v).sort(), ['at', 'author', 'counts', 'hash', 'message', 'source', 'version']);
  assert.equal(v?.counts.routes, 1);
});

it('no positive integer version: not a version', () => {
  for (const raw of ['garbage', 'null', '[]', '{}', '{"version":"1"}', '{"version":0}', '{"version":-1}', '{"version":1.5}']) {
    assert.equal(parseVersionInfo(raw), null, raw);
  }
  assert.equal(parseVersionInfo(null), null);
  assert.equal(parseVersionInfo(undefined), null);
});
