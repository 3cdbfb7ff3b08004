import { equals, fromJsonString } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AuthorizeRequestSchema } from "../../gen/tessera/v1/auth_service_pb.js";
import { decodeAuthorizeJson } from "../../src/transport/authorize-json.js";

/*
 * Issue #15: the direct path's hand decoder gives exactly the message protobuf-es's JSON decoder
 * gives for every request it takes (and takes none it should leave to the router).
 */

const bytes = (s: string) => new TextEncoder().encode(s);
const text = fc.string({ maxLength: 12 });
const tier = fc.constantFrom(
  "TIER_UNSPECIFIED",
  "TIER_UNVERIFIED",
  "TIER_VERIFIED",
  "TIER_TRUSTED",
  "TIER_PRIVILEGED",
);
const resource = fc.record(
  { kind: text, id: text, attr: fc.dictionary(text, fc.string({ maxLength: 8 }), { maxKeys: 4 }) },
  { requiredKeys: [] },
);
const attributes = fc.record(
  { id: text, tier, roles: fc.array(text, { maxLength: 3 }) },
  { requiredKeys: [] },
);
const request = fc.oneof(
  fc.record({ attributes, scope: text, resource }, { requiredKeys: [] }),
  fc.record({ token: text, scope: text, resource }, { requiredKeys: [] }),
);

describe("decodeAuthorizeJson", () => {
  it("equals fromJson for every request of the known shape (property)", () => {
    fc.assert(
      fc.property(request, (req) => {
        const json = JSON.stringify(req);
        const mine = decodeAuthorizeJson(bytes(json));
        const attr = (req as { resource?: { attr?: object } }).resource?.attr;
        if (attr && Object.hasOwn(attr, "__proto__")) return expect(mine).toBeUndefined();
        if (!mine) return expect.unreachable("the direct path left a request of its shape");
        expect(equals(AuthorizeRequestSchema, mine, fromJsonString(AuthorizeRequestSchema, json))).toBe(true);
        expect(mine).toEqual(fromJsonString(AuthorizeRequestSchema, json));
      }),
      { numRuns: 500 },
    );
  });

  it("the bench's scenario request", () => {
    const json = JSON.stringify({
      attributes: { id: "agent_abc123", tier: "TIER_VERIFIED", roles: ["operator"] },
      scope: "governance:propose",
      resource: { kind: "tool", id: "t1", attr: { env: "staging" } },
    });
    expect(decodeAuthorizeJson(bytes(json))).toEqual(fromJsonString(AuthorizeRequestSchema, json));
  });

  it.each([
    ["unknown field", '{"scope":"a","explain":true}'],
    ["proto name", '{"resource":{"kind":"t"},"context":{}}'],
    ["tier alias", '{"attributes":{"tier":"verified"}}'],
    ["tier number", '{"attributes":{"tier":2}}'],
    ["null", '{"scope":null}'],
    ["both subjects", '{"token":"t","attributes":{}}'],
    ["non-string attr", '{"resource":{"attr":{"n":1}}}'],
    ["scopes on attributes", '{"attributes":{"scopes":["a:b"]}}'],
    ["array", "[]"],
    ["malformed", "{"],
  ])("leaves %s to the router", (_name, json) => {
    expect(decodeAuthorizeJson(bytes(json))).toBeUndefined();
  });
});
