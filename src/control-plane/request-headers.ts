// The headers a write reads: If-Match, and what is recorded with the version (message and source).
// The audit trail is what people read to learn who changed what: a message is one line of plain
// text, and source gitops is only what the GitOps agent's token may claim.
import type { IncomingMessage } from 'node:http';
import { CONTROL_CHARACTER, codePoint } from '../api/audit-text.js';
import { SOURCES, type Source } from '../api/schemas.js';
import type { Principal } from './auth.js';
import { HttpError } from './http.js';

export interface WriteHeaders {
  /** From If-Match: the write is refused unless this is the live version. */
  expectVersion: number | undefined;
  /** From X-Signalbox-Message, decoded. */
  message: string | undefined;
  source: Source;
}

/** `If-Match: "7"` or `If-Match: 7` → 7; absent or `*` → undefined. */
export function ifMatchVersion(req: IncomingMessage): number | undefined {
  const raw = req.headers['if-match'];
  if (raw === undefined || raw === '*') return undefined;
  const n = Number(String(raw).replace(/^W\//, '').replace(/"/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new HttpError(400, `If-Match must be a config version such as "7", got ${raw}`);
  return n;
}

function messageOf(req: IncomingMessage): string | undefined {
  const raw = req.headers['x-signalbox-message'];
  if (raw === undefined || raw === '') return undefined;
  let message: string;
  try {
    message = decodeURIComponent(String(raw));
  } catch {
    throw new HttpError(400, 'X-Signalbox-Message must be URI-encoded UTF-8 (encodeURIComponent); it is not', [{ path: 'X-Signalbox-Message', message: 'malformed percent-encoding' }]);
  }
  const bad = CONTROL_CHARACTER.exec(message);
  if (bad) {
    throw new HttpError(400, `X-Signalbox-Message must be one line of plain text; it holds the control character ${codePoint(bad[0])} at ${bad.index}`, [
      { path: 'X-Signalbox-Message', message: `control character ${codePoint(bad[0])} at ${bad.index}` },
    ]);
  }
  return message;
}

/**
 * What X-Signalbox-Source says; `api` when absent or unknown. Versions recorded with source gitops
 * are the GitOps agent's own (a restarted agent takes them as such, not as drift), so saying it is
 * a privilege: a token created for gitops has it, and an admin, who could create such a token
 * anyway. Any other token is refused, not relabelled, so a misconfigured agent learns why at its
 * first request and no editor can pass a hand change off as a commit.
 */
export function sourceOf(req: IncomingMessage, principal: Principal): Source {
  const raw = req.headers['x-signalbox-source'];
  const source = (SOURCES as readonly string[]).includes(String(raw)) ? (raw as Source) : 'api';
  if (source === 'gitops' && !principal.gitops && principal.role !== 'admin') {
    throw new HttpError(
      403,
      `X-Signalbox-Source: gitops is only accepted from a token created for the GitOps agent (signalbox token create --role editor --for gitops) or an admin's; token "${principal.name}" (role ${principal.role}) is neither`,
    );
  }
  return source;
}

/** What a write records and is guarded by; `source` as sourceOf found it. */
export function writeHeaders(req: IncomingMessage, source: Source): WriteHeaders {
  return { expectVersion: ifMatchVersion(req), message: messageOf(req), source };
}
