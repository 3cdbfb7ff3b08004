import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Agent, Tier } from "../../gen/tessera/v1/types_pb.js";
import { TIERS, type Tier as TierName } from "../domain/tiers.js";
import { UsageError } from "./output.js";

/** The wire tier for a tier name given on the command line. */
export function tierArg(name: string): Tier {
  const i = TIERS.indexOf(name as TierName);
  if (i < 0) throw new UsageError(`--tier must be one of ${TIERS.join(", ")}`);
  return (i + 1) as Tier;
}

/** The tier name of a wire tier. */
export function tierName(t: Tier): string {
  return TIERS[t - 1] ?? "unspecified";
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
    createdAt: a.createdAt ? timestampDate(a.createdAt).toISOString() : undefined,
    suspended: a.suspended,
    ...(a.parentId ? { parentId: a.parentId } : {}),
  };
}

export function agentLine(a: Agent): string {
  return `${a.id}  ${a.name}  tier=${tierName(a.tier)}  roles=${a.roles.join(",") || "-"}  tags=${a.tags.join(",") || "-"}${a.parentId ? `  parent=${a.parentId}` : ""}${a.suspended ? "  SUSPENDED" : ""}`;
}
