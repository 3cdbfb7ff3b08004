import { gzipSync } from "node:zlib";
import { fromBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { adminHeaders } from "../helpers/e2e.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

interface JsonReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** The ErrorInfo of a Connect JSON error body: reason and metadata. */
function infoOf(body: Record<string, unknown>): { reason: string; metadata: Record<string, string> } {
  const details = (body.details ?? []) as { type: string; value: string }[];
  const info = details.find((d) => d.type === "google.rpc.ErrorInfo");
  if (!info) throw new Error(`no ErrorInfo in ${JSON.stringify(body)}`);
  const decoded = fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64"));
  return { reason: decoded.reason, metadata: { ...decoded.metadata } };
}

const AUTHORIZE = "tessera.v1.AuthService/Authorize";
/** An attributes subject the example policy allows for governance:propose when its tier is verified. */
const authorizeBody = (tier: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    attributes: { id: "agent_abc123", tier, roles: ["operator"] },
    scope: "governance:propose",
    resource: { kind: "tool", id: "t1" },
    ...extra,
  });

/**
 * Issue #10, "Strict where it matters": over Connect JSON on the HTTP port, an unknown field or
 * enum value is refused naming it (before, `"tier":"TIER_VERIFED"` and `"resourse"` were
 * dropped and the call silently denied), and the CLI's lower-case tier names are accepted.
 */
describe("Connect JSON on the HTTP port is strict", () => {
  let server: TestServer;
  let base: string;
  let apiKey: Record<string, string>;

  async function post(
    path: string,
    body: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<JsonReply> {
    const res = await fetch(`${base}/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** Asserts a 400 invalid_argument with this reason naming `field`, in our words only. */
  function expectRefused(res: JsonReply, reason: string, field: string): void {
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_argument");
    expect(infoOf(res.body)).toEqual({ reason, metadata: { field } });
    expect(res.body.message).toContain(field);
    expect(res.body.message).not.toMatch(/cannot decode|protobuf|JSON\.parse/);
  }

  beforeAll(async () => {
    server = await startTestServer();
    base = `http://127.0.0.1:${server.httpPort}`;
    apiKey = { "x-api-key": server.org.apiKey };
  });
  afterAll(async () => server?.stop());

  it("refuses a misspelled top-level field (the issue's `resourse`)", async () => {
    const body = authorizeBody("TIER_VERIFIED").replace('"resource"', '"resourse"');
    expectRefused(await post(AUTHORIZE, body, apiKey), "FIELD_UNKNOWN", "resourse");
  });

  it("refuses an unknown field nested in a message, with its path", async () => {
    const body = JSON.stringify({
      attributes: { id: "a", tierr: "TIER_VERIFIED" },
      scope: "governance:propose",
    });
    expectRefused(await post(AUTHORIZE, body, apiKey), "FIELD_UNKNOWN", "attributes.tierr");
    const batch = JSON.stringify({
      attributes: { id: "a" },
      checks: [{ scope: "a:b" }, { scope: "a:b", resource: { kind: "tool", idd: "x" } }],
    });
    expectRefused(
      await post("tessera.v1.AuthService/AuthorizeBatch", batch, apiKey),
      "FIELD_UNKNOWN",
      "checks[1].resource.idd",
    );
  });

  it.each([
    ["the issue's misspelled name", "TIER_VERIFED"],
    ["an alias in the wrong case", "Verified"],
    ["the zero value's bare name", "unspecified"],
    ["a number the enum does not have", 9],
    ["a boolean", true],
  ])("refuses a tier that is not one: %s", async (_name, tier) => {
    expectRefused(
      await post(AUTHORIZE, authorizeBody(tier), apiKey),
      "ENUM_VALUE_UNKNOWN",
      "attributes.tier",
    );
  });

  it("accepts the lower-case tier names as aliases, and they decide as the tier (not as unset)", async () => {
    const verified = await post(AUTHORIZE, authorizeBody("verified"), apiKey);
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ decision: "DECISION_ALLOW", rule: "example/propose" });
    // The example rule needs tier ≥ verified: an alias that were dropped would deny.
    const unverified = await post(AUTHORIZE, authorizeBody("unverified"), apiKey);
    expect(unverified.body).toMatchObject({ decision: "DECISION_DENY" });
    const byName = await post(AUTHORIZE, authorizeBody("TIER_TRUSTED"), apiKey);
    expect(byName.body).toMatchObject({ decision: "DECISION_ALLOW" });
    const byNumber = await post(AUTHORIZE, authorizeBody(2), apiKey);
    expect(byNumber.body).toMatchObject({ decision: "DECISION_ALLOW" });
  });

  it("takes aliases wherever a request has a tier (found from the descriptors) and writes nothing when refused", async () => {
    const admin = adminHeaders(server.org);
    const created = await post(
      "tessera.v1.AdminService/CreateAgent",
      JSON.stringify({ name: "json-trusted", tier: "trusted", roles: ["viewer"] }),
      admin,
    );
    expect(created.status).toBe(200);
    const agent = created.body.agent as { id: string; tier: string };
    expect(agent.tier).toBe("TIER_TRUSTED");
    const updated = await post(
      "tessera.v1.AdminService/UpdateAgent",
      JSON.stringify({ id: agent.id, tier: "privileged" }),
      admin,
    );
    expect((updated.body.agent as { tier: string }).tier).toBe("TIER_PRIVILEGED");
    const before = await post("tessera.v1.AdminService/ListAgents", "{}", admin);
    const misspelled = await post(
      "tessera.v1.AdminService/CreateAgent",
      JSON.stringify({ nmae: "json-nameless", tier: "verified" }),
      admin,
    );
    expectRefused(misspelled, "FIELD_UNKNOWN", "nmae");
    expect(await post("tessera.v1.AdminService/ListAgents", "{}", admin)).toEqual(before);
  });

  it("checks a gzip-compressed body the same way", async () => {
    const body = gzipSync(authorizeBody("verified").replace('"resource"', '"resourse"'));
    const refused = await post(AUTHORIZE, body, { ...apiKey, "content-encoding": "gzip" });
    expectRefused(refused, "FIELD_UNKNOWN", "resourse");
    const ok = await post(AUTHORIZE, gzipSync(authorizeBody("verified")), {
      ...apiKey,
      "content-encoding": "gzip",
    });
    expect(ok.body).toMatchObject({ decision: "DECISION_ALLOW" });
  });

  it("names the field of a value of the wrong type, and refuses a body that is not a JSON object", async () => {
    expectRefused(
      await post(AUTHORIZE, authorizeBody("verified", { scope: 5 }), apiKey),
      "REQUEST_MALFORMED",
      "scope",
    );
    for (const body of ["[]", '"x"', "{not json"]) {
      const res = await post(AUTHORIZE, body, apiKey);
      expect(res.status, body).toBe(400);
      expect(infoOf(res.body).reason, body).toBe("REQUEST_MALFORMED");
    }
  });

  it("still takes JSON and proto field names, free-form Struct keys and nulls", async () => {
    const body = JSON.stringify({
      attributes: { id: "a", tier: "verified", roles: ["operator"], attr: { anyKey: { nested: [1, null] } } },
      scope: "governance:propose",
      resource: { kind: "tool", id: "t1", attr: null },
      context: { whatever_key: true },
      explain: null,
    });
    const res = await post(AUTHORIZE, body, apiKey);
    expect(res.body).toMatchObject({ decision: "DECISION_ALLOW" });
    const minted = await post(
      "tessera.v1.AuthService/MintToken",
      JSON.stringify({ agent_id: "agt_none", scopes: ["a:b"] }),
      adminHeaders(server.org),
    );
    // Known under its proto name: refused for the agent, not for the key.
    expect(infoOf(minted.body).reason).toBe("AGENT_NOT_FOUND");
  });
});
