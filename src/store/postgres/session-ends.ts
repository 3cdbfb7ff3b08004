import type { EndedSession, SessionEnd } from "../session-ends.js";
import type { Sql } from "./pg-db.js";
import { revokeIn } from "./revocations.js";

/**
 * `endSessions` on PostgreSQL, inside the caller's transaction: the subject's live sessions
 * (with `credential`, those it started and those from before credentials were recorded) lose
 * their refresh tokens, and each is revoked until its last refresh token would have expired or
 * `end.revokeUntil`, whichever is later, with a `token_revoked` change.
 */
export async function endSessionsIn(
  sql: Sql,
  subjectId: string,
  credential: string | undefined,
  end: SessionEnd,
): Promise<EndedSession[]> {
  const live = "SELECT DISTINCT family_id FROM refresh_tokens WHERE subject_id = $1 AND revoked_at IS NULL";
  const families =
    credential === undefined
      ? await sql.query<{ family_id: string }>(live, [subjectId])
      : await sql.query<{ family_id: string }>(`${live} AND (credential = $2 OR credential IS NULL)`, [
          subjectId,
          credential,
        ]);
  const ended: EndedSession[] = [];
  for (const familyId of families.map((f) => f.family_id).sort()) {
    await sql.query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL", [
      end.now,
      familyId,
    ]);
    const last = await sql.one<{ exp: number | null }>(
      "SELECT max(expires_at) AS exp FROM refresh_tokens WHERE family_id = $1",
      [familyId],
    );
    const until = Math.max(last?.exp ?? end.now, end.revokeUntil);
    await revokeIn(sql, "family", familyId, until);
    ended.push({ familyId, until });
  }
  return ended;
}
