// Policy types by name (Caddy's module registry idea): a new type registers a factory here and
// its schema in src/config/policies/index.ts (the CLI and the control plane validate with the
// schemas alone, without loading any of this); the runtime compiler only ever calls createPolicy.
import type { Policy } from '../../config/schema.js';
import { BasicAuth } from './basic-auth.js';
import { BodyLimit } from './body-limit.js';
import { Cors } from './cors.js';
import { ForwardAuth } from './forward-auth.js';
import { HeaderEditor } from './headers.js';
import { IpFilter } from './ip-filter.js';
import { Jwt } from './jwt.js';
import { KeyAuth } from './key-auth.js';
import { RateLimit } from './rate-limit.js';
import type { PolicyInstance } from './types.js';

type PolicyOf<T extends string> = Extract<Policy, { type: T }>;
type Factory = (def: Policy) => PolicyInstance;

const factories = new Map<string, Factory>();

export function registerPolicyType<T extends Policy['type']>(
  type: T,
  factory: (def: PolicyOf<T>) => PolicyInstance,
): void {
  factories.set(type, factory as Factory);
}

export function knownPolicyTypes(): string[] {
  return [...factories.keys()].sort();
}

/** A fresh instance (fresh state) for a policy definition. Throws on an unregistered type. */
export function createPolicy(def: Policy): PolicyInstance {
  const factory = factories.get(def.type);
  if (factory === undefined) throw new Error(`policy "${def.id}": unknown type "${def.type}"`);
  return factory(def);
}

registerPolicyType('rate-limit', (def) => new RateLimit(def));
registerPolicyType('key-auth', (def) => new KeyAuth(def));
registerPolicyType('basic-auth', (def) => new BasicAuth(def));
registerPolicyType('jwt', (def) => new Jwt(def));
registerPolicyType('forward-auth', (def) => new ForwardAuth(def));
registerPolicyType('ip-filter', (def) => new IpFilter(def));
registerPolicyType('body-limit', (def) => new BodyLimit(def));
registerPolicyType('cors', (def) => new Cors(def));
registerPolicyType('headers', (def) => new HeaderEditor(def));
