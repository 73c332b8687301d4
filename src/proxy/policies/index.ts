export { CONTINUE, HANDLED, type PolicyContext, type PolicyInstance, type PolicyResult } from './types.js';
export { createPolicy, knownPolicyTypes, registerPolicyType } from './registry.js';
export { BoundedBuckets, MAX_KEYS, RateLimit, TokenBucket, defaultBurst } from './rate-limit.js';
