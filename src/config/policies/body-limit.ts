// body-limit: the request body may not exceed maxBytes (src/proxy/policies/body-limit.ts).
import { z } from 'zod';
import { id } from '../fields.js';

export const bodyLimitPolicy = z.strictObject({
  id,
  type: z.literal('body-limit'),
  maxBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});

export type BodyLimitPolicy = z.infer<typeof bodyLimitPolicy>;
