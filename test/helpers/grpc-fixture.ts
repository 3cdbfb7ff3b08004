import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import type { ConfigInput } from "../../src/config/config.js";
import { createOrg, type NewOrg } from "../../src/core/bootstrap.js";
import { openStore } from "../../src/store/store.js";
import { adminHeaders, expectOk } from "./e2e.js";
import { grpcClient } from "./grpc-client.js";
import { startTestServer, type TestServer } from "./server.js";

/** grpc-js clients for every service on one address. */
export function grpcClients(address: string) {
  return {
    auth: grpcClient(AuthService, address),
    admin: grpcClient(AdminService, address),
    health: grpcClient(Health, address),
  };
}

/** A running server with an operator agent, a token for it, and a second org with its own agent. */
export interface GrpcFixture {
  readonly server: TestServer;
  readonly address: string;
  readonly c: ReturnType<typeof grpcClients>;
  /** Admin headers of the development org. */
  readonly admin: Record<string, string>;
  /** Agent "planner": verified, operator, of the development org. */
  readonly agentId: string;
  /** Planner's token: governance:propose and audit:read, 600 s. */
  readonly token: string;
  /** A second org in the same database, with one agent "theirs". */
  readonly other: NewOrg;
  readonly otherAgentId: string;
  close(): Promise<void>;
}

/** Starts the server and creates everything a GrpcFixture describes, over the gRPC port. */
export async function startGrpcFixture(overrides: ConfigInput = {}): Promise<GrpcFixture> {
  const server = await startTestServer(overrides);
  const address = `127.0.0.1:${server.grpcPort}`;
  const c = grpcClients(address);
  const close = async () => {
    for (const client of Object.values(c)) client.close();
    await server.stop();
  };
  try {
    return { server, address, c, admin: adminHeaders(server.org), ...(await populate(server, c)), close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function populate(server: TestServer, c: ReturnType<typeof grpcClients>) {
  const admin = adminHeaders(server.org);
  const created = expectOk(
    await c.admin.call(
      "createAgent",
      { name: "planner", tier: Tier.VERIFIED, roles: ["operator"], tags: ["team:core"] },
      admin,
    ),
  );
  const agentId = created.agent?.id ?? "";
  const minted = expectOk(
    await c.auth.call(
      "mintToken",
      { agentId, scopes: ["governance:propose", "audit:read"], ttl: { seconds: 600n } },
      admin,
    ),
  );
  // The server holds the database open; a second connection to the same WAL database is fine.
  const store = openStore(server.dataDir);
  let other: NewOrg;
  try {
    other = await createOrg(store, "other", new Date());
  } finally {
    void store.close();
  }
  const theirs = expectOk(await c.admin.call("createAgent", { name: "theirs" }, adminHeaders(other)));
  return { agentId, token: minted.token, other, otherAgentId: theirs.agent?.id ?? "" };
}
