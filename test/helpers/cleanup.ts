// Cleanup that runs when the test file ends, whatever registered it. node:test's after() binds to
// the hook or test it is called from, so a helper called inside before() or it() would end its
// process or server as soon as that hook or test finished.
import { after } from 'node:test';

const pending: (() => unknown)[] = [];

// Registered at import, on the file's root; newest first (proxies stop before their etcd).
after(async () => {
  while (pending.length > 0) await pending.pop()!();
});

export function atFileEnd(fn: () => unknown): void {
  pending.push(fn);
}
