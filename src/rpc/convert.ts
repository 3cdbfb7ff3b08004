import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Duration, type Timestamp, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  AgentSchema,
  type ApiKeySchema,
  AuthMethod as AuthMethodPb,
  PrincipalKind as PrincipalKindPb,
  type PrincipalSchema,
  type Resource,
  type SigningKeySchema,
  Tier as TierPb,
  type UserSchema,
} from "../../gen/tessera/v1/types_pb.js";
import type { SigningKeyInfo } from "../auth/key-ring.js";
import type { UserRecord } from "../core/users.js";
import { TesseraError } from "../domain/errors.js";
import type { AuthMethod, Principal, PrincipalKind } from "../domain/principal.js";
import { TIERS, type Tier } from "../domain/tiers.js";
import type { ResourceRef } from "../engine/types.js";
import type { AgentRecord } from "../store/agents.js";
import type { CredentialRow } from "../store/orgs.js";

const TIER_TO_PB: Record<Tier, TierPb> = {
  unverified: TierPb.UNVERIFIED,
  verified: TierPb.VERIFIED,
  trusted: TierPb.TRUSTED,
  privileged: TierPb.PRIVILEGED,
};

/** The wire tier of a domain tier. */
export function tierToPb(tier: Tier): TierPb {
  return TIER_TO_PB[tier];
}

/** The domain tier of a wire tier; unset means the lowest tier, never a higher one. */
export function tierFromPb(tier: TierPb): Tier {
  if (tier === TierPb.UNSPECIFIED) return "unverified";
  const t = TIERS[tier - 1];
  if (!t) throw new TesseraError("TIER_INVALID", "unknown tier");
  return t;
}

const KIND_TO_PB: Record<PrincipalKind, PrincipalKindPb> = {
  agent: PrincipalKindPb.AGENT,
  user: PrincipalKindPb.USER,
  service: PrincipalKindPb.SERVICE,
  api_key: PrincipalKindPb.API_KEY,
};

const METHOD_TO_PB: Record<AuthMethod, AuthMethodPb> = {
  api_key: AuthMethodPb.API_KEY,
  admin_token: AuthMethodPb.ADMIN_TOKEN,
  token: AuthMethodPb.TOKEN,
  mtls: AuthMethodPb.MTLS,
  agent_secret: AuthMethodPb.AGENT_SECRET,
  client_assertion: AuthMethodPb.CLIENT_ASSERTION,
  password: AuthMethodPb.PASSWORD,
};

export function secondsToTimestamp(sec: number): Timestamp {
  return timestampFromMs(sec * 1000);
}

export function principalToPb(p: Principal): MessageInitShape<typeof PrincipalSchema> {
  return {
    id: p.id,
    kind: KIND_TO_PB[p.kind],
    orgId: p.orgId,
    name: p.name,
    tier: tierToPb(p.tier),
    roles: [...p.roles],
    scopes: [...p.scopes],
    tags: [...p.tags],
    authMethod: METHOD_TO_PB[p.authMethod],
    ...(p.expiresAt !== undefined ? { expiresAt: secondsToTimestamp(p.expiresAt) } : {}),
  };
}

/** An agent for the wire, with its credentials' usage when known. */
export function agentToPb(a: AgentRecord, usage?: { lastUsedAt: number; count: number }) {
  return create(AgentSchema, {
    ...(usage ? { lastUsedAt: secondsToTimestamp(usage.lastUsedAt), useCount: BigInt(usage.count) } : {}),
    id: a.id,
    orgId: a.orgId,
    name: a.name,
    tier: tierToPb(a.tier),
    roles: [...a.roles],
    tags: [...a.tags],
    createdAt: secondsToTimestamp(a.createdAt),
    suspended: a.suspendedAt !== undefined,
    parentId: a.parentId ?? "",
  });
}

/** A key's description for the wire; never its secret or digest. */
export function apiKeyToPb(
  k: CredentialRow,
  usage?: { lastUsedAt: number; count: number },
): MessageInitShape<typeof ApiKeySchema> {
  return {
    ...(usage ? { lastUsedAt: secondsToTimestamp(usage.lastUsedAt), useCount: BigInt(usage.count) } : {}),
    id: k.id,
    name: k.name ?? "",
    scopes: [...(k.scopes ?? [])],
    prefix: k.prefix ?? "",
    ...(k.createdAt !== undefined ? { createdAt: secondsToTimestamp(k.createdAt) } : {}),
    ...(k.expiresAt !== undefined || k.graceUntil !== undefined
      ? {
          expiresAt: secondsToTimestamp(
            Math.min(k.expiresAt ?? Number.MAX_SAFE_INTEGER, k.graceUntil ?? Number.MAX_SAFE_INTEGER),
          ),
        }
      : {}),
    ...(k.revokedAt !== undefined ? { revokedAt: secondsToTimestamp(k.revokedAt) } : {}),
    ...(k.rateLimit ? { rateLimit: { requestsPerSecond: k.rateLimit.rps, burst: k.rateLimit.burst } } : {}),
  };
}

/** A rate limit from the wire; unset stays unset (the default applies), a zero burst is the rate. */
export function rateLimitFromPb(
  l: { requestsPerSecond: number; burst: number } | undefined,
): { rps: number; burst: number } | undefined {
  return l ? { rps: l.requestsPerSecond, burst: l.burst || l.requestsPerSecond } : undefined;
}

export function userToPb(u: UserRecord): MessageInitShape<typeof UserSchema> {
  return {
    id: u.id,
    orgId: u.orgId,
    username: u.username,
    role: u.role,
    createdAt: secondsToTimestamp(u.createdAt),
  };
}

export function signingKeyToPb(k: SigningKeyInfo): MessageInitShape<typeof SigningKeySchema> {
  return {
    kid: k.kid,
    alg: k.alg,
    state: k.state,
    createdAt: secondsToTimestamp(k.createdAt),
    ...(k.publishedUntil !== undefined ? { publishedUntil: secondsToTimestamp(k.publishedUntil) } : {}),
  };
}

/** Whole seconds of a Timestamp; undefined when unset. */
export function timestampSeconds(t: Timestamp | undefined): number | undefined {
  return t ? Number(t.seconds) : undefined;
}

export function resourceFromPb(r: Resource | undefined): ResourceRef | undefined {
  return r && { kind: r.kind, id: r.id, attr: r.attr ?? {} };
}

/** A Duration as whole seconds; undefined when unset. Fractions are refused, not rounded. */
export function durationSeconds(d: Duration | undefined): number | undefined {
  if (!d) return undefined;
  if (d.nanos !== 0 || d.seconds <= 0n || d.seconds > 10n ** 9n) {
    throw new TesseraError("TTL_INVALID", "ttl must be a positive whole number of seconds");
  }
  return Number(d.seconds);
}
