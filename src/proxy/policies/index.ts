export { CONTINUE, HANDLED, PolicyContext, runPolicies, editHeaderList, editHeaderObject, type HeaderEdit, type PolicyInstance, type PolicyOutcome, type PolicyResult } from './types.js';
export { BUSY, CompiledConsumers, MAX_PENDING, NO_CONSUMERS, type BasicOutcome, type ConsumerIndex } from './consumers.js';
export { createPolicy, knownPolicyTypes, registerPolicyType } from './registry.js';
export { BoundedBuckets, MAX_KEYS, RateLimit, TokenBucket, defaultBurst } from './rate-limit.js';
