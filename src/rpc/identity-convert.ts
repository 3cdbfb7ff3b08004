import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { OrgSchema } from "../../gen/tessera/v1/system_service_pb.js";
import {
  type IdentityNamespaceSchema,
  IdentitySource as IdentitySourcePb,
  type ServiceIdentitySchema,
} from "../../gen/tessera/v1/types_pb.js";
import { formatNamespace, type IdentitySource } from "../domain/identity.js";
import type { OrgSummaryRow } from "../store/operators.js";
import type { BindingRow, NamespaceRow } from "../store/services.js";

const seconds = (s: number) => timestampFromMs(s * 1000);

/** The wire source of a domain source. */
export function sourceToPb(source: IdentitySource): IdentitySourcePb {
  return source === "spiffe" ? IdentitySourcePb.SPIFFE : IdentitySourcePb.CN;
}

/** The domain source a request names; unset leaves it to the identity's text. */
export function sourceFromPb(source: IdentitySourcePb): IdentitySource | undefined {
  if (source === IdentitySourcePb.SPIFFE) return "spiffe";
  if (source === IdentitySourcePb.CN) return "cn";
  return undefined;
}

export function bindingToPb(b: BindingRow): MessageInitShape<typeof ServiceIdentitySchema> {
  return {
    source: sourceToPb(b.source),
    identity: b.identity,
    orgId: b.orgId,
    boundAt: seconds(b.createdAt),
  };
}

export function namespaceToPb(ns: NamespaceRow): MessageInitShape<typeof IdentityNamespaceSchema> {
  return {
    namespace: formatNamespace(ns),
    source: sourceToPb(ns.source),
    prefix: ns.match === "prefix",
    orgId: ns.orgId,
    assignedAt: seconds(ns.createdAt),
  };
}

export function orgToPb(o: OrgSummaryRow): MessageInitShape<typeof OrgSchema> {
  return {
    id: o.id,
    name: o.name,
    policyRevision: BigInt(o.policyRevision),
    createdAt: seconds(o.createdAt),
  };
}
