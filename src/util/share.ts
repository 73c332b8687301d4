/** A share from 0 to 1 written as a plain decimal (`0.1`, `.25`, `1`); throws on anything else. */
export function parseShare(text: string): number {
  const n = /^(?:[01]|[01]?\.\d+)$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 1)) throw new Error(`must be a share from 0 to 1 (got "${text}")`);
  return n;
}
