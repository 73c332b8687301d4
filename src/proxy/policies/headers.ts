// headers: set / add / remove on the request sent upstream and on the answer sent back, in that
// order (remove, then set, then add) on each side. Values are compiled once into parts; only a
// value that names a variable is put together per request. Variables take their value when the
// policy runs: $consumer is the consumer an auth policy earlier in the chain identified ("" when
// none did), $route the route's id, $requestId the X-Request-Id, $clientIp the client's address.
// Response changes apply to the upstream's answer and to the proxy's own (PolicyContext).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseTemplate, type HeaderChanges, type HeadersPolicy, type TemplatePart } from '../../config/policies/index.js';
import { CONTINUE, type HeaderEdit, type PolicyContext, type PolicyInstance, type PolicyResult } from './types.js';

/** One change (name lowercase), its value either fixed (`value`) or put together per request (`parts`). */
interface Change extends HeaderEdit {
  readonly parts: readonly TemplatePart[] | null;
}

function compileChanges(c: HeaderChanges | undefined): Change[] {
  if (c === undefined) return [];
  const out: Change[] = [];
  for (const name of c.remove ?? []) out.push({ op: 'remove', name: name.toLowerCase(), value: '', parts: null });
  for (const op of ['set', 'add'] as const) {
    const record = c[op] ?? {};
    for (const name of Object.keys(record)) {
      const parts = parseTemplate(record[name]!);
      if (typeof parts === 'string') throw new Error(`header "${name}": ${parts}`);
      const fixed = parts.length === 1 && typeof parts[0] === 'string';
      out.push({ op, name: name.toLowerCase(), value: fixed ? (parts[0] as string) : '', parts: fixed ? null : parts });
    }
  }
  return out;
}

function expand(parts: readonly TemplatePart[], ctx: PolicyContext): string {
  let s = '';
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (typeof p === 'string') s += p;
    else if (p.variable === 'consumer') s += ctx.consumer ?? '';
    else if (p.variable === 'route') s += ctx.routeId;
    else if (p.variable === 'requestId') s += ctx.requestId;
    else s += ctx.clientIp;
  }
  return s;
}

export class HeaderEditor implements PolicyInstance {
  readonly id: string;
  readonly type = 'headers';
  private readonly request: Change[];
  private readonly response: Change[];

  constructor(def: HeadersPolicy) {
    this.id = def.id;
    this.request = compileChanges(def.request);
    this.response = compileChanges(def.response);
  }

  handle(_req: IncomingMessage, _res: ServerResponse, ctx: PolicyContext): PolicyResult {
    // A fixed change is its own edit; only one naming a variable is made anew.
    for (const c of this.request) ctx.addUpstreamEdit(c.parts === null ? c : { op: c.op, name: c.name, value: expand(c.parts, ctx) });
    for (const c of this.response) ctx.addResponseEdit(c.parts === null ? c : { op: c.op, name: c.name, value: expand(c.parts, ctx) });
    return CONTINUE;
  }
}
