import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Option } from "commander";
import type { Agent, Tier } from "../../gen/tessera/v1/types_pb.js";
import { TIERS, type Tier as TierName } from "../domain/tiers.js";
import { UsageError } from "./output.js";

/** The wire tier for a tier name given on the command line. */
export function tierArg(name: string, flag = "--tier"): Tier {
  const i = TIERS.indexOf(name as TierName);
  if (i < 0) throw new UsageError(`${flag} must be one of ${TIERS.join(", ")}, not "${name}"`);
  return (i + 1) as Tier;
}

/** `--tier`, with its names offered to shell completion and checked before any call. */
export function tierOption(description: string, defaultValue?: string): Option {
  const o = new Option("--tier <tier>", description).choices(TIERS);
  return defaultValue ? o.default(defaultValue) : o;
}

export const ROLE_HELP = "a role (repeatable): viewer, operator, admin, or one the org's policies define";

/** The tier name of a wire tier. */
export function tierName(t: Tier): string {
  return TIERS[t - 1] ?? "unspecified";
}

/**
 * A wire timestamp as ISO 8601. Written here rather than taken from @bufbuild/protobuf/wkt so
 * that loading the command definitions does not load protobuf (a tenth of a second).
 */
export function isoTime(t: Timestamp | undefined): string | undefined {
  if (!t) return undefined;
  return new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1_000_000)).toISOString();
}

/** Seconds since the epoch of a protobuf Timestamp, if set. */
const seconds = (t: Timestamp | undefined) => (t ? Number(t.seconds) : undefined);

/** What tells whether a credential (an API key, an admin token, an agent) is unused. */
export interface UsageTimes {
  readonly lastUsedAt?: Timestamp | undefined;
  readonly createdAt?: Timestamp | undefined;
  /** Set on a revoked key: a revoked credential is never flagged. */
  readonly revokedAt?: Timestamp | undefined;
  /** A suspended agent is never flagged either: it cannot be used. */
  readonly suspended?: boolean;
}

/**
 * True when a live credential has not been used for `days` days: never used and created longer
 * ago, or last used longer ago. Usage is counted in batches, so "now" is a few seconds behind at most.
 */
export function isUnused(k: UsageTimes, days: number, nowSec = Math.floor(Date.now() / 1000)): boolean {
  if (k.revokedAt || k.suspended) return false;
  const since = seconds(k.lastUsedAt) ?? seconds(k.createdAt) ?? nowSec;
  return nowSec - since >= days * 86400;
}

/** `--unused-days`: a whole number of days. */
export function unusedDaysArg(v: string): number {
  if (!/^[0-9]{1,5}$/.test(v)) throw new UsageError("--unused-days must be a whole number of days");
  return Number(v);
}

/** A credential's usage as the CLI prints it: JSON fields, and a phrase for a line of text. */
export function usageJson(k: UsageTimes & { useCount: bigint }, days: number) {
  return { lastUsedAt: isoTime(k.lastUsedAt), useCount: Number(k.useCount), unused: isUnused(k, days) };
}

export function usageText(k: UsageTimes & { useCount: bigint }, days: number): string {
  const used = k.lastUsedAt ? `last used ${isoTime(k.lastUsedAt)}, ${k.useCount} calls` : "never used";
  return isUnused(k, days) ? `${used}  UNUSED ${days}d+` : used;
}

/** An agent as the CLI prints it in JSON. */
export function agentJson(a: Agent) {
  return {
    id: a.id,
    orgId: a.orgId,
    name: a.name,
    tier: tierName(a.tier),
    roles: a.roles,
    tags: a.tags,
    createdAt: isoTime(a.createdAt),
    suspended: a.suspended,
    ...(a.parentId ? { parentId: a.parentId } : {}),
  };
}

/** An agent on one line; `parentName` when the caller looked the parent up. */
export function agentLine(a: Agent, parentName?: string): string {
  const parent = a.parentId ? `  parent=${parentName ? `${parentName} (${a.parentId})` : a.parentId}` : "";
  return `${a.id}  ${a.name}  tier=${tierName(a.tier)}  roles=${a.roles.join(",") || "-"}  tags=${a.tags.join(",") || "-"}${parent}${a.suspended ? "  SUSPENDED" : ""}`;
}
