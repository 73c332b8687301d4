// The logger of the long-running commands (proxy, control plane, dev, gitops). Apart from the
// rest of the CLI so that the short commands never load pino.
import { pino, type Logger } from 'pino';

export function createLogger(name: string, destination?: string): Logger {
  // A file is written synchronously: an asynchronous one that is still opening when the process
  // exits (a start-up error) makes pino's exit flush throw over the real message.
  return pino({ name, level: process.env.SIGNALBOX_LOG_LEVEL ?? 'info' }, destination ? pino.destination({ dest: destination, mkdir: true, sync: true }) : undefined);
}
