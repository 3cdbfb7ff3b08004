/**
 * Bad input for the gRPC port, as data: what to send (given the fixture) and the code and
 * ErrorInfo reason it must get. Run by grpc-bad-input.test.ts, which also checks nothing changed.
 */
import * as grpc from "@grpc/grpc-js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { generateSecret } from "../../src/auth/secrets.js";
import { type CallResult, forgeClaims, rawUnary, tamperPayload } from "../helpers/e2e.js";
import type { GrpcFixture } from "../helpers/grpc-fixture.js";

/** One bad input: what to send (given the fixture), and the code and reason it must get. */
export type BadInputCase = [
  name: string,
  code: grpc.status,
  reason: string | undefined,
  call: (f: GrpcFixture) => Promise<CallResult<unknown>>,
];

const S = grpc.status;
const attrs = { case: "attributes" as const, value: { id: "a1", tier: Tier.VERIFIED, roles: ["operator"] } };
const CREATE = "/tessera.v1.AdminService/CreateAgent";

export const BAD_INPUT: BadInputCase[] = [
  [
    "no subject",
    S.INVALID_ARGUMENT,
    "SUBJECT_MISSING",
    (f) => f.c.auth.call("authorize", { scope: "governance:propose" }, f.admin),
  ],
  [
    "no scope",
    S.INVALID_ARGUMENT,
    "SCOPE_MISSING",
    (f) => f.c.auth.call("authorize", { subject: attrs }, f.admin),
  ],
  [
    "a malformed API key",
    S.UNAUTHENTICATED,
    "API_KEY_MALFORMED",
    (f) => f.c.admin.call("createAgent", { name: "x1" }, { ...f.admin, "x-api-key": "tsk_nope" }),
  ],
  [
    "a well-formed unknown API key",
    S.UNAUTHENTICATED,
    "API_KEY_UNKNOWN",
    (f) =>
      f.c.admin.call("createAgent", { name: "x2" }, { ...f.admin, "x-api-key": generateSecret("apiKey") }),
  ],
  [
    "an admin token without an API key",
    S.UNAUTHENTICATED,
    "API_KEY_MISSING",
    (f) => f.c.admin.call("createAgent", { name: "x3" }, { "x-admin-token": f.server.org.adminToken }),
  ],
  [
    "no admin token",
    S.UNAUTHENTICATED,
    "ADMIN_TOKEN_MISSING",
    (f) => f.c.admin.call("createAgent", { name: "x4" }, { "x-api-key": f.server.org.apiKey }),
  ],
  [
    "the API key of one org with the admin token of another",
    S.UNAUTHENTICATED,
    "ADMIN_TOKEN_ORG_MISMATCH",
    (f) => f.c.admin.call("createAgent", { name: "x5" }, { ...f.admin, "x-admin-token": f.other.adminToken }),
  ],
  [
    "a token whose claims were rewritten (Authorize)",
    S.UNAUTHENTICATED,
    "TOKEN_INVALID",
    (f) =>
      f.c.auth.call("authorize", {
        subject: { case: "token", value: forgeClaims(f.token, { tier: "privileged", roles: ["admin"] }) },
        scope: "governance:propose",
      }),
  ],
  [
    "a token whose claims were rewritten (Authenticate)",
    S.UNAUTHENTICATED,
    "TOKEN_INVALID",
    (f) =>
      f.c.auth.call("authenticate", {
        credential: { case: "token", value: forgeClaims(f.token, { org: f.other.orgId }) },
      }),
  ],
  [
    "a token with a payload character flipped",
    S.UNAUTHENTICATED,
    "TOKEN_MALFORMED",
    (f) => f.c.auth.call("authenticate", { credential: { case: "token", value: tamperPayload(f.token) } }),
  ],
  [
    "a ttl above the maximum",
    S.INVALID_ARGUMENT,
    "TTL_TOO_LONG",
    (f) =>
      f.c.auth.call(
        "mintToken",
        { agentId: f.agentId, scopes: ["governance:propose"], ttl: { seconds: 3601n } },
        f.admin,
      ),
  ],
  [
    "MintToken for another org's agent",
    S.NOT_FOUND,
    "AGENT_NOT_FOUND",
    (f) => f.c.auth.call("mintToken", { agentId: f.otherAgentId, scopes: ["governance:propose"] }, f.admin),
  ],
  [
    "GetAgent for another org's agent",
    S.NOT_FOUND,
    "AGENT_NOT_FOUND",
    (f) => f.c.admin.call("getAgent", { id: f.otherAgentId }, f.admin),
  ],
  [
    "a duplicate agent name",
    S.ALREADY_EXISTS,
    "AGENT_NAME_TAKEN",
    (f) => f.c.admin.call("createAgent", { name: "planner", tier: Tier.TRUSTED }, f.admin),
  ],
  [
    "a truncated length-delimited field",
    S.INVALID_ARGUMENT,
    "REQUEST_MALFORMED",
    (f) => rawUnary(f.address, CREATE, Buffer.from([0x0a, 0x05, 0x61]), f.admin),
  ],
  [
    "an invalid wire type",
    S.INVALID_ARGUMENT,
    "REQUEST_MALFORMED",
    (f) => rawUnary(f.address, CREATE, Buffer.from([0x0f, 0x01]), f.admin),
  ],
  [
    "an over-long varint",
    S.INVALID_ARGUMENT,
    "REQUEST_MALFORMED",
    (f) => rawUnary(f.address, "/tessera.v1.AuthService/Authorize", Buffer.alloc(12, 0xff), f.admin),
  ],
  [
    "invalid UTF-8 in a string field",
    S.INVALID_ARGUMENT,
    "REQUEST_MALFORMED",
    (f) => rawUnary(f.address, CREATE, Buffer.from([0x0a, 0x02, 0xff, 0xfe]), f.admin),
  ],
  [
    "an unknown tier number",
    S.INVALID_ARGUMENT,
    "TIER_INVALID",
    (f) => f.c.admin.call("createAgent", { name: "t99", tier: 99 as Tier }, f.admin),
  ],
  [
    "a token over 8 KiB",
    S.UNAUTHENTICATED,
    "TOKEN_TOO_LARGE",
    (f) =>
      f.c.auth.call("authorize", { subject: { case: "token", value: "x".repeat(9 * 1024) }, scope: "a:b" }),
  ],
  [
    "a policy document that does not validate",
    S.INVALID_ARGUMENT,
    "POLICY_INVALID",
    (f) => f.c.admin.call("putPolicy", { document: "apiVersion: tessera.dev/v1\nkind: Policy\n" }, f.admin),
  ],
  [
    "an identity in another org's namespace, bound to it",
    S.PERMISSION_DENIED,
    "IDENTITY_OUTSIDE_NAMESPACE",
    (f) => f.c.admin.call("bindServiceIdentity", { identity: "spiffe://tessera.local/taken" }, f.admin),
  ],
  // Refused by grpc-js before any handler runs, so no ErrorInfo reason is attached.
  [
    "a message over 64 KiB",
    S.RESOURCE_EXHAUSTED,
    undefined,
    (f) => f.c.admin.call("createAgent", { name: "big", tags: ["t".repeat(70 * 1024)] }, f.admin),
  ],
];
