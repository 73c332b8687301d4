// Field shapes the config's kinds and the policy types share.
import { z } from 'zod';

export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** An object's id: unique per kind, referred to by id. */
export const id = z.string().regex(ID_PATTERN, 'must match [a-z0-9][a-z0-9._-]{0,62}');

/** An HTTP field name (RFC 9110 token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
