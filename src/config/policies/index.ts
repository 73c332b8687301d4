// The policy types' schemas, one module each (the behaviour of each is in src/proxy/policies/,
// registered there by the same name). A new type: its schema module here, one line in this list,
// its behaviour module there, one line in src/proxy/policies/registry.ts.
import { basicAuthPolicy } from './basic-auth.js';
import { bodyLimitPolicy } from './body-limit.js';
import { corsPolicy } from './cors.js';
import { forwardAuthPolicy } from './forward-auth.js';
import { headersPolicy } from './headers.js';
import { ipFilterPolicy } from './ip-filter.js';
import { jwtPolicy } from './jwt.js';
import { keyAuthPolicy } from './key-auth.js';
import { rateLimitPolicy } from './rate-limit.js';

export const POLICY_SCHEMAS = [rateLimitPolicy, keyAuthPolicy, basicAuthPolicy, jwtPolicy, forwardAuthPolicy, ipFilterPolicy, bodyLimitPolicy, corsPolicy, headersPolicy] as const;
export const POLICY_TYPES = POLICY_SCHEMAS.map((s) => s.shape.type.value);

export { DEFAULT_RATE_LIMIT_KEY, type RateLimitPolicy } from './rate-limit.js';
export { DEFAULT_KEY_HEADER, type KeyAuthPolicy } from './key-auth.js';
export { DEFAULT_REALM, type BasicAuthPolicy } from './basic-auth.js';
export { DEFAULT_CLOCK_SKEW_S, DEFAULT_JWKS_COOLDOWN_S, JWT_KEY_SOURCES, jwtAlgorithms, jwtPolicy, type JwtPolicy } from './jwt.js';
export { DEFAULT_FORWARD_AUTH_TIMEOUT_MS, type ForwardAuthPolicy } from './forward-auth.js';
export type { IpFilterPolicy } from './ip-filter.js';
export type { BodyLimitPolicy } from './body-limit.js';
export { DEFAULT_CORS_METHODS, parseOrigin, type CorsPolicy } from './cors.js';
export { HEADER_VARIABLES, parseTemplate, type HeaderChanges, type HeadersPolicy, type TemplatePart } from './headers.js';
