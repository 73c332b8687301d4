// Free loopback ports, for the processes `signalbox dev`, the tests and the benchmarks start.
//
// A port is handed out below the kernel's ephemeral range. One the kernel picks (listen on 0)
// comes from that range, and between the asking and the process that binds it, any outgoing
// connection on the machine may be given it as its local port: the process then fails with
// EADDRINUSE. Below the range, only another listener can take it.
import { readFileSync } from 'node:fs';
import { portTaken } from '../net.js';

const LOWEST = 10_000;
/** Linux's default first ephemeral port, where /proc does not say. */
const EPHEMERAL_DEFAULT = 32_768;

function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > LOWEST + 1_000 ? first : EPHEMERAL_DEFAULT;
  } catch {
    return EPHEMERAL_DEFAULT;
  }
}

/** Read on the first ask, not at import: the short CLI commands import this module's users too. */
let highest: number | undefined;
/** Handed out by this process already: asked twice before either is bound, it would repeat. */
const given = new Set<number>();

/** A port on 127.0.0.1 that was free at the time of asking, outside the ephemeral range. */
export async function freePort(): Promise<number> {
  highest ??= ephemeralStart() - 1;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (highest - LOWEST + 1));
    if (given.has(port) || (await portTaken(port))) continue;
    given.add(port);
    return port;
  }
  throw new Error(`no free port on 127.0.0.1 between ${LOWEST} and ${highest} in 100 tries`);
}
