import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrustedProxies, clientAddress } from '../../src/proxy/forwarded.js';

describe('trusted proxies', () => {
  it('parses addresses and CIDRs of both families; trusts nothing when empty', () => {
    const t = TrustedProxies.parse(' 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1 ');
    assert.deepEqual(t.entries, ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);
    assert.equal(t.has('10.200.0.1'), true);
    assert.equal(t.has('192.168.1.7'), true);
    assert.equal(t.has('192.168.1.8'), false);
    assert.equal(t.has('fd12::5'), true);
    assert.equal(t.has('::1'), true);
    assert.equal(t.has('::ffff:10.0.0.1'), true, 'an IPv4-mapped address is its IPv4 address');
    assert.equal(t.has('not-an-ip'), false);
    assert.equal(TrustedProxies.parse(undefined).size, 0);
    assert.equal(TrustedProxies.parse('').has('127.0.0.1'), false);
  });

  it('refuses an entry that is no address or CIDR, naming it', () => {
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0/8', '10.0.0.0/', '10.0.0.0/x', '1.2.3.4/8/9']) {
      assert.throws(() => TrustedProxies.parse(`127.0.0.1,${bad}`), new RegExp(`"${bad.replace(/[./]/g, '\\$&')}" is not an IP address or CIDR`), bad);
    }
  });

  it('client address: the peer unless trusted; then the right-most untrusted hop of X-Forwarded-For', () => {
    const t = TrustedProxies.parse('10.0.0.0/8');
    assert.equal(clientAddress('203.0.113.9', false, '1.1.1.1', t), '203.0.113.9', 'untrusted peer: its header is ignored');
    assert.equal(clientAddress('10.0.0.2', true, undefined, t), '10.0.0.2');
    assert.equal(clientAddress('10.0.0.2', true, '6.6.6.6, 198.51.100.4, 10.0.0.9', t), '198.51.100.4', 'spoofed left-most hops are never reached');
    assert.equal(clientAddress('10.0.0.2', true, '10.0.0.7, 10.0.0.9', t), '10.0.0.7', 'all trusted: the left-most');
    assert.equal(clientAddress('10.0.0.2', true, 'garbage, 10.0.0.9', t), '10.0.0.9', 'a non-address stops the walk at the last trusted hop');
    assert.equal(clientAddress('10.0.0.2', true, '198.51.100.4, ::ffff:203.0.113.5', t), '203.0.113.5');
  });
});
