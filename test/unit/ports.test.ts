import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { it } from 'node:test';
import { freePort } from '../../src/util/ports.js';

it('freePort: bindable ports below the ephemeral range (no outgoing connection can take one before it is bound), never one twice', async () => {
  const ephemeralStart = Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/)[0]);
  const ports: number[] = [];
  for (let i = 0; i < 200; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length, 'a port was handed out twice');
  for (const port of ports) assert.ok(port >= 10_000 && port < ephemeralStart, `${port} is outside 10000..${ephemeralStart - 1}`);
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(ports[0], '127.0.0.1', resolve));
  srv.close();
});
