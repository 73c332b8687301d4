// headers: changes to the request sent upstream and to the answer sent back
// (src/proxy/policies/headers.ts). Values may name a few variables, read per request.
import { z } from 'zod';
import { HEADER_NAME, id } from '../fields.js';

/** What a value may name: `$name` or `${name}`; `$$` is a literal "$". */
export const HEADER_VARIABLES = ['consumer', 'route', 'requestId', 'clientIp'] as const;
export type HeaderVariable = (typeof HEADER_VARIABLES)[number];

/** A value's parts: literal text, or a variable to read per request. */
export type TemplatePart = string | { readonly variable: HeaderVariable };

/** Parse a value: its parts (adjacent literals joined), or a message saying what is wrong. */
export function parseTemplate(value: string): TemplatePart[] | string {
  const parts: TemplatePart[] = [];
  let text = '';
  let i = 0;
  while (i < value.length) {
    const dollar = value.indexOf('$', i);
    if (dollar < 0) {
      text += value.slice(i);
      break;
    }
    text += value.slice(i, dollar);
    if (value.charCodeAt(dollar + 1) === 36 /* $ */) {
      text += '$';
      i = dollar + 2;
      continue;
    }
    let name: string;
    if (value.charCodeAt(dollar + 1) === 123 /* { */) {
      const close = value.indexOf('}', dollar + 2);
      if (close < 0) return `"\${" at ${dollar} has no closing "}"`;
      name = value.slice(dollar + 2, close);
      i = close + 1;
    } else {
      const m = /^[A-Za-z][A-Za-z0-9]*/.exec(value.slice(dollar + 1));
      if (m === null) return `"$" at ${dollar} starts no variable; write "$$" for a "$"`;
      name = m[0];
      i = dollar + 1 + name.length;
    }
    if (!(HEADER_VARIABLES as readonly string[]).includes(name)) {
      return `unknown variable "$${name}"; known: ${HEADER_VARIABLES.map((v) => `$${v}`).join(', ')} ("$$" for a "$")`;
    }
    if (text.length > 0) parts.push(text);
    text = '';
    parts.push({ variable: name as HeaderVariable });
  }
  if (text.length > 0 || parts.length === 0) parts.push(text);
  return parts;
}

/** Fields this policy may not touch: the connection's and the message framing's, and Host. */
const REFUSED: Record<string, string> = {
  connection: 'it is hop-by-hop: the proxy manages each connection itself',
  'keep-alive': 'it is hop-by-hop: the proxy manages each connection itself',
  'proxy-connection': 'it is hop-by-hop: the proxy manages each connection itself',
  te: 'it is hop-by-hop: the proxy manages each connection itself',
  trailer: 'it is hop-by-hop: the proxy manages each connection itself',
  upgrade: 'it is hop-by-hop: the proxy manages each connection itself',
  'transfer-encoding': 'it frames the message: a changed one would corrupt the body',
  'content-length': 'it frames the message: a changed one would corrupt the body',
  host: 'the route\'s rewrite.host sets the Host sent upstream',
};

/** Visible ASCII, space, tab and obs-text: what Node sends in a field value (no CR, LF, NUL). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function nameProblem(name: string): string | null {
  if (!HEADER_NAME.test(name)) return `"${name}" is no header name (RFC 9110 token)`;
  const why = REFUSED[name.toLowerCase()];
  return why === undefined ? null : `"${name}" cannot be changed: ${why}`;
}

const valuesByName = z.record(z.string(), z.string().max(8192)).superRefine((record, ctx) => {
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(record)) {
    const problem = nameProblem(name);
    if (problem !== null) ctx.addIssue({ code: 'custom', path: [name], message: problem });
    const lower = name.toLowerCase();
    if (seen.has(lower)) ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is listed twice (header names are case-insensitive)` });
    seen.add(lower);
    if (!FIELD_VALUE.test(value)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'a header value cannot hold CR, LF, NUL or other control characters' });
      continue;
    }
    const t = parseTemplate(value);
    if (typeof t === 'string') ctx.addIssue({ code: 'custom', path: [name], message: t });
  }
});

const names = z.array(
  z.string().superRefine((name, ctx) => {
    const problem = nameProblem(name);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  }),
);

const changes = z.strictObject({
  /** Replace every value of the header with this one. */
  set: valuesByName.optional(),
  /** Append this value to those the header has. */
  add: valuesByName.optional(),
  /** Drop the header. */
  remove: names.optional(),
});

export const headersPolicy = z.strictObject({
  id,
  type: z.literal('headers'),
  request: changes.optional(),
  response: changes.optional(),
});

export type HeadersPolicy = z.infer<typeof headersPolicy>;
export type HeaderChanges = z.infer<typeof changes>;
