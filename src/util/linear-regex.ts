// Regular expressions that match in time linear in the input, for patterns from config that run
// against what clients send (paths, header and query values).
//
// V8's RegExp backtracks: `(a|a)*b` or `a*a*a*b` take exponential or polynomial time on a crafted
// input, and a route pattern is applied to every request that reaches it. Envoy uses RE2 for the
// same reason (and refuses programs over a size); APISIX and Kong hand patterns to PCRE. This is
// RE2's approach in miniature: the pattern is parsed into a small syntax, compiled into a Glushkov
// automaton (one state per character position, no empty transitions), and simulated on all its
// states at once as bit sets. Every input character costs the same bounded work whatever the
// pattern and the input, and nothing here can backtrack.
//
// Syntax (a subset of RE2 and of JavaScript; anything else is refused with a message):
//   literal printable ASCII; `\` before any punctuation makes it literal; `\t \n \r \f \v \xHH`
//   `.` (any character)  `[abc]` `[^a-z0-9_-]`  `\d \D \w \W \s \S` (also inside classes)
//   `( )` `(?: )` `(?<name> )` groups, `|` alternation
//   `* + ? {n} {n,} {n,m}` (n, m at most MAX_REPEAT), each optionally followed by `?` (lazy
//   and greedy match the same strings: a pattern here only ever answers yes or no)
//   `^` only first and `$` only last: the pattern always matches the whole value.
// Refused: backreferences, lookaround, word boundaries, inline flags, Unicode escapes, POSIX
// classes; and patterns over MAX_POSITIONS character positions once counted repetition is
// expanded (`[a-z]{1,300}` is 300 positions), which bounds the work per character.

export const MAX_PATTERN_LENGTH = 1000;
/** Character positions (automaton states) after expanding `{n,m}`. */
export const MAX_POSITIONS = 256;
export const MAX_REPEAT = 256;

/** 256 bits (one per Latin-1 character) plus whether characters above U+00FF belong. */
interface CharSet {
  readonly bits: Uint32Array;
  high: boolean;
}

type Node =
  | { readonly t: 'set'; readonly set: CharSet; /** char code when written as one literal character, else -1 */ readonly literal: number }
  | { readonly t: 'cat'; readonly items: Node[] }
  | { readonly t: 'alt'; readonly items: Node[] }
  | { readonly t: 'rep'; readonly node: Node; readonly min: number; readonly max: number }
  | { readonly t: 'empty' };

export class RegexSyntaxError extends Error {}

function newSet(): CharSet {
  return { bits: new Uint32Array(8), high: false };
}

function addRange(set: CharSet, from: number, to: number): void {
  for (let c = from; c <= to && c < 256; c++) set.bits[c >>> 5]! |= 1 << (c & 31);
}

function negate(set: CharSet): CharSet {
  const out = newSet();
  for (let i = 0; i < 8; i++) out.bits[i] = ~set.bits[i]!;
  out.high = !set.high;
  return out;
}

function union(into: CharSet, from: CharSet): void {
  for (let i = 0; i < 8; i++) into.bits[i]! |= from.bits[i]!;
  into.high ||= from.high;
}

function single(c: number): CharSet {
  const set = newSet();
  addRange(set, c, c);
  return set;
}

const DIGIT = (() => {
  const s = newSet();
  addRange(s, 48, 57);
  return s;
})();
const WORD = (() => {
  const s = newSet();
  addRange(s, 48, 57);
  addRange(s, 65, 90);
  addRange(s, 97, 122);
  addRange(s, 95, 95);
  return s;
})();
const SPACE = (() => {
  const s = newSet();
  for (const c of [9, 10, 11, 12, 13, 32, 0xa0]) addRange(s, c, c);
  return s;
})();
const ANY = negate(newSet());

const CLASS_ESCAPES: Record<string, CharSet> = {
  d: DIGIT,
  D: negate(DIGIT),
  w: WORD,
  W: negate(WORD),
  s: SPACE,
  S: negate(SPACE),
};
const CONTROL_ESCAPES: Record<string, number> = { t: 9, n: 10, r: 13, f: 12, v: 11 };

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

class Parser {
  private i = 0;
  /** `src` is the pattern without a leading "^", which is `offset` characters: positions in messages count from the pattern's start. */
  constructor(
    private readonly src: string,
    private readonly offset: number,
  ) {}

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.src.length) throw this.error(`unmatched ")" at ${this.i}`);
    return node;
  }

  /** `message` says "at N" with N an index into src, made an index into the pattern here. */
  private error(message: string): RegexSyntaxError {
    return new RegexSyntaxError(message.replace(/ at (\d+)/, (_, n: string) => ` at ${Number(n) + this.offset}`));
  }

  private alternation(): Node {
    const items = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      items.push(this.sequence());
    }
    return items.length === 1 ? items[0]! : { t: 'alt', items };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') items.push(this.repeat());
    if (items.length === 0) return { t: 'empty' };
    return items.length === 1 ? items[0]! : { t: 'cat', items };
  }

  private repeat(): Node {
    const start = this.i;
    let node = this.atom();
    const q = this.quantifier();
    if (q === null) return node;
    if (q.max < q.min) throw this.error(`{${q.min},${q.max}} at ${start}: the maximum is below the minimum`);
    node = { t: 'rep', node, min: q.min, max: q.max };
    if (this.src[this.i] === '?') this.i++; // lazy: the same strings match
    const next = this.src[this.i];
    if (next === '*' || next === '+' || next === '?' || (next === '{' && this.quantifierAt(this.i))) {
      throw this.error(`a quantifier at ${this.i} follows another (possessive and nested quantifiers need a group)`);
    }
    return node;
  }

  /** `{n}`, `{n,}` or `{n,m}` starting at `at`. */
  private quantifierAt(at: number): boolean {
    return /^\{\d+(,\d*)?\}/.test(this.src.slice(at, at + 12));
  }

  private quantifier(): { min: number; max: number } | null {
    const c = this.src[this.i];
    if (c === '*') return this.i++, { min: 0, max: Infinity };
    if (c === '+') return this.i++, { min: 1, max: Infinity };
    if (c === '?') return this.i++, { min: 0, max: 1 };
    if (c !== '{') return null;
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
    if (m === null) throw this.error(`"{" at ${this.i} starts no {n}, {n,} or {n,m}; write a literal "{" as "\\{"`);
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) throw this.error(`{${m[1]}${m[2] ?? ''}} at ${this.i}: repeat counts are at most ${MAX_REPEAT}`);
    this.i += m[0].length;
    return { min, max };
  }

  private atom(): Node {
    const at = this.i;
    const c = this.src[this.i++]!;
    switch (c) {
      case '(':
        return this.group(at);
      case '[':
        return { t: 'set', set: this.charClass(at), literal: -1 };
      case '.':
        return { t: 'set', set: ANY, literal: -1 };
      case '\\': {
        const e = this.escape(false);
        return { t: 'set', set: typeof e === 'number' ? single(e) : e, literal: typeof e === 'number' ? e : -1 };
      }
      case '^':
      case '$':
        throw this.error(`"${c}" at ${at}: "^" may only start and "$" only end the pattern (it always matches the whole value); write a literal one as "\\${c}"`);
      case '*':
      case '+':
      case '?':
        throw this.error(`"${c}" at ${at} has nothing to repeat`);
      case '{':
        if (this.quantifierAt(at)) throw this.error(`"{" at ${at} has nothing to repeat`);
        throw this.error(`"{" at ${at}: write a literal "{" as "\\{"`);
      default:
        return { t: 'set', set: single(this.plain(c, at)), literal: c.charCodeAt(0) };
    }
  }

  private plain(c: string, at: number): number {
    const code = c.charCodeAt(0);
    if (code < 0x20 || code > 0x7e) throw this.error(`character ${JSON.stringify(c)} at ${at}: patterns are printable ASCII; write others as \\xHH`);
    return code;
  }

  private group(at: number): Node {
    if (this.src[this.i] === '?') {
      const rest = this.src.slice(this.i + 1, this.i + 3);
      if (rest.startsWith(':')) this.i += 2;
      else if (rest === '<=' || rest === '<!' || rest.startsWith('=') || rest.startsWith('!')) {
        throw this.error(`lookaround at ${at} is not supported: no pattern here may look ahead or behind (RE2 refuses it too)`);
      } else if (rest.startsWith('<')) {
        const m = /^\?<[A-Za-z_][A-Za-z0-9_]*>/.exec(this.src.slice(this.i));
        if (m === null) throw this.error(`group name at ${at} must look like (?<name>...)`);
        this.i += m[0].length;
      } else {
        throw this.error(`"(?" at ${at}: inline flags and other group kinds are not supported; use (...), (?:...) or (?<name>...)`);
      }
    }
    const node = this.alternation();
    if (this.src[this.i] !== ')') throw this.error(`the group opened at ${at} is not closed`);
    this.i++;
    return node;
  }

  /** After a backslash: a character code, or a class for \d \w \s and their negations. */
  private escape(inClass: boolean): number | CharSet {
    const at = this.i - 1;
    const c = this.src[this.i++];
    if (c === undefined) throw this.error('the pattern ends with a lone "\\"');
    const cls = CLASS_ESCAPES[c];
    if (cls !== undefined) return cls;
    const control = CONTROL_ESCAPES[c];
    if (control !== undefined) return control;
    if (c === 'x') {
      const hex = this.src.slice(this.i, this.i + 2);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw this.error(`"\\x" at ${at} needs two hex digits`);
      this.i += 2;
      return parseInt(hex, 16);
    }
    if (isDigit(c) || c === 'k') throw this.error(`backreference "\\${c}" at ${at} is not supported: no engine can match backreferences in linear time`);
    if (c === 'b' || c === 'B') throw this.error(`"\\${c}" at ${at}: word boundaries are not supported${inClass ? ' (nor a backspace in a class)' : ''}`);
    if (/[A-Za-z]/.test(c)) throw this.error(`unknown escape "\\${c}" at ${at}`);
    return this.plain(c, at);
  }

  private charClass(at: number): CharSet {
    let negated = false;
    if (this.src[this.i] === '^') {
      negated = true;
      this.i++;
    }
    const set = newSet();
    let first = true;
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) throw this.error(`the class opened at ${at} is not closed`);
      if (c === ']') {
        if (first) throw this.error(`empty class at ${at}; write a literal "]" as "\\]"`);
        this.i++;
        break;
      }
      first = false;
      const lo = this.classAtom(at);
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && this.src[this.i + 1] !== undefined) {
        this.i++;
        const hi = this.classAtom(at);
        if (typeof lo !== 'number' || typeof hi !== 'number') throw this.error(`a range in the class at ${at} has a class escape at one end`);
        if (hi < lo) throw this.error(`range out of order in the class at ${at}`);
        addRange(set, lo, hi);
      } else if (typeof lo === 'number') {
        addRange(set, lo, lo);
      } else {
        union(set, lo);
      }
    }
    return negated ? negate(set) : set;
  }

  private classAtom(classAt: number): number | CharSet {
    const at = this.i;
    const c = this.src[this.i++]!;
    if (c === '\\') return this.escape(true);
    if (c === '[') throw this.error(`"[" inside the class at ${classAt}: write it as "\\[" (POSIX classes such as [:alpha:] are not supported)`);
    return this.plain(c, at);
  }
}

interface Fragment {
  nullable: boolean;
  first: number[];
  last: number[];
}

/** Builds the Glushkov automaton: positions, their character sets and follow sets. */
class Builder {
  readonly sets: CharSet[] = [];
  readonly follow: number[][] = [];
  /** Bounds the work of expanding repeats of fragments without positions, e.g. `(){256}{256}`. */
  private steps = 0;

  build(node: Node): Fragment {
    if (++this.steps > 100_000) throw new RegexSyntaxError('the pattern is too complex');
    switch (node.t) {
      case 'empty':
        return { nullable: true, first: [], last: [] };
      case 'set': {
        if (this.sets.length >= MAX_POSITIONS) {
          throw new RegexSyntaxError(`the pattern is too large: over ${MAX_POSITIONS} character positions once repeats are counted out (e.g. [a-z]{1,300} is 300)`);
        }
        const p = this.sets.length;
        this.sets.push(node.set);
        this.follow.push([]);
        return { nullable: false, first: [p], last: [p] };
      }
      case 'cat': {
        let acc: Fragment = { nullable: true, first: [], last: [] };
        for (const item of node.items) acc = this.concat(acc, this.build(item));
        return acc;
      }
      case 'alt': {
        const out: Fragment = { nullable: false, first: [], last: [] };
        for (const item of node.items) {
          const f = this.build(item);
          out.nullable ||= f.nullable;
          out.first.push(...f.first);
          out.last.push(...f.last);
        }
        return out;
      }
      case 'rep':
        return this.repeat(node.node, node.min, node.max);
    }
  }

  private concat(a: Fragment, b: Fragment): Fragment {
    for (const p of a.last) this.follow[p]!.push(...b.first);
    return {
      nullable: a.nullable && b.nullable,
      first: a.nullable ? [...a.first, ...b.first] : a.first,
      last: b.nullable ? [...a.last, ...b.last] : b.last,
    };
  }

  /** x{min,max} as min copies of x, then x* (unbounded) or (max - min) copies of x?: the same strings. */
  private repeat(node: Node, min: number, max: number): Fragment {
    let acc: Fragment = { nullable: true, first: [], last: [] };
    const copies = max === Infinity ? Math.max(min, 1) : min;
    for (let i = 0; i < copies; i++) {
      const f = this.build(node);
      if (max === Infinity && i === copies - 1) {
        for (const p of f.last) this.follow[p]!.push(...f.first);
        if (min === 0) f.nullable = true;
      }
      acc = this.concat(acc, f);
    }
    if (max !== Infinity) {
      for (let i = min; i < max; i++) {
        const f = this.build(node);
        f.nullable = true;
        acc = this.concat(acc, f);
      }
    }
    return acc;
  }
}

/** A compiled pattern; `test` answers whether the whole of `s[start, end)` matches. */
export class LinearRegex {
  /** The literal characters every match starts with (possibly ""). */
  readonly literalPrefix: string;
  private readonly words: number;
  private readonly nullable: boolean;
  private readonly first: Uint32Array;
  private readonly last: Uint32Array;
  /** follow[p * words + w]: the positions that may come after position p. */
  private readonly follow: Uint32Array;
  /** masks[c * words + w]: the positions whose set holds character c (c < 256). */
  private readonly masks: Uint32Array;
  private readonly highMask: Uint32Array;
  private cur: Uint32Array;
  private next: Uint32Array;

  /** @throws RegexSyntaxError naming what is wrong and where. */
  constructor(readonly source: string) {
    if (source.length > MAX_PATTERN_LENGTH) throw new RegexSyntaxError(`the pattern is longer than ${MAX_PATTERN_LENGTH} characters`);
    let body = source;
    const offset = body.startsWith('^') ? 1 : 0;
    body = body.slice(offset);
    if (body.endsWith('$') && !escapedAt(body, body.length - 1)) body = body.slice(0, -1);
    const ast = new Parser(body, offset).parse();
    this.literalPrefix = literalPrefix(ast);
    const b = new Builder();
    const frag = b.build(ast);
    const n = b.sets.length;
    const words = Math.max(1, Math.ceil(n / 32));
    this.words = words;
    this.nullable = frag.nullable;
    this.first = bitset(words, frag.first);
    this.last = bitset(words, frag.last);
    this.follow = new Uint32Array(n * words);
    for (let p = 0; p < n; p++) this.follow.set(bitset(words, b.follow[p]!), p * words);
    this.masks = new Uint32Array(256 * words);
    this.highMask = new Uint32Array(words);
    for (let p = 0; p < n; p++) {
      const set = b.sets[p]!;
      const w = p >>> 5;
      const bit = 1 << (p & 31);
      for (let c = 0; c < 256; c++) if ((set.bits[c >>> 5]! & (1 << (c & 31))) !== 0) this.masks[c * words + w]! |= bit;
      if (set.high) this.highMask[w]! |= bit;
    }
    this.cur = new Uint32Array(words);
    this.next = new Uint32Array(words);
  }

  test(s: string, start = 0, end = s.length): boolean {
    if (start >= end) return this.nullable;
    const words = this.words;
    let cur = this.cur;
    let next = this.next;
    let any = this.step(this.first, s.charCodeAt(start), cur);
    for (let i = start + 1; any && i < end; i++) {
      next.fill(0);
      for (let w = 0; w < words; w++) {
        let bits = cur[w]!;
        while (bits !== 0) {
          const low = bits & -bits;
          const p = (w << 5) + 31 - Math.clz32(low);
          const base = p * words;
          for (let v = 0; v < words; v++) next[v]! |= this.follow[base + v]!;
          bits ^= low;
        }
      }
      any = this.step(next, s.charCodeAt(i), next);
      const t = cur;
      cur = next;
      next = t;
    }
    if (!any) return false;
    for (let w = 0; w < words; w++) if ((cur[w]! & this.last[w]!) !== 0) return true;
    return false;
  }

  /** out = reach ∩ positions accepting character c; whether any is left. */
  private step(reach: Uint32Array, c: number, out: Uint32Array): boolean {
    const words = this.words;
    let any = 0;
    if (c < 256) {
      const base = c * words;
      for (let w = 0; w < words; w++) any |= out[w] = reach[w]! & this.masks[base + w]!;
    } else {
      for (let w = 0; w < words; w++) any |= out[w] = reach[w]! & this.highMask[w]!;
    }
    return any !== 0;
  }
}

function bitset(words: number, positions: readonly number[]): Uint32Array {
  const out = new Uint32Array(words);
  for (const p of positions) out[p >>> 5]! |= 1 << (p & 31);
  return out;
}

function escapedAt(s: string, i: number): boolean {
  let n = 0;
  while (i - 1 - n >= 0 && s[i - 1 - n] === '\\') n++;
  return n % 2 === 1;
}

function literalPrefix(node: Node): string {
  const items = node.t === 'cat' ? node.items : [node];
  let out = '';
  for (const item of items) {
    if (item.t !== 'set' || item.literal < 0) break;
    out += String.fromCharCode(item.literal);
  }
  return out;
}

/** Why `source` is not an acceptable pattern, or null. */
export function regexProblem(source: string): string | null {
  try {
    new LinearRegex(source);
    return null;
  } catch (err) {
    if (err instanceof RegexSyntaxError) return err.message;
    throw err;
  }
}
