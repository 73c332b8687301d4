// Small answers the policies read from services they ask (an auth service, a key set's URL).
import type { Dispatcher } from 'undici';

/** The whole body, or null when it is longer than `max` (then the rest is not read). */
export async function readBounded(body: Dispatcher.ResponseData['body'], max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
