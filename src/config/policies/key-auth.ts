// key-auth: an API key from a header or a query parameter, looked up among the consumers' keys
// (src/proxy/policies/key-auth.ts).
import { z } from 'zod';
import { HEADER_NAME, consumerHeader, id } from '../fields.js';

export const DEFAULT_KEY_HEADER = 'x-api-key';

export const keyAuthPolicy = z
  .strictObject({
    id,
    type: z.literal('key-auth'),
    header: z.string().regex(HEADER_NAME, 'must be a header name').optional().meta({ description: `the header the key is read from (default ${DEFAULT_KEY_HEADER})` }),
    query: z.string().min(1).max(256).optional().meta({ description: 'read the key from this query parameter instead of a header' }),
    consumerHeader: consumerHeader.optional(),
  })
  .refine((p) => p.header === undefined || p.query === undefined, { message: 'give header or query, not both (the key is read from one place, and removed from it)', path: ['query'] });

export type KeyAuthPolicy = z.infer<typeof keyAuthPolicy>;
