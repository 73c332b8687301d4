// Address ranges (CIDRs) compiled once into sorted, merged intervals, looked up by binary search.
//
// IPv4 lives inside IPv6 as its IPv4-mapped form (::ffff:a.b.c.d, RFC 4291 §2.5.5.2): a rule and
// an address are both read into that one 128-bit space, so "10.0.0.0/8" matches "::ffff:10.0.0.1"
// (what a dual-stack socket reports for an IPv4 client) and "::ffff:10.0.0.0/104" matches
// "10.0.0.1", whichever way either is written.
//
// Why not node:net BlockList: its check() costs ~1.5 µs (forwarded.ts measured it), grows with the
// number of rules (it scans them), and matches an IPv4-mapped address against IPv4 rules only
// in some Node versions. Here a lookup is one parse into a reused scratch array (no allocation)
// and log2(n) comparisons of four words.

/** An address as four 32-bit words, most significant first. */
type Words = Uint32Array;

const MAPPED_PREFIX = 0xffff; // word 2 of an IPv4-mapped address

/** Parse an IPv4 address into `out` (mapped form). False when it is not one. */
function parseV4(s: string, from: number, to: number, out: Words): boolean {
  let value = 0;
  let part = -1;
  let digits = 0;
  let dots = 0;
  for (let i = from; i <= to; i++) {
    const c = i === to ? 46 /* end acts as "." */ : s.charCodeAt(i);
    if (c === 46) {
      if (part < 0 || dots > 3) return false;
      value = value * 256 + part;
      part = -1;
      digits = 0;
      dots++;
      continue;
    }
    if (c < 48 || c > 57) return false;
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (digits === 1 && part === 0) return false;
    part = part < 0 ? c - 48 : part * 10 + (c - 48);
    if (part > 255 || ++digits > 3) return false;
  }
  if (dots !== 4) return false;
  out[0] = 0;
  out[1] = 0;
  out[2] = MAPPED_PREFIX;
  out[3] = value >>> 0;
  return true;
}

const groups = new Uint16Array(8);

/** Parse an IPv6 address (a zone id "%eth0" ignored) into `out`. False when it is not one. */
function parseV6(s: string, out: Words): boolean {
  let end = s.indexOf('%');
  if (end < 0) end = s.length;
  let n = 0; // groups written
  let gap = -1; // group index where "::" stands
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  } else if (s.charCodeAt(0) === 58) return false;
  while (i < end) {
    let value = 0;
    let digits = 0;
    const start = i;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      value = value * 16 + d;
      if (++digits > 4) return false;
    }
    if (i < end && s.charCodeAt(i) === 46) {
      // An IPv4 tail takes the last two groups.
      if (n > 6 || !parseV4(s, start, end, scratchV4)) return false;
      groups[n++] = scratchV4[3]! >>> 16;
      groups[n++] = scratchV4[3]! & 0xffff;
      i = end;
      break;
    }
    if (digits === 0 || n === 8) return false;
    groups[n++] = value;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) return false;
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  // Spread the groups after the gap to the end, zeros between.
  const all = scratchGroups;
  const tail = gap < 0 ? 0 : n - gap;
  const head = n - tail;
  for (let g = 0; g < 8; g++) all[g] = g < head ? groups[g]! : g >= 8 - tail ? groups[g - (8 - tail) + head]! : 0;
  for (let w = 0; w < 4; w++) out[w] = ((all[2 * w]! << 16) | all[2 * w + 1]!) >>> 0;
  return true;
}
const scratchV4 = new Uint32Array(4);
const scratchGroups = new Uint16Array(8);

/** Read an IPv4 or IPv6 address into `out` (IPv4 in its mapped form). False when it is neither. */
export function parseAddress(s: string, out: Words): boolean {
  if (s.length === 0) return false;
  return s.indexOf(':') < 0 ? parseV4(s, 0, s.length, out) : parseV6(s, out);
}

function compare(a: Words, ai: number, b: Words, bi: number): number {
  for (let w = 0; w < 4; w++) {
    const x = a[ai + w]!;
    const y = b[bi + w]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Whether address `a` is `b` + 1 (adjacent ranges merge into one). */
function follows(a: Words, b: Words): boolean {
  let carry = 1;
  for (let w = 3; w >= 0; w--) {
    const sum = b[w]! + carry;
    carry = sum > 0xffffffff ? 1 : 0;
    if (a[w] !== sum >>> 0) return false;
  }
  return carry === 0;
}

/** A parsed CIDR: its first and last address. */
export interface Range {
  readonly first: Words;
  readonly last: Words;
}

/**
 * "10.0.0.0/8", "fd00::/8", or a lone address: its range, or a message saying what is wrong.
 * Bits set past the prefix are refused ("10.0.0.1/8" is likely a typo of one address or of
 * 10.0.0.0/8; the message names the network it would be).
 */
export function parseCidr(text: string): Range | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const first = new Uint32Array(4);
  if (!parseAddress(address, first)) return `"${text}" is not an IP address or CIDR (such as 10.0.0.0/8 or fd00::/8)`;
  const v4 = address.indexOf(':') < 0;
  const max = v4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) return `"${text}": the prefix length must be 0 to ${max}`;
    prefix = Number(p);
  }
  const bits = v4 ? prefix + 96 : prefix;
  const last = new Uint32Array(4);
  let hostBits = false;
  for (let w = 0; w < 4; w++) {
    const keep = Math.max(0, Math.min(32, bits - 32 * w));
    const mask = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
    if ((first[w]! & ~mask) >>> 0 !== 0) hostBits = true;
    first[w] = (first[w]! & mask) >>> 0;
    last[w] = (first[w]! | ~mask) >>> 0;
  }
  if (hostBits) return `"${text}" has bits set past its /${prefix} prefix; the network is ${formatNetwork(first, v4)}/${prefix}`;
  return { first, last };
}

function formatNetwork(w: Words, v4: boolean): string {
  if (v4) return [w[3]! >>> 24, (w[3]! >>> 16) & 255, (w[3]! >>> 8) & 255, w[3]! & 255].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 4; i++) groups.push((w[i]! >>> 16).toString(16), (w[i]! & 0xffff).toString(16));
  return groups.join(':');
}

/** CIDRs compiled into merged intervals; `has` is a binary search. */
export class IpRanges {
  /** first[0..3], last[0..3] of each interval, sorted by first, none overlapping or adjacent. */
  private readonly bounds: Uint32Array;
  readonly count: number;
  private readonly address = new Uint32Array(4);

  /** @throws naming the first entry that is not an address or CIDR (validation refuses it first). */
  constructor(cidrs: readonly string[]) {
    const ranges = cidrs.map((c) => {
      const r = parseCidr(c);
      if (typeof r === 'string') throw new Error(r);
      return r;
    });
    ranges.sort((a, b) => compare(a.first, 0, b.first, 0));
    const merged: Range[] = [];
    for (const r of ranges) {
      const top = merged[merged.length - 1];
      if (top !== undefined && (compare(r.first, 0, top.last, 0) <= 0 || follows(r.first, top.last))) {
        if (compare(r.last, 0, top.last, 0) > 0) top.last.set(r.last);
      } else {
        merged.push({ first: Uint32Array.from(r.first), last: Uint32Array.from(r.last) });
      }
    }
    this.count = merged.length;
    this.bounds = new Uint32Array(merged.length * 8);
    merged.forEach((r, i) => {
      this.bounds.set(r.first, i * 8);
      this.bounds.set(r.last, i * 8 + 4);
    });
  }

  /** Whether `ip` (IPv4 or IPv6 text) is in one of the ranges; false when it is no address. */
  has(ip: string): boolean {
    const a = this.address;
    if (this.count === 0 || !parseAddress(ip, a)) return false;
    const b = this.bounds;
    // The last interval whose first address is <= a.
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(b, mid * 8, a, 0) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && compare(a, 0, b, found * 8 + 4) <= 0;
  }
}
