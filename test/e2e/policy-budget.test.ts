import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService, Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { createOrg, type NewOrg } from "../../src/core/bootstrap.js";
import { openStore } from "../../src/store/store.js";
import { cliEnv, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { adminHeaders, expectFailure, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";

const digits = "[0,1,2,3,4,5,6,7,8,9]";
/** Rules whose conditions are each a distinct constant close to the CEL budget: valid, but slow to check. */
const heavy = (n: number) =>
  [
    "apiVersion: tessera.dev/v1",
    "kind: Policy",
    "metadata: { name: heavy }",
    "spec:",
    "  rules:",
    ...Array.from(
      { length: n },
      (_, i) =>
        `    - { name: r${i}, scopes: ["a:b"], effect: allow, condition: '${digits}.all(a, ${digits}.all(b, ${digits}.all(c, a + b + c >= 0))) && ${i} >= 0' }`,
    ),
  ].join("\n");

/** Issue #9 finding 2, as reported: eight nested all() in one condition. */
const EIGHT_NESTED = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: nested }
spec:
  rules:
    - name: r
      scopes: ["a:b"]
      effect: allow
      condition: '${"abcdefgh"
        .split("")
        .map((v) => `${digits}.all(${v}, `)
        .join("")}a + b + c + d + e + f + g + h >= 0${")".repeat(8)}'
`;

describe("policy checks run off the event loop of a built server (issue #9, finding 2)", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let address = "";
  let a: NewOrg;
  let b: NewOrg;

  beforeAll(async () => {
    const store = openStore(data.dir);
    a = await createOrg(store, "a", new Date());
    b = await createOrg(store, "b", new Date());
    void store.close();
    // One process: the Authorize calls below are served by the worker running the validation.
    serve = spawnServe(
      ["--data-dir", data.dir, "--grpc-port", "0", "--http-port", "0", "--workers", "1"],
      cliEnv(data.dir),
    );
    address = `127.0.0.1:${(await serve.ready).grpcPort}`;
  });
  afterAll(async () => {
    expect(await serve.stop()).toBe(0);
    data.cleanup();
  });

  it("another org's Authorize calls keep answering while a heavy ValidatePolicy runs", async () => {
    const admin = grpcClient(AdminService, address);
    const auth = grpcClient(AuthService, address);
    let validated = false;
    const validation = admin.call("validatePolicy", { document: heavy(40) }, adminHeaders(a)).finally(() => {
      validated = true;
    });
    let answeredMeanwhile = 0;
    while (!validated) {
      const res = await auth.call(
        "authorize",
        { subject: { case: "attributes", value: { id: "x", tier: Tier.VERIFIED, roles: [] } }, scope: "a:b" },
        { "x-api-key": b.apiKey },
      );
      expect(expectOk(res).decision).toBe(Decision.DENY);
      if (!validated) answeredMeanwhile++;
    }
    const res = await validation;
    // Valid, or over the check's deadline on a slow machine: either way an answer, not a stall.
    if (!res.ok) expectFailure(res, grpc.status.INVALID_ARGUMENT, "POLICY_TOO_COMPLEX");
    // Before, the validation held the event loop: nothing else was answered until it was done.
    expect(answeredMeanwhile).toBeGreaterThanOrEqual(3);
    admin.close();
    auth.close();
  });

  it("refuses the reported condition (eight nested all()) at once with POLICY_TOO_COMPLEX", async () => {
    const admin = grpcClient(AdminService, address);
    for (const method of ["validatePolicy", "putPolicy"] as const) {
      const res = await admin.call(method, { document: EIGHT_NESTED }, adminHeaders(a));
      expect(expectFailure(res, grpc.status.INVALID_ARGUMENT, "POLICY_TOO_COMPLEX")).toBeDefined();
    }
    expect(expectOk(await admin.call("listPolicies", {}, adminHeaders(a))).revision).toBe(0n);
    admin.close();
  });
});
