// forward-auth: ask an auth service whether a request may pass (src/proxy/policies/forward-auth.ts).
import { z } from 'zod';
import { HEADER_NAME, id, serviceUrl } from '../fields.js';

export const DEFAULT_FORWARD_AUTH_TIMEOUT_MS = 5000;

const headerList = z.array(z.string().regex(HEADER_NAME, 'must be a header name')).max(64);

export const forwardAuthPolicy = z.strictObject({
  id,
  type: z.literal('forward-auth'),
  url: serviceUrl('http://auth.internal:9000/verify'),
  timeoutMs: z.number().int().min(1).max(60_000).optional(),
  /** Client request headers copied to the auth request (e.g. authorization, cookie). */
  requestHeaders: headerList.optional(),
  /** Auth response headers copied onto the upstream request when the service says yes. */
  responseHeaders: headerList.optional(),
});

export type ForwardAuthPolicy = z.infer<typeof forwardAuthPolicy>;
