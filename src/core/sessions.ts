import { decodeJwt } from "jose";
import { generateSecret, isWellFormedSecret, newId, secretDigest } from "../auth/secrets.js";
import type { AccessClaims } from "../auth/token-claims.js";
import type { TokenSigner } from "../auth/token-signer.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { type ErrorReason, TesseraError } from "../domain/errors.js";
import type { Principal } from "../domain/principal.js";
import { epochSeconds } from "../domain/time.js";
import type { Async, Awaitable } from "../store/contract/async.js";
import type { RefreshTokenRepository } from "../store/refresh-tokens.js";
import type { Liveness } from "./liveness.js";
import type { CoreSettings } from "./settings.js";

/** Whom a session is for, as its access tokens will say: a principal that is an agent or a user. */
export type SessionSubject = Pick<
  Principal,
  "id" | "orgId" | "name" | "tier" | "roles" | "scopes" | "tags"
> & {
  readonly kind: "agent" | "user";
};

/** How a session begins: what proved the subject, and a re-check made as the session is stored. */
export interface SessionStart {
  /** 'secret', 'password' or 'key:<thumbprint>': removing a key ends only the sessions it started. */
  readonly credential: string;
  /**
   * Throws when the credential changed since it was checked (a reset raced the login); run
   * once the session is stored, which is then discarded: a change commits before it ends the
   * sessions it finds, so either it finds this one or this check sees the change.
   */
  readonly recheck?: () => Awaitable<void>;
}

/** What RevokeToken found: whether the token was one of the caller's org, and of which kind. */
export type Revocation =
  | { readonly recognized: false }
  | { readonly recognized: true; readonly type: "access_token" | "refresh_token" };

/**
 * Refusals a verifier gives only after a token's signature checked out (jose checks `exp` after
 * the signature; revocation and suspension are looked up after both): such a token is ours,
 * merely no longer live, so its claims can be read.
 */
const DEAD_BUT_OURS: ReadonlySet<ErrorReason> = new Set([
  "TOKEN_EXPIRED",
  "TOKEN_REVOKED",
  "AGENT_SUSPENDED",
]);

/** The `org` claim of a token whose signature verified. */
function orgOfVerified(token: string): string | undefined {
  try {
    const org = decodeJwt(token).org;
    return typeof org === "string" ? org : undefined;
  } catch {
    return undefined;
  }
}

/** What a credential change needs from sessions: to end those of a subject. */
export interface SessionEnder {
  endAllFor(subjectId: string, credential?: string): Awaitable<void>;
}

/** A session being started or continued: its id, start and origin. */
interface Family {
  readonly id: string;
  readonly startedAt: number;
  readonly credential: string | undefined;
}

/** When the settings leave it out: a day, the config's default. */
const DEFAULT_MAX_LIFETIME_SECONDS = 86400;

export interface TokenPair {
  readonly accessToken: string;
  readonly accessExpiresAt: number;
  readonly refreshToken: string;
  readonly refreshExpiresAt: number;
}

export interface SessionDeps {
  readonly settings: CoreSettings;
  readonly refreshTokens: Async<RefreshTokenRepository>;
  readonly signer: TokenSigner;
  readonly verifier: TokenVerifier;
  readonly liveness: Liveness;
  /**
   * The subject as it is now (tier and role changes apply on refresh); throws if it may not
   * log in, or if its sessions from `issuedAt` were cut (a suspension since).
   */
  readonly resolve: (
    kind: "agent" | "user",
    orgId: string,
    id: string,
    issuedAt: number,
  ) => Awaitable<SessionSubject>;
  readonly now: () => Date;
}

/** RFC 7662 introspection: `active: false` and nothing else for anything not valid. */
export type Introspection =
  | { active: false }
  | { active: true; type: "access_token" | "refresh_token"; claims: Partial<AccessClaims> };

/**
 * Logins as sessions: an access token plus a single-use refresh token (trt_…). Refreshing
 * returns a new pair; presenting a used refresh token again revokes the whole family. However
 * often it is refreshed, a session ends `sessionMaxLifetimeSeconds` after its login.
 */
export class Sessions {
  constructor(private readonly d: SessionDeps) {}

  private nowSec(): number {
    return epochSeconds(this.d.now());
  }

  private maxLifetime(): number {
    return this.d.settings.sessionMaxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
  }

  /** Starts a session for a subject a credential has just proved. */
  issue(s: SessionSubject, start: SessionStart): Promise<TokenPair> {
    const family = { id: newId("ses"), startedAt: this.nowSec(), credential: start.credential };
    return this.issueIn(s, family, start.recheck);
  }

  /** A new pair in the family; neither token outlives the session's absolute lifetime. */
  private async issueIn(
    s: SessionSubject,
    family: Family,
    recheck?: () => Awaitable<void>,
  ): Promise<TokenPair> {
    return this.storePair(s, family, await this.signAccess(s, family), recheck);
  }

  /**
   * The session's next access token, ending no later than the session; throws CLAIMS_TOO_LARGE
   * (and writes nothing) when it cannot be signed.
   */
  private signAccess(s: SessionSubject, family: Family) {
    const now = this.nowSec();
    const ttl = Math.min(this.d.settings.defaultTokenTtlSeconds, family.startedAt + this.maxLifetime() - now);
    return this.d.signer.sign(
      {
        kind: s.kind,
        sid: family.id,
        aud: this.d.settings.audience,
        sub: s.id,
        org: s.orgId,
        name: s.name,
        tier: s.tier,
        roles: s.roles,
        scopes: s.scopes,
        tags: s.tags,
      },
      now,
      ttl,
    );
  }

  /** Stores a new refresh token of the session (re-checking its credential) and pairs it with the access token. */
  private async storePair(
    s: SessionSubject,
    family: Family,
    access: { token: string; claims: AccessClaims },
    recheck?: () => Awaitable<void>,
  ): Promise<TokenPair> {
    const now = access.claims.iat;
    const refreshToken = generateSecret("refreshToken");
    const refreshExpiresAt = Math.min(
      now + this.d.settings.refreshTokenTtlSeconds,
      family.startedAt + this.maxLifetime(),
    );
    const id = newId("rt");
    await this.d.refreshTokens.insert(
      {
        id,
        familyId: family.id,
        orgId: s.orgId,
        subjectKind: s.kind,
        subjectId: s.id,
        issuedAt: now,
        expiresAt: refreshExpiresAt,
        startedAt: family.startedAt,
        credential: family.credential,
      },
      secretDigest(refreshToken),
    );
    if (recheck) {
      try {
        await recheck();
      } catch (err) {
        // Never handed out: the credential changed meanwhile, and the session must not outlive it.
        await this.d.refreshTokens.discard(id);
        throw err;
      }
    }
    return { accessToken: access.token, accessExpiresAt: access.claims.exp, refreshToken, refreshExpiresAt };
  }

  /** Exchanges a refresh token for a new pair; a replayed one revokes its family. */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const invalid = () => new TesseraError("REFRESH_TOKEN_INVALID", "the refresh token is not valid");
    if (!isWellFormedSecret("refreshToken", refreshToken)) throw invalid();
    const row = await this.d.refreshTokens.byDigest(secretDigest(refreshToken));
    const now = this.nowSec();
    if (!row || row.revokedAt !== undefined || this.d.liveness.familyRevoked(row.familyId)) throw invalid();
    // However recently it was used: a stolen session cannot be kept alive by refreshing it.
    if (now >= row.startedAt + this.maxLifetime())
      throw new TesseraError("SESSION_EXPIRED", "the session reached its maximum lifetime; log in again");
    if (row.expiresAt <= now) throw invalid();
    // Checked, and the access token signed, before the refresh token is marked used: a refused
    // refresh (a suspended subject, claims grown too large) must change nothing.
    const subject = await this.d.resolve(row.subjectKind, row.orgId, row.subjectId, row.issuedAt);
    const family = { id: row.familyId, startedAt: row.startedAt, credential: row.credential };
    const access = await this.signAccess(subject, family);
    if (!(await this.d.refreshTokens.claim(row.id, now))) {
      // Used before: a stolen copy or a replay. Kill the session so neither holder keeps it.
      await this.endFamily(row.familyId);
      throw new TesseraError(
        "REFRESH_TOKEN_REUSED",
        "the refresh token was already used; the session is revoked",
      );
    }
    return this.storePair(subject, family, access);
  }

  private async endFamily(familyId: string): Promise<void> {
    const until = await this.d.refreshTokens.revokeFamily(familyId, this.nowSec());
    // Access tokens of the family live at most maxTokenTtl: keep the revocation at least that long.
    await this.d.liveness.revokeFamily(
      familyId,
      Math.max(until, this.nowSec() + this.d.settings.maxTokenTtlSeconds),
    );
  }

  /**
   * RFC 7009: revokes an access token (by jti) or a refresh token (its session) of the caller's
   * org; anything else (unknown, malformed, another org's) is answered OK and changes nothing.
   * Says whether the token was recognized as the caller's org's: an expired or already revoked
   * one still is (its signature or its stored row proves it ours), and needs nothing more.
   */
  async revoke(token: string, callerOrg: string): Promise<Revocation> {
    if (token.startsWith("trt_")) {
      const row = isWellFormedSecret("refreshToken", token)
        ? await this.d.refreshTokens.byDigest(secretDigest(token))
        : undefined;
      if (!row || row.orgId !== callerOrg) return { recognized: false };
      await this.endFamily(row.familyId);
      return { recognized: true, type: "refresh_token" };
    }
    let dead = false;
    const claims = await this.d.verifier.verify(token).catch((err: unknown) => {
      dead = err instanceof TesseraError && DEAD_BUT_OURS.has(err.reason);
      return undefined;
    });
    if (claims?.org === callerOrg) await this.d.liveness.revokeJti(claims.jti, claims.exp);
    const org = claims ? claims.org : dead ? orgOfVerified(token) : undefined;
    return org === callerOrg ? { recognized: true, type: "access_token" } : { recognized: false };
  }

  /** Describes a token for a caller of `callerOrg`; another org's token is simply not active. */
  async introspect(token: string, callerOrg: string): Promise<Introspection> {
    if (token.startsWith("trt_")) {
      const row = isWellFormedSecret("refreshToken", token)
        ? await this.d.refreshTokens.byDigest(secretDigest(token))
        : undefined;
      const live =
        row &&
        row.orgId === callerOrg &&
        row.usedAt === undefined &&
        row.revokedAt === undefined &&
        row.expiresAt > this.nowSec() &&
        row.startedAt + this.maxLifetime() > this.nowSec();
      if (!live || this.d.liveness.familyRevoked(row.familyId) || !(await this.canRefresh(row)))
        return { active: false };
      return {
        active: true,
        type: "refresh_token",
        claims: { sub: row.subjectId, org: row.orgId, iat: row.issuedAt, exp: row.expiresAt },
      };
    }
    const claims = await this.d.verifier.verify(token).catch(() => undefined);
    if (!claims || claims.org !== callerOrg) return { active: false };
    return { active: true, type: "access_token", claims };
  }

  /** True when the session's subject may still refresh (exists, not suspended, not cut since). */
  private async canRefresh(row: {
    subjectKind: "agent" | "user";
    orgId: string;
    subjectId: string;
    issuedAt: number;
  }): Promise<boolean> {
    try {
      await this.d.resolve(row.subjectKind, row.orgId, row.subjectId, row.issuedAt);
      return true;
    } catch {
      return false;
    }
  }

  /** Ends a session, named by its refresh token or by an access token of it. */
  async logout(refreshToken: string | undefined, bearer: string | undefined): Promise<void> {
    if (refreshToken) {
      if (!isWellFormedSecret("refreshToken", refreshToken))
        throw new TesseraError("SESSION_INVALID", "not a session's refresh token");
      const row = await this.d.refreshTokens.byDigest(secretDigest(refreshToken));
      if (!row) throw new TesseraError("SESSION_INVALID", "not a session's refresh token");
      await this.endFamily(row.familyId);
      return;
    }
    if (!bearer)
      throw new TesseraError(
        "CREDENTIAL_MISSING",
        "send the session's refresh token or its access token (authorization: Bearer)",
      );
    const claims = await this.d.verifier.verify(bearer);
    if (!claims.sid) {
      // A minted (non-session) token: logging out revokes just that token.
      await this.d.liveness.revokeJti(claims.jti, claims.exp);
      return;
    }
    await this.endFamily(claims.sid);
  }

  /**
   * Ends every session of a subject (a deleted user, a new password or agent secret), or with
   * `credential` only those it started (a removed key). Their refresh tokens stop working, and
   * so do their access tokens, in every process (the revocation goes through the change log).
   */
  async endAllFor(subjectId: string, credential?: string): Promise<void> {
    for (const f of await this.d.refreshTokens.familiesOf(subjectId, credential)) await this.endFamily(f);
  }
}
