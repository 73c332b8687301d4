// What a config write answers instead of losing an update or committing part of a change.

export class VersionConflictError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
    readonly reason: 'version' | 'locked' | 'concurrent' = 'version',
  ) {
    super(
      reason === 'locked'
        ? `another change is being written (version ${actual}); try again`
        : reason === 'concurrent'
          ? `the config changed while this change was prepared (version ${actual}); try again`
          : `version conflict: expected version ${expected}, current version is ${actual}`,
    );
    this.name = 'VersionConflictError';
  }
}

/** A multi-transaction write that lost its lock midway: nothing was committed. */
export class WriteInterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteInterruptedError';
  }
}

/** A config etcd cannot record: one object, or the version's history entry, exceeds a transaction. */
export class ConfigTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigTooLargeError';
  }
}
