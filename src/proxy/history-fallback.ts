// What a starting proxy serves when etcd's live state does not validate (say, one garbage key
// put by hand): the newest committed version whose history entry does. Without this, one bad key
// would keep every new or restarted proxy unready although history holds a good config.
import type { Etcd3 } from 'etcd3';
import { historyEntries } from '../store/committed.js';
import type { CommittedState } from '../store/config-watcher.js';
import { parseVersionInfo } from '../store/decode.js';
import type { Keys } from '../store/keys.js';

/** How many versions, newest first, a starting proxy tries before it turns to its disk cache. */
export const FALLBACK_VERSIONS = 10;

/**
 * The states of the committed versions the live state names and those before it, newest first
 * (at most `count`), each as its version wrote it. Versions whose history entry is gone or
 * corrupt are skipped.
 */
export async function* committedVersions(
  client: Etcd3,
  keys: Keys,
  live: CommittedState,
  count = FALLBACK_VERSIONS,
): AsyncGenerator<CommittedState> {
  const newest = live.version?.version ?? 0;
  for (let n = newest; n >= 1 && n > newest - count; n--) {
    const version = n === newest ? live.version : parseVersionInfo(await client.get(keys.historyInfo(n)).string());
    const entries = version ? await historyEntries(client, keys, n) : null;
    if (version && entries) yield { revision: live.revision, version, entries, resync: false, versionExact: true };
  }
}
