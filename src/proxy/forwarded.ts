// Who sent a request: the peer of the connection, and the client behind it when the peer is a
// proxy this one trusts (nginx's real_ip with real_ip_recursive, Traefik's
// forwardedHeaders.trustedIPs). From an untrusted peer X-Forwarded-For, -Proto and -Host are
// replaced, so a client cannot choose the address the upstream (or a rate limit) sees; from a
// trusted one they are kept and X-Forwarded-For gets the peer appended.
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';

export class TrustedProxies {
  /** The CIDRs as given, for logs and status. */
  readonly entries: readonly string[];
  private readonly list: BlockList | null;
  // A connection's peer never changes: one BlockList lookup (~1.5 µs) per connection.
  private readonly peers = new WeakMap<Socket, boolean>();

  /** @param cidrs addresses or CIDRs, IPv4 or IPv6; throws naming the first that is neither. */
  constructor(cidrs: readonly string[]) {
    this.entries = [...cidrs];
    if (cidrs.length === 0) {
      this.list = null;
      return;
    }
    const list = new BlockList();
    for (const cidr of cidrs) {
      const slash = cidr.indexOf('/');
      const address = slash < 0 ? cidr : cidr.slice(0, slash);
      const family = isIP(address);
      const max = family === 4 ? 32 : 128;
      const prefixText = slash < 0 ? String(max) : cidr.slice(slash + 1);
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
      if (family === 0 || prefix < 0 || prefix > max) {
        throw new Error(`"${cidr}" is not an IP address or CIDR (such as 10.0.0.0/8 or fd00::/8)`);
      }
      list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
    this.list = list;
  }

  /** "10.0.0.0/8, 192.168.1.7" → TrustedProxies; empty or undefined → trust none. */
  static parse(text: string | undefined): TrustedProxies {
    const cidrs = (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    return new TrustedProxies(cidrs);
  }

  get size(): number {
    return this.entries.length;
  }

  has(address: string): boolean {
    if (this.list === null) return false;
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** Whether the peer of `socket` (its address is `peer`) is trusted. */
  trustsPeer(socket: Socket, peer: string): boolean {
    if (this.list === null) return false;
    let trusted = this.peers.get(socket);
    if (trusted === undefined) {
      trusted = this.has(peer);
      this.peers.set(socket, trusted);
    }
    return trusted;
  }
}

export const TRUST_NONE = new TrustedProxies([]);

/** An IPv4-mapped IPv6 address ("::ffff:10.0.0.1") in its IPv4 form. */
function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** The connection's peer address. */
export function peerAddress(req: IncomingMessage): string {
  const ip = req.socket.remoteAddress;
  return ip === undefined ? 'unknown' : unmapped(ip);
}

/**
 * The client's address: the peer, or, when the peer is trusted, the right-most address of
 * X-Forwarded-For that is not a trusted proxy. An entry that is not an address ends the walk at
 * the last trusted one (what lies left of it was written by whoever sent it); a chain of only
 * trusted addresses gives its left-most.
 */
export function clientAddress(
  peer: string,
  peerTrusted: boolean,
  xff: string | string[] | undefined,
  trusted: TrustedProxies,
): string {
  if (!peerTrusted || xff === undefined) return peer;
  const hops = (typeof xff === 'string' ? xff : xff.join(',')).split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    if (isIP(hop) === 0) return client;
    client = unmapped(hop);
    if (!trusted.has(hop)) return client;
  }
  return client;
}
