// HOST:PORT parsing and listening, shared by every process we start.
import { createServer, type Server } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(value: string, flag: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`${flag} must be HOST:PORT (e.g. 127.0.0.1:8080), got "${value}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Listen and resolve to the URL actually bound (port 0 → the kernel's choice). */
export function listen(server: Server, at: HostPort, scheme = 'http'): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const { address, port } = server.address() as { address: string; port: number };
      resolve(`${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`);
    });
  });
}

/** Whether something already listens on 127.0.0.1:port (a bind attempt says so). */
export function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
}
