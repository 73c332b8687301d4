export { CONTINUE, HANDLED, PolicyContext, runPolicies, editHeaderList, editHeaderObject, type HeaderEdit, type PolicyInstance, type PolicyOutcome, type PolicyResult, type PreflightAnswerer } from './types.js';
export { BUSY, CompiledConsumers, MAX_PENDING, NO_CONSUMERS, type BasicOutcome, type ConsumerIndex } from './consumers.js';
export { createPolicy, knownPolicyTypes, registerPolicyType } from './registry.js';
export { BoundedBuckets, MAX_KEYS, RateLimit, TokenBucket, defaultBurst } from './rate-limit.js';
export { BodyLimit, sendBodyTooLarge } from './body-limit.js';
export { Cors, OriginMatcher } from './cors.js';
export { IpFilter } from './ip-filter.js';
