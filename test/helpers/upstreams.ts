// Real HTTP upstreams on 127.0.0.1 that say who they are; closed after the test file.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { atFileEnd } from './cleanup.js';

export interface Upstream {
  name: string;
  url: string;
  server: Server;
  /** Requests seen, by path. */
  seen: string[];
}

export async function startUpstream(
  name: string,
  handler?: (req: IncomingMessage, res: ServerResponse) => boolean | void,
): Promise<Upstream> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (handler?.(req, res)) return;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  atFileEnd(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const { port } = server.address() as { port: number };
  return { name, url: `http://127.0.0.1:${port}`, server, seen };
}

/** A one-route config sending everything to one upstream. */
export function singleRouteDoc(upstreamUrl: string, extra: Record<string, unknown> = {}) {
  return {
    upstreams: [{ id: 'svc', targets: [{ url: upstreamUrl }] }],
    routes: [{ id: 'all', match: { paths: ['/*'] }, upstream: 'svc' }],
    ...extra,
  };
}
