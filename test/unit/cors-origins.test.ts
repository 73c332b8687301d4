// The origin matcher behind cors: exact origins, "*", and wildcard subdomains that take whole
// labels and nothing else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OriginMatcher } from '../../src/proxy/policies/index.js';

describe('cors origins', () => {
  it('exact origins: scheme, host and port all count', () => {
    const m = new OriginMatcher(['https://app.example.com', 'http://localhost:3000']);
    assert.equal(m.matches('https://app.example.com'), true);
    assert.equal(m.matches('http://localhost:3000'), true);
    for (const o of ['http://app.example.com', 'https://app.example.com:8443', 'https://app.example.com.evil.net', 'https://evilapp.example.com', 'http://localhost:3001', 'http://localhost', 'null', '']) {
      assert.equal(m.matches(o), false, o);
    }
  });

  it('wildcard subdomains: one or more whole labels before the host, nothing else', () => {
    const m = new OriginMatcher(['https://*.example.com']);
    for (const o of ['https://a.example.com', 'https://a.b.example.com', 'https://x-1.example.com']) assert.equal(m.matches(o), true, o);
    const refused = [
      'https://example.com', // the apex is no subdomain: list it too when it is meant
      'https://evil-example.com', // no dot before "example.com"
      'https://example.com.evil.net',
      'https://a.example.com.evil.net',
      'https://evil.net/.example.com',
      'https://evil.net?.example.com',
      'https://evil.net#.example.com',
      'https://user@x.example.com',
      'https://evil.net:443.example.com',
      'https://.example.com',
      'https://a..example.com',
      'http://a.example.com', // another scheme
      'https://a.example.com:8443', // another port
      'https://a.example.comm',
      'https://A.example.com', // browsers send lower case; anything else is no browser's origin
      'null',
    ];
    for (const o of refused) assert.equal(m.matches(o), false, o);
  });

  it('a bare *.example.com means https; a port in the pattern must be the port', () => {
    const bare = new OriginMatcher(['*.example.com']);
    assert.equal(bare.matches('https://a.example.com'), true);
    assert.equal(bare.matches('http://a.example.com'), false);
    const port = new OriginMatcher(['https://*.example.com:8443']);
    assert.equal(port.matches('https://a.example.com:8443'), true);
    assert.equal(port.matches('https://a.example.com'), false);
    assert.equal(port.matches('https://a.example.com:84430'), false);
  });

  it('"*" takes every origin', () => {
    const m = new OriginMatcher(['*']);
    assert.equal(m.any, true);
    assert.equal(m.matches('https://anything.test'), true);
  });
});
