// The CIDR matcher behind ip-filter: both families, IPv4-mapped IPv6 as IPv4, merged intervals.
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { IpFilter } from '../../src/proxy/policies/index.js';
import { IpRanges, parseAddress, parseCidr } from '../../src/util/ip-ranges.js';

describe('address parsing', () => {
  it('reads what node:net calls an address, refuses what it does not', () => {
    const out = new Uint32Array(4);
    const good = ['0.0.0.0', '255.255.255.255', '10.0.0.1', '::', '::1', '1::', 'fe80::1%eth0', '2001:db8::ff00:42:8329', '2001:0db8:0000:0000:0000:ff00:0042:8329', '::ffff:10.0.0.1', '::FFFF:10.0.0.1', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', 'ABCD::'];
    const bad = ['', '1', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.', '.1.2.3', '1..2.3', ':', ':::', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::', ':1::', '1:', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4', 'example.com', '1.2.3.4/8'];
    for (const s of good) assert.equal(parseAddress(s, out), true, s);
    for (const s of bad) assert.equal(parseAddress(s, out), false, s);
    for (const s of [...good.filter((g) => !g.includes('%')), ...bad]) assert.equal(parseAddress(s, out), isIP(s) !== 0, `agrees with node:net on ${s}`);
  });

  it('an IPv4 address and its mapped IPv6 forms are one address', () => {
    const a = new Uint32Array(4);
    const b = new Uint32Array(4);
    parseAddress('10.1.2.3', a);
    for (const mapped of ['::ffff:10.1.2.3', '::ffff:a01:203', '0:0:0:0:0:ffff:10.1.2.3']) {
      parseAddress(mapped, b);
      assert.deepEqual([...b], [...a], mapped);
    }
  });
});

describe('CIDRs', () => {
  it('refuses what is no CIDR, or has bits past its prefix, saying so', () => {
    assert.match(parseCidr('10.0.0.0/33') as string, /prefix length must be 0 to 32/);
    assert.match(parseCidr('fd00::/129') as string, /prefix length must be 0 to 128/);
    assert.match(parseCidr('10.0.0.0/08') as string, /prefix length/);
    assert.match(parseCidr('example.com') as string, /not an IP address or CIDR/);
    assert.match(parseCidr('10.0.0.1/8') as string, /bits set past its \/8 prefix; the network is 10\.0\.0\.0\/8/);
    assert.match(parseCidr('fd00::1/8') as string, /the network is fd00:0:0:0:0:0:0:0\/8/);
    assert.equal(typeof parseCidr('10.0.0.0/8'), 'object');
    assert.equal(typeof parseCidr('0.0.0.0/0'), 'object');
    assert.equal(typeof parseCidr('::/0'), 'object');
  });

  it('matches inside and at the edges of each range, both families', () => {
    const r = new IpRanges(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '172.16.0.0/12']);
    for (const ip of ['10.0.0.0', '10.255.255.255', '10.1.2.3', '192.168.1.7', '172.16.0.0', '172.31.255.255', '2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '2001:DB8::1']) assert.equal(r.has(ip), true, ip);
    for (const ip of ['9.255.255.255', '11.0.0.0', '192.168.1.6', '192.168.1.8', '172.15.255.255', '172.32.0.0', '2001:db9::', '2001:db7:ffff::', '::1', 'garbage', '']) assert.equal(r.has(ip), false, ip);
  });

  it('IPv4-mapped IPv6 addresses match IPv4 rules, and mapped rules match IPv4 addresses', () => {
    const v4rules = new IpRanges(['10.0.0.0/8']);
    assert.equal(v4rules.has('::ffff:10.0.0.1'), true);
    assert.equal(v4rules.has('::FFFF:10.0.0.1'), true);
    assert.equal(v4rules.has('::ffff:a00:1'), true, 'hex form');
    assert.equal(v4rules.has('::ffff:11.0.0.1'), false);
    assert.equal(v4rules.has('::10.0.0.1'), false, 'IPv4-compatible (deprecated) is another address');
    const mappedRule = new IpRanges(['::ffff:10.0.0.0/104']);
    assert.equal(mappedRule.has('10.9.9.9'), true);
    assert.equal(mappedRule.has('11.0.0.0'), false);
  });

  it('overlapping and adjacent ranges merge; the answer is the same as checking each', () => {
    const cidrs = ['10.0.0.0/24', '10.0.0.128/25', '10.0.1.0/24', '10.0.3.0/24', '0.0.0.0/32', 'fe80::/10', 'fe80::/64'];
    const r = new IpRanges(cidrs);
    assert.equal(r.count, 4, '0.0.0.0, 10.0.0.0-10.0.1.255 (adjacent: merged), 10.0.3.0/24, fe80::/10');
    const single = cidrs.map((c) => new IpRanges([c]));
    for (let i = 0; i < 2000; i++) {
      const ip = `10.0.${i % 5}.${(i * 37) % 256}`;
      assert.equal(r.has(ip), single.some((s) => s.has(ip)), ip);
    }
    assert.equal(r.has('0.0.0.0'), true);
    assert.equal(r.has('fe80::1:2'), true);
    assert.equal(r.has('fec0::'), false);
  });

  it('an empty list matches nothing; ::/0 takes every address, IPv4 ones too', () => {
    assert.equal(new IpRanges([]).has('10.0.0.1'), false);
    const all = new IpRanges(['::/0']);
    assert.equal(all.has('10.0.0.1'), true);
    assert.equal(all.has('2001:db8::1'), true);
  });
});

describe('ip-filter decisions', () => {
  it('deny wins; a non-empty allow refuses the rest; an address that cannot be read is refused (fail closed)', () => {
    const both = new IpFilter({ id: 'f', type: 'ip-filter', allow: ['10.0.0.0/8'], deny: ['10.6.0.0/16'] });
    assert.equal(both.permits('10.1.1.1'), true);
    assert.equal(both.permits('10.6.1.1'), false);
    assert.equal(both.permits('192.0.2.1'), false);
    const denyOnly = new IpFilter({ id: 'f', type: 'ip-filter', deny: ['10.6.0.0/16'] });
    assert.equal(denyOnly.permits('192.0.2.1'), true);
    assert.equal(denyOnly.permits('10.6.0.1'), false);
    assert.equal(denyOnly.permits('unknown'), false, 'a socket gone before its address was read');
  });
});
