import { CliError } from './common.js';

/**
 * `value` as a whole number of at least `min` (a version, a count), or a usage error naming `what`.
 * Also a commander argument parser: `(v) => wholeNumber('--limit', v)`.
 */
export function wholeNumber(what: string, value: string, min = 1): number {
  if (!/^\d+$/.test(value) || Number(value) < min) throw new CliError(`${what} must be a whole number of at least ${min}, got "${value}"`, 2);
  return Number(value);
}

/** A TCP port, as a commander argument parser. */
export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new CliError(`not a port: "${value}"`, 2);
  return n;
}
