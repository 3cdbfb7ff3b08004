import type { Db } from "./db.js";
import { RefreshTokenRepository } from "./refresh-tokens.js";
import { RevocationRepository } from "./revocations.js";

/** When a credential change ends sessions, and how long their access tokens stay revoked. */
export interface SessionEnd {
  /** Seconds since the epoch: the refresh tokens' revocation time. */
  readonly now: number;
  /** Each ended session stays revoked at least until then (the longest access-token lifetime from now). */
  readonly revokeUntil: number;
}

/** A session a credential change ended, and until when its tokens are revoked. */
export interface EndedSession {
  readonly familyId: string;
  readonly until: number;
}

/**
 * Ends the live sessions of a subject inside the caller's transaction, as Sessions.endAllFor
 * does: with `credential`, only those it started (and those from before credentials were
 * recorded). Each session's refresh tokens are revoked and the session itself (its access
 * tokens) until its last refresh token would have expired or `revokeUntil`, whichever is
 * later, with a `token_revoked` change each.
 */
export function endSessions(
  db: Db,
  subjectId: string,
  credential: string | undefined,
  end: SessionEnd,
): EndedSession[] {
  const tokens = new RefreshTokenRepository(db);
  const revocations = new RevocationRepository(db);
  return tokens
    .familiesOf(subjectId, credential)
    .sort()
    .map((familyId) => {
      const until = Math.max(tokens.revokeFamily(familyId, end.now), end.revokeUntil);
      revocations.revoke("family", familyId, until);
      return { familyId, until };
    });
}
