import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { createOrg, type NewOrg } from "../../src/core/bootstrap.js";
import { openStore } from "../../src/store/store.js";
import { type ServeProcess, spawnCluster } from "../helpers/cli.js";
import { adminHeaders, expectOk } from "../helpers/e2e.js";
import { freshAuthClient, grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";

const CONNECTIONS = 8;
const BOUND_MS = 2000;
const REFUSED = "UNAUTHENTICATED TOKEN_ORG_MISMATCH";
// The development org's example policy allows governance:read to viewers; the partner org has
// no policy at all, so an ALLOW can only come from the trusting org's policies.
const ALLOWED = "ALLOWED_BY_RULE";

describe("serve --workers 2: a trust or untrust reaches every worker, and survives a restart", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let port = 0;
  let ours: Record<string, string>;
  let ourOrg = "";
  /** Partner orgs, each with an agent (a viewer) and a token of it. */
  const partners: { org: NewOrg; token: string }[] = [];

  const adminClient = () => grpcClient(AdminService, `127.0.0.1:${port}`);
  /** An admin call on a connection of its own. */
  async function withAdmin<T>(f: (c: ReturnType<typeof adminClient>) => Promise<T>): Promise<T> {
    const c = adminClient();
    try {
      return await f(c);
    } finally {
      c.close();
    }
  }

  async function newPartner(name: string): Promise<{ org: NewOrg; token: string }> {
    const store = openStore(data.dir);
    let org: NewOrg;
    try {
      org = createOrg(store, name, new Date());
    } finally {
      store.close();
    }
    const created = await withAdmin((c) =>
      c.call("createAgent", { name: "p", tier: Tier.VERIFIED, roles: ["viewer"] }, adminHeaders(org)),
    );
    const agentId = expectOk(created).agent?.id ?? "";
    const auth = freshAuthClient(port);
    const minted = await auth.call(
      "mintToken",
      { agentId, scopes: ["governance:read"], ttl: { seconds: 600n } },
      adminHeaders(org),
    );
    auth.close();
    return { org, token: expectOk(minted).token };
  }

  beforeAll(async () => {
    ({ serve, port, admin: ours } = await spawnCluster(data.dir));
    const auth = freshAuthClient(port);
    ourOrg = expectOk(await auth.call("getServerStatus", {}, { "x-api-key": ours["x-api-key"] ?? "" })).orgId;
    auth.close();
    partners.push(await newPartner("partner-1"), await newPartner("partner-2"));
  });
  afterAll(async () => {
    expect(await serve?.stop()).toBe(0);
    data.cleanup();
  });

  /** What Authorize with our API key and the token answers on each of CONNECTIONS fresh connections. */
  async function answers(token: string): Promise<string[]> {
    const clients = Array.from({ length: CONNECTIONS }, () => freshAuthClient(port));
    const query = { subject: { case: "token" as const, value: token }, scope: "governance:read" };
    const results = await Promise.all(
      clients.map((c) => c.call("authorize", query, { "x-api-key": ours["x-api-key"] ?? "" })),
    );
    for (const c of clients) c.close();
    return results.map((r) => (r.ok ? r.value.reason : `${grpc.status[r.error.code]} ${r.error.reason}`));
  }

  /** Polls until every fresh connection gives `expected`, for at most BOUND_MS; returns the last answers. */
  async function settle(token: string, expected: string): Promise<string[]> {
    const start = Date.now();
    let seen = await answers(token);
    while (seen.some((a) => a !== expected) && Date.now() - start < BOUND_MS) seen = await answers(token);
    return seen;
  }

  it("TrustOrg through one connection admits their token on every worker; UntrustOrg refuses it everywhere", async () => {
    const { org, token } = partners[0] ?? expect.unreachable();
    expect(await answers(token)).toEqual(Array(CONNECTIONS).fill(REFUSED));
    expectOk(await withAdmin((c) => c.call("trustOrg", { orgId: org.orgId }, ours)));
    expect(await settle(token, ALLOWED)).toEqual(Array(CONNECTIONS).fill(ALLOWED));
    expectOk(await withAdmin((c) => c.call("untrustOrg", { orgId: org.orgId }, ours)));
    expect(await settle(token, REFUSED)).toEqual(Array(CONNECTIONS).fill(REFUSED));
  });

  // Fresh connections may all land on the worker that made the change (the kernel hands them
  // out, SCHED_NONE): a change written by another process, about an org no worker has seen
  // trusted before, is one no worker made, so every worker must take it from the change log.
  it("applies a trust and an untrust written by another process on every worker, from the change log", async () => {
    const { org, token } = partners[1] ?? expect.unreachable();
    expect(await answers(token)).toEqual(Array(CONNECTIONS).fill(REFUSED));
    const store = openStore(data.dir);
    try {
      const trust = { orgId: ourOrg, trustedOrgId: org.orgId, createdAt: 0, actor: "test" };
      expect(store.orgTrust.insert(trust)).toEqual(trust);
      expect(await settle(token, ALLOWED)).toEqual(Array(CONNECTIONS).fill(ALLOWED));
      expect(store.orgTrust.delete(ourOrg, org.orgId)).toBe(true);
      expect(await settle(token, REFUSED)).toEqual(Array(CONNECTIONS).fill(REFUSED));
    } finally {
      store.close();
    }
  });

  it("keeps a trust across a restart", async () => {
    const { org, token } = partners[0] ?? expect.unreachable();
    expectOk(await withAdmin((c) => c.call("trustOrg", { orgId: org.orgId }, ours)));
    expect(await settle(token, ALLOWED)).toEqual(Array(CONNECTIONS).fill(ALLOWED));
    expect(await serve.stop()).toBe(0);
    // The development org exists now: the restart prints no credentials, ours still hold.
    ({ serve, port } = await spawnCluster(data.dir));
    expect(await answers(token)).toEqual(Array(CONNECTIONS).fill(ALLOWED));
    const { orgs } = expectOk(await withAdmin((c) => c.call("listTrustedOrgs", {}, ours)));
    expect(orgs.map((o) => o.orgId)).toEqual([org.orgId]);
  });
});
