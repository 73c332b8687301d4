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

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** A duration such as `90m`, `12h` or `30d`, in seconds, as a commander argument parser for `what`. */
export function durationSeconds(what: string, max: number) {
  return (value: string): number => {
    const m = /^(\d+)([smhd])$/.exec(value);
    const seconds = m ? Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS] : NaN;
    if (!(seconds >= 1 && seconds <= max)) {
      throw new CliError(`${what} must be a number and a unit, s, m, h or d (e.g. 12h, 30d), from 1s to ${Math.floor(max / 86_400)}d, got "${value}"`, 2);
    }
    return seconds;
  };
}
