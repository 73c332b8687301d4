// The built-in upstream of `signalbox dev`: answers every request with what it received.
import { createServer, type Server } from 'node:http';
import { listen, type HostPort } from '../net.js';

export async function startEchoUpstream(at: HostPort, name = 'echo'): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      const body = JSON.stringify({ upstream: name, method: req.method, url: req.url, headers: req.headers, bodyBytes: bytes }, null, 2) + '\n';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return { url: await listen(server, at), server };
}
