import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminHeaders, expectFailure, expectOk } from "../helpers/e2e.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";
import { BAD_INPUT } from "./grpc-bad-input.cases.js";

describe("gRPC port: bad input gets its code and reason, and writes nothing", () => {
  let f: GrpcFixture;
  beforeAll(async () => {
    f = await startGrpcFixture();
    // The operator's decision (made on the core here): the other org owns this identity.
    f.server.tessera.serviceIdentities.assign(f.other.orgId, "spiffe://tessera.local/taken");
    const bound = await f.c.admin.call(
      "bindServiceIdentity",
      { identity: "spiffe://tessera.local/taken" },
      adminHeaders(f.other),
    );
    expectOk(bound);
  });
  afterAll(async () => f?.close());

  /** What an org's admin can see: its agents and its policies with their revision. */
  const state = async (headers: Record<string, string>) => {
    const agents = expectOk(await f.c.admin.call("listAgents", {}, headers)).agents;
    const policies = expectOk(await f.c.admin.call("listPolicies", {}, headers));
    return {
      agents: agents.map((a) => a.name).sort(),
      revision: policies.revision,
      policies: policies.policies.map((p) => `${p.name}@${p.revision}`),
    };
  };

  it.each(BAD_INPUT)("refuses %s", async (_name, code, reason, call) => {
    const ours = await state(f.admin);
    const theirs = await state(adminHeaders(f.other));
    expectFailure(await call(f), code, reason);
    expect(await state(f.admin)).toEqual(ours);
    expect(await state(adminHeaders(f.other))).toEqual(theirs);
    expect(theirs.agents).toEqual(["theirs"]);
  });

  it("still serves normally after all of it", async () => {
    const res = expectOk(
      await f.c.auth.call("authorize", {
        subject: { case: "token", value: f.token },
        scope: "governance:propose",
        resource: { kind: "tool", id: "t1" },
      }),
    );
    expect(res.reason).toBe("ALLOWED_BY_RULE");
  });
});
