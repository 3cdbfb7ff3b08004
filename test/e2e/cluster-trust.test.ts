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
import { clientsForEveryWorker, untilEveryWorker, type WorkerClients } from "../helpers/workers.js";

const WORKERS = 2;
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
  /** A connection to each worker, so every worker is asked, not whichever the kernel picks. */
  let workers: WorkerClients;

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
      org = await createOrg(store, name, new Date());
    } finally {
      void store.close();
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
    ({ serve, port, admin: ours } = await spawnCluster(data.dir, WORKERS));
    workers = await clientsForEveryWorker(port, WORKERS);
    const auth = freshAuthClient(port);
    ourOrg = expectOk(await auth.call("getServerStatus", {}, { "x-api-key": ours["x-api-key"] ?? "" })).orgId;
    auth.close();
    partners.push(await newPartner("partner-1"), await newPartner("partner-2"));
  });
  afterAll(async () => {
    workers?.close();
    expect(await serve?.stop()).toBe(0);
    data.cleanup();
  });

  /** What Authorize with our API key and the token answers on a worker. */
  const answer = (token: string) => async (c: ReturnType<typeof freshAuthClient>) => {
    const query = { subject: { case: "token" as const, value: token }, scope: "governance:read" };
    const r = await c.call("authorize", query, { "x-api-key": ours["x-api-key"] ?? "" });
    return r.ok ? r.value.reason : `${grpc.status[r.error.code]} ${r.error.reason}`;
  };
  /** Polls every worker until each gives `expected` (about 2 s at most); the last answers. */
  const settle = (token: string, expected: string) => untilEveryWorker(workers, answer(token), expected);

  it("TrustOrg through one connection admits their token on every worker; UntrustOrg refuses it everywhere", async () => {
    const { org, token } = partners[0] ?? expect.unreachable();
    expect(await workers.each(answer(token))).toEqual(workers.all(REFUSED));
    expectOk(await withAdmin((c) => c.call("trustOrg", { orgId: org.orgId }, ours)));
    expect(await settle(token, ALLOWED)).toEqual(workers.all(ALLOWED));
    expectOk(await withAdmin((c) => c.call("untrustOrg", { orgId: org.orgId }, ours)));
    expect(await settle(token, REFUSED)).toEqual(workers.all(REFUSED));
  });

  // A change written by another process, about an org no worker has seen trusted before, is one
  // no worker made, so every worker must take it from the change log.
  it("applies a trust and an untrust written by another process on every worker, from the change log", async () => {
    const { org, token } = partners[1] ?? expect.unreachable();
    expect(await workers.each(answer(token))).toEqual(workers.all(REFUSED));
    const store = openStore(data.dir);
    try {
      const trust = { orgId: ourOrg, trustedOrgId: org.orgId, createdAt: 0, actor: "test" };
      expect(store.orgTrust.insert(trust)).toEqual(trust);
      expect(await settle(token, ALLOWED)).toEqual(workers.all(ALLOWED));
      expect(store.orgTrust.delete(ourOrg, org.orgId)).toBe(true);
      expect(await settle(token, REFUSED)).toEqual(workers.all(REFUSED));
    } finally {
      void store.close();
    }
  });

  it("keeps a trust across a restart", async () => {
    const { org, token } = partners[0] ?? expect.unreachable();
    expectOk(await withAdmin((c) => c.call("trustOrg", { orgId: org.orgId }, ours)));
    expect(await settle(token, ALLOWED)).toEqual(workers.all(ALLOWED));
    workers.close();
    expect(await serve.stop()).toBe(0);
    // The development org exists now: the restart prints no credentials, ours still hold.
    ({ serve, port } = await spawnCluster(data.dir, WORKERS));
    workers = await clientsForEveryWorker(port, WORKERS);
    expect(await workers.each(answer(token))).toEqual(workers.all(ALLOWED));
    const { orgs } = expectOk(await withAdmin((c) => c.call("listTrustedOrgs", {}, ours)));
    expect(orgs.map((o) => o.orgId)).toEqual([org.orgId]);
  });
});
