// basic-auth: HTTP Basic credentials checked against the consumers' usernames and password
// hashes (src/proxy/policies/basic-auth.ts).
import { z } from 'zod';
import { consumerHeader, id } from '../fields.js';

export const DEFAULT_REALM = 'signalbox';

export const basicAuthPolicy = z.strictObject({
  id,
  type: z.literal('basic-auth'),
  // Sent in a quoted-string: no quote, backslash or control characters to escape.
  realm: z.string().min(1).max(128).regex(/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/, 'must be visible ASCII or spaces, without " or \\').optional().meta({ description: `WWW-Authenticate realm (default ${DEFAULT_REALM})` }),
  consumerHeader: consumerHeader.optional(),
});

export type BasicAuthPolicy = z.infer<typeof basicAuthPolicy>;
