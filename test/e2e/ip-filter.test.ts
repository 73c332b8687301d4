// ip-filter: 403 from the client's side, "never reached" from the upstream's; IPv4, IPv6 and
// IPv4-mapped addresses; the client behind trusted proxies (right-most untrusted hop).
import assert from 'node:assert/strict';
import type { RequestListener } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { TrustedProxies } from '../../src/proxy/forwarded.js';
import { json, proxy, send, upstream } from '../helpers/data-plane.js';

const T = { timeout: 15_000 };

/** An upstream that counts the requests it got. */
async function counted(t: TestContext) {
  const seen: string[] = [];
  const handler: RequestListener = (req, res) => {
    seen.push(req.url ?? '');
    res.end('up');
  };
  return { seen, server: await upstream(t, handler) };
}

async function filtered(t: TestContext, rules: { allow?: string[]; deny?: string[] }, trustedProxies?: string) {
  const up = await counted(t);
  const doc = {
    upstreams: [{ id: 'u', targets: [{ url: up.server.url }] }],
    routes: [{ id: 'r', match: { paths: ['/*'] }, upstream: 'u', policies: ['f'] }],
    policies: [{ id: 'f', type: 'ip-filter', ...rules }],
  };
  const p = await proxy(t, doc, trustedProxies === undefined ? {} : { trustedProxies: TrustedProxies.parse(trustedProxies) });
  return { p, seen: up.seen };
}

describe('ip-filter', () => {
  it('allow list: an address outside it gets 403 forbidden and never reaches the upstream', T, async (t) => {
    const { p, seen } = await filtered(t, { allow: ['127.0.0.1/32'] });
    const ok = await send(p.url, '/in', { localAddress: '127.0.0.1' });
    assert.equal(ok.status, 200);
    const no = await send(p.url, '/out', { localAddress: '127.0.0.2' });
    assert.equal(no.status, 403);
    assert.deepEqual(json(no), { error: 'forbidden' });
    assert.deepEqual(seen, ['/in'], 'the refused request never reached the upstream');
  });

  it('deny wins over allow', T, async (t) => {
    const { p, seen } = await filtered(t, { allow: ['127.0.0.0/8'], deny: ['127.0.0.2'] });
    assert.equal((await send(p.url, '/a', { localAddress: '127.0.0.1' })).status, 200);
    assert.equal((await send(p.url, '/b', { localAddress: '127.0.0.2' })).status, 403);
    assert.equal((await send(p.url, '/c', { localAddress: '127.0.0.3' })).status, 200);
    assert.deepEqual(seen, ['/a', '/c']);
  });

  it('behind a trusted proxy: the right-most untrusted X-Forwarded-For hop, IPv6 and IPv4-mapped included', T, async (t) => {
    const { p, seen } = await filtered(t, { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.6.6.0/24'] }, '127.0.0.1, 192.168.0.0/16');
    const via = (path: string, xff: string, localAddress = '127.0.0.1') => send(p.url, path, { localAddress, headers: { 'x-forwarded-for': xff } });
    assert.equal((await via('/v4', '10.1.2.3')).status, 200);
    assert.equal((await via('/v6', '2001:db8::7')).status, 200);
    assert.equal((await via('/mapped', '::ffff:10.1.2.3')).status, 200, 'an IPv4-mapped address matches the IPv4 rule');
    assert.equal((await via('/mapped-hex', '::ffff:a01:203')).status, 200);
    assert.equal((await via('/mapped-denied', '::FFFF:10.6.6.6')).status, 403, 'and the IPv4 deny rule');
    assert.equal((await via('/v6-out', '2001:db9::1')).status, 403);
    // The client wrote 10.1.2.3 itself; a trusted proxy (192.168.1.1) added the real address.
    assert.equal((await via('/spoof', '10.1.2.3, 203.0.113.9, 192.168.1.1')).status, 403, 'a spoofed left-most hop is never reached');
    assert.equal((await via('/chain', '203.0.113.9, 10.1.2.3, 192.168.1.1')).status, 200);
    // 127.0.0.2 is not trusted: its X-Forwarded-For is ignored, and 127.0.0.2 is not allowed.
    assert.equal((await via('/untrusted', '10.1.2.3', '127.0.0.2')).status, 403);
    assert.deepEqual(seen, ['/v4', '/v6', '/mapped', '/mapped-hex', '/chain']);
  });
});
