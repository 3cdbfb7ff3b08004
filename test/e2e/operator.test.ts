import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import { IdentitySource } from "../../gen/tessera/v1/types_pb.js";
import type { NewOrg } from "../../src/core/bootstrap.js";
import { adminHeaders, expectFailure, expectOk, rawUnary } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";
import { createOperatorToken } from "../helpers/server.js";

const TD = "spiffe://mesh.example";

describe("the server operator on a running server with two orgs", () => {
  let f: GrpcFixture;
  let system: ReturnType<typeof grpcClient<typeof SystemService.method>>;
  let operator: Record<string, string>;
  let a: Record<string, string>;
  let b: Record<string, string>;
  let orgB: NewOrg;

  beforeAll(async () => {
    f = await startGrpcFixture();
    system = grpcClient(SystemService, f.address);
    operator = { "x-operator-token": await createOperatorToken(f.server.dataDir) };
    a = f.admin;
    orgB = f.other;
    b = adminHeaders(orgB);
  });
  afterAll(async () => {
    system?.close();
    await f?.close();
  });

  const bind = (headers: Record<string, string>, identity: string) =>
    f.c.admin.call("bindServiceIdentity", { identity }, headers);

  it("assigns namespaces; org A cannot bind in org B's namespace or in none, org B can", async () => {
    expectOk(
      await system.call(
        "assignIdentityNamespace",
        { orgId: orgB.orgId, namespace: `${TD}/payments/` },
        operator,
      ),
    );
    expectOk(
      await system.call(
        "assignIdentityNamespace",
        { orgId: f.server.org.orgId, namespace: `${TD}/orders/` },
        operator,
      ),
    );
    for (const identity of [`${TD}/payments/api`, `${TD}/payments`, `${TD}/search`, "billing-worker"]) {
      expectFailure(await bind(a, identity), grpc.status.PERMISSION_DENIED, "IDENTITY_OUTSIDE_NAMESPACE");
    }
    expect(expectOk(await bind(b, `${TD}/payments/api`))).toMatchObject({
      orgId: orgB.orgId,
      source: IdentitySource.SPIFFE,
    });
    // Org B is as bound by its namespaces as org A.
    expectFailure(
      await bind(b, `${TD}/orders/x`),
      grpc.status.PERMISSION_DENIED,
      "IDENTITY_OUTSIDE_NAMESPACE",
    );
    expectOk(await bind(a, `${TD}/orders/x`));
  });

  it("refuses a namespace that overlaps another org's", async () => {
    expectFailure(
      await system.call(
        "assignIdentityNamespace",
        { orgId: f.server.org.orgId, namespace: `${TD}/` },
        operator,
      ),
      grpc.status.ALREADY_EXISTS,
      "NAMESPACE_TAKEN",
    );
  });

  it("lets each org list and unbind its own bindings only", async () => {
    const listed = expectOk(await f.c.admin.call("listServiceIdentities", {}, a));
    expect(listed.identities.map((i) => i.identity)).toEqual([`${TD}/orders/x`]);
    expect(listed.namespaces.map((n) => n.namespace)).toEqual([`${TD}/orders/`]);
    expectFailure(
      await f.c.admin.call("unbindServiceIdentity", { identity: `${TD}/payments/api` }, a),
      grpc.status.NOT_FOUND,
      "IDENTITY_NOT_FOUND",
    );
    expect(expectOk(await f.c.admin.call("listServiceIdentities", {}, b)).identities).toHaveLength(1);
    expectOk(await f.c.admin.call("unbindServiceIdentity", { identity: `${TD}/orders/x` }, a));
    expect(expectOk(await f.c.admin.call("listServiceIdentities", {}, a)).identities).toEqual([]);
  });

  it("unassigns: the org's bindings under the namespace go with it", async () => {
    const res = expectOk(
      await system.call("unassignIdentityNamespace", { namespace: `${TD}/payments/` }, operator),
    );
    expect(res.removed.map((r) => r.identity)).toEqual([`${TD}/payments/api`]);
    expect(expectOk(await f.c.admin.call("listServiceIdentities", {}, b)).identities).toEqual([]);
    expectFailure(
      await bind(b, `${TD}/payments/api`),
      grpc.status.PERMISSION_DENIED,
      "IDENTITY_OUTSIDE_NAMESPACE",
    );
    // Now free for the operator to give to org A.
    expectOk(
      await system.call(
        "assignIdentityNamespace",
        { orgId: f.server.org.orgId, namespace: `${TD}/` },
        operator,
      ),
    );
    expectOk(await bind(a, `${TD}/payments/api`));
  });

  it("refuses an org admin's RotateSigningKeys: gone from AdminService, and OPERATOR_REQUIRED on SystemService", async () => {
    const old = await rawUnary(f.address, "/tessera.v1.AdminService/RotateSigningKeys", Buffer.alloc(0), a);
    expectFailure(old, grpc.status.UNIMPLEMENTED, undefined);
    for (const headers of [a, b, { "x-api-key": orgB.apiKey }, { authorization: `Bearer ${f.token}` }]) {
      expectFailure(
        await system.call("rotateSigningKeys", {}, headers),
        grpc.status.PERMISSION_DENIED,
        "OPERATOR_REQUIRED",
      );
      expectFailure(
        await system.call("createOrg", { name: "x" }, headers),
        grpc.status.PERMISSION_DENIED,
        "OPERATOR_REQUIRED",
      );
      expectFailure(
        await system.call("assignIdentityNamespace", { orgId: orgB.orgId, namespace: "cn:x" }, headers),
        grpc.status.PERMISSION_DENIED,
        "OPERATOR_REQUIRED",
      );
    }
    // Org admins may still read the keys.
    expect(expectOk(await f.c.admin.call("listSigningKeys", {}, a)).keys).toHaveLength(2);
  });

  it("refuses the operator token on AdminService: it is not an org credential", async () => {
    expectFailure(
      await f.c.admin.call("listAgents", {}, operator),
      grpc.status.PERMISSION_DENIED,
      "ORG_CREDENTIAL_REQUIRED",
    );
    expectFailure(
      await f.c.admin.call("suspendAgent", { id: f.agentId }, operator),
      grpc.status.PERMISSION_DENIED,
      "ORG_CREDENTIAL_REQUIRED",
    );
  });

  it("rotates the signing keys for the operator, at most once a minute", async () => {
    const before = expectOk(await system.call("listSigningKeys", {}, operator)).keys;
    const rotated = expectOk(await system.call("rotateSigningKeys", {}, operator)).keys;
    expect(rotated.find((k) => k.state === "active")?.kid).toBe(before.find((k) => k.state === "next")?.kid);
    const again = expectFailure(
      await system.call("rotateSigningKeys", {}, operator),
      grpc.status.RESOURCE_EXHAUSTED,
      "OPERATOR_RATE_LIMITED",
    );
    expect(again.message).toMatch(/keys\.rotate/);
    const jwks = expectOk(await f.c.auth.call("getJwks", {}));
    expect(jwks.keys).toHaveLength(3);
  });

  it("creates an org whose credentials work, and lists the orgs", async () => {
    const created = expectOk(await system.call("createOrg", { name: "acme" }, operator));
    const acme = { "x-api-key": created.apiKey, "x-admin-token": created.adminToken };
    expect(expectOk(await f.c.admin.call("listAgents", {}, acme)).agents).toEqual([]);
    const orgs = expectOk(await system.call("listOrgs", {}, operator)).orgs.map((o) => o.name);
    expect(orgs.sort()).toEqual(["acme", "development", "other"]);
  });
});
