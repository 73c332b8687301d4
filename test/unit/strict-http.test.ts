import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidAuthority } from '../../src/proxy/strict-http.js';

describe('Host as an authority', () => {
  it('accepts names, IPv4 and bracketed IPv6, with a port up to 65535', () => {
    for (const ok of ['a', 'api.example.com', 'API.Example.com.', 'a-b_c~d', '10.0.0.1', '10.0.0.1:8080', '[::1]', '[::1]:443', '[2001:db8::1]:65535', 'xn--bcher-kva.example', 'a%41b', 'host:']) {
      assert.equal(isValidAuthority(ok), true, ok);
    }
  });

  it('refuses empty hosts, user info, paths, white space, bad ports and bad brackets', () => {
    for (const bad of ['', ':80', 'a b', 'a/b', 'user@host', 'a\\b', 'a?b', 'a#b', 'a:80:90', 'a:8x', 'a:65536', 'a:99999', '[::1', '[]', '[::g]', '[::1]x', '[::1]:-1', 'a%4', 'a%zz', 'a"b', 'a<b']) {
      assert.equal(isValidAuthority(bad), false, bad);
    }
  });
});
