// Records the control plane keeps in etcd beside the config (tokens, the GitOps state). Anyone with
// etcd access can put anything under those keys, so a record is read through its schema.
import type { z } from 'zod';

/** The record in `raw`, or null for a missing key or anything that is not such a record. */
export function parseStored<T>(schema: z.ZodType<T>, raw: string | undefined): T | null {
  if (raw === undefined) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
