import type { DescMessage } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  BindServiceIdentityRequestSchema,
  CreateAgentRequestSchema,
  UpdateAgentRequestSchema,
} from "../../gen/tessera/v1/admin_service_pb.js";
import {
  AuthorizeBatchRequestSchema,
  AuthorizeRequestSchema,
  MintTokenRequestSchema,
} from "../../gen/tessera/v1/auth_service_pb.js";
import { TesseraError } from "../../src/domain/errors.js";
import { checkJsonRequest } from "../../src/rpc/json-request.js";

/** The refusal of a JSON request, as reason and details; undefined when it passes. */
function refusal(desc: DescMessage, json: unknown) {
  try {
    checkJsonRequest(desc, json);
    return undefined;
  } catch (err) {
    if (!(err instanceof TesseraError)) throw err;
    return { reason: err.reason, ...err.details };
  }
}

describe("the JSON request check", () => {
  it.each([
    ["CreateAgent", CreateAgentRequestSchema, { name: "n", tier: "trusted" }, ["tier"]],
    ["UpdateAgent", UpdateAgentRequestSchema, { id: "x", tier: "privileged" }, ["tier"]],
    ["MintToken", MintTokenRequestSchema, { agentId: "x", tier: "unverified" }, ["tier"]],
    ["Authorize", AuthorizeRequestSchema, { attributes: { tier: "verified" } }, ["attributes", "tier"]],
    [
      "AuthorizeBatch",
      AuthorizeBatchRequestSchema,
      { attributes: { tier: "verified" } },
      ["attributes", "tier"],
    ],
  ] as const)("takes a tier alias in %s and replaces it by the value name", (_n, desc, json, path) => {
    const copy = structuredClone(json) as Record<string, unknown>;
    expect(checkJsonRequest(desc, copy)).toBe(true);
    const tier = path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], copy);
    expect(tier).toMatch(/^TIER_[A-Z]+$/);
  });

  it("reports nothing to re-serialize when no alias was used", () => {
    expect(checkJsonRequest(CreateAgentRequestSchema, { name: "n", tier: "TIER_VERIFIED" })).toBe(false);
  });

  it("gives aliases to tiers only: other enums keep their value names", () => {
    expect(refusal(BindServiceIdentityRequestSchema, { identity: "x", source: "spiffe" })).toEqual({
      reason: "ENUM_VALUE_UNKNOWN",
      field: "source",
    });
    expect(
      refusal(BindServiceIdentityRequestSchema, { identity: "x", source: "IDENTITY_SOURCE_SPIFFE" }),
    ).toBe(undefined);
  });

  it("names an unknown key at any depth, in lists too, and leaves Struct contents free", () => {
    expect(refusal(AuthorizeBatchRequestSchema, { checks: [{}, { context: { x: 1 }, extra: 1 }] })).toEqual({
      reason: "FIELD_UNKNOWN",
      field: "checks[1].extra",
    });
    expect(
      refusal(AuthorizeRequestSchema, { resource: { attr: { anything: { goes: [1] } } } }),
    ).toBeUndefined();
    expect(refusal(AuthorizeRequestSchema, JSON.parse('{"__proto__": 1}'))).toEqual({
      reason: "FIELD_UNKNOWN",
      field: "__proto__",
    });
  });

  it("refuses a body that is not an object, and a value the decoder refuses, naming its field", () => {
    expect(refusal(AuthorizeRequestSchema, [])).toEqual({ reason: "REQUEST_MALFORMED" });
    expect(refusal(MintTokenRequestSchema, { ttl: "ten minutes" })).toEqual({
      reason: "REQUEST_MALFORMED",
      field: "ttl",
    });
    expect(refusal(AuthorizeRequestSchema, { token: "t", attributes: {} })).toMatchObject({
      reason: "REQUEST_MALFORMED",
    });
  });
});
