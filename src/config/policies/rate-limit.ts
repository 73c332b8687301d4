// rate-limit: requests per second per key, with a burst (src/proxy/policies/rate-limit.ts). The key
// is the client's address (ip), the consumer an auth policy before it identified (consumer; the
// address without one), or a header's value.
import { z } from 'zod';
import { HEADER_NAME, id } from '../fields.js';

export const DEFAULT_RATE_LIMIT_KEY = 'ip';

const HEADER_KEY = 'header:';
function rateLimitKeyProblem(key: string): string | null {
  if (key === 'ip') return null;
  if (key.startsWith(HEADER_KEY)) {
    return HEADER_NAME.test(key.slice(HEADER_KEY.length)) ? null : `"${key}": a header name must follow "header:"`;
  }
  if (key === 'consumer') return null;
  return 'must be "ip", "consumer" or "header:<name>"';
}

export const rateLimitPolicy = z.strictObject({
  id,
  type: z.literal('rate-limit'),
  requestsPerSecond: z.number().positive().max(1_000_000),
  burst: z.number().int().min(1).max(10_000_000).optional(),
  key: z
    .string()
    .superRefine((k, ctx) => {
      const problem = rateLimitKeyProblem(k);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

export type RateLimitPolicy = z.infer<typeof rateLimitPolicy>;
