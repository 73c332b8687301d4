// What the store's and etcd's failures mean to an API caller: a conflict to retry (409), etcd not
// answering (503), or a fault of ours (500). Both say when to try again where that helps.
import { isBrokenCircuitError } from 'cockatiel';
import { GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';
import { ConfigTooLargeError, VersionConflictError, WriteInterruptedError } from '../store/config-writer.js';
import { HttpError } from './http.js';

/** The answer for `err`; null for a fault of ours (a 500, logged). */
export function httpErrorOf(err: unknown): HttpError | null {
  if (err instanceof HttpError) return err;
  if (err instanceof VersionConflictError) return conflict(err);
  // A deadline too: the control plane may be busy or etcd slow. A retry of the same request is
  // safe: the writer recognises its own committed write, and an equal config is `unchanged`.
  if (err instanceof WriteInterruptedError || isBrokenCircuitError(err) || err instanceof GRPCDeadlineExceededError || (err instanceof Error && isRecoverableError(err))) {
    return new HttpError(503, `etcd did not answer in time (${(err as Error).message}); nothing was written; try again`, [], { 'retry-after': '1' });
  }
  // A config whose history entry, or one object, does not fit one etcd transaction: the caller's
  // to make smaller, not a fault here.
  if (err instanceof ConfigTooLargeError) return new HttpError(413, `the config is too large for etcd: ${err.message}`);
  return null;
}

function conflict(err: VersionConflictError): HttpError {
  switch (err.reason) {
    case 'locked':
      return new HttpError(
        409,
        `another change holds the write lock (a large write in progress, or one whose control plane stopped, until its lease ends); nothing was written; try again`,
        [],
        { 'retry-after': '2' },
      );
    case 'concurrent':
      return new HttpError(409, `the config changed while this change was prepared (live version ${err.actual}); nothing was written; try again`, [], { 'retry-after': '1' });
    case 'version':
      return new HttpError(409, `config changed meanwhile: expected version ${err.expected}, live version is ${err.actual}`);
  }
}
