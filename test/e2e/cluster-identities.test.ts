import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { createDevCa, type DevCa, type PemPair } from "../../src/auth/dev-certs.js";
import { cliEnv, runTessera, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";
import { clientsForEveryWorker, untilEveryWorker, type WorkerClients } from "../helpers/workers.js";

const GATEWAY = "spiffe://tessera.local/gateway";

describe("serve --workers 2 with mTLS: identity changes reach every worker", () => {
  const data = tempDir();
  let ca: DevCa;
  let gateway: PemPair;
  let serve: ServeProcess;
  let port = 0;
  let admin: Record<string, string>;
  let operator: Record<string, string>;
  const env = () => cliEnv(data.dir);
  /** A connection to each worker, so every worker is asked, not whichever the kernel picks. */
  let workers: WorkerClients;

  /** Clients presenting the gateway certificate, each on a connection of its own (so the cluster may hand it to either worker). */
  const fresh = {
    creds: () =>
      grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(gateway.key), Buffer.from(gateway.cert)),
    options: { "grpc.ssl_target_name_override": "localhost", "grpc.use_local_subchannel_pool": 1 },
    auth: () => grpcClient(AuthService, `127.0.0.1:${port}`, fresh.creds(), fresh.options),
    admin: () => grpcClient(AdminService, `127.0.0.1:${port}`, fresh.creds(), fresh.options),
    system: () => grpcClient(SystemService, `127.0.0.1:${port}`, fresh.creds(), fresh.options),
  };

  beforeAll(async () => {
    ca = await createDevCa();
    gateway = await ca.issueClient({ commonName: "gateway", spiffeId: GATEWAY });
    const server = await ca.issueServer();
    const files = { "ca.pem": ca.cert, "server.pem": server.cert, "server-key.pem": server.key };
    for (const [name, pem] of Object.entries(files)) writeFileSync(join(data.dir, name), pem);
    // The operator token is made on the data directory before the server starts, as a user would.
    const made = await runTessera(["operator", "token", "create", "--data-dir", data.dir, "--json"], env());
    expect(made.code, made.stderr).toBe(0);
    operator = { "x-operator-token": (JSON.parse(made.stdout) as { operatorToken: string }).operatorToken };
    serve = spawnServe(
      [
        ...["--data-dir", data.dir, "--grpc-port", "0", "--http-port", "0", "--workers", "2"],
        ...["--tls-cert", join(data.dir, "server.pem"), "--tls-key", join(data.dir, "server-key.pem")],
        ...["--tls-client-ca", join(data.dir, "ca.pem")],
      ],
      env(),
    );
    const ready = await serve.ready;
    port = ready.grpcPort;
    admin = {
      "x-api-key": ready.exports.TESSERA_API_KEY ?? "",
      "x-admin-token": ready.exports.TESSERA_ADMIN_TOKEN ?? "",
    };
    workers = await clientsForEveryWorker(port, 2, { make: fresh.auth });
  });
  afterAll(async () => {
    workers?.close();
    expect(await serve?.stop()).toBe(0);
    data.cleanup();
  });

  /** One call on a fresh connection, closed afterwards. */
  async function once<C extends { close(): void }, R>(make: () => C, call: (c: C) => Promise<R>): Promise<R> {
    const c = make();
    try {
      return await call(c);
    } finally {
      c.close();
    }
  }

  /** What Authorize (attributes subject, no API key: the org comes from the mTLS identity) answers on a worker. */
  async function answer(c: ReturnType<typeof fresh.auth>): Promise<string> {
    const query = {
      subject: { case: "attributes" as const, value: { id: "a", tier: Tier.VERIFIED, roles: ["viewer"] } },
      scope: "governance:read",
    };
    const r = await c.call("authorize", query);
    return r.ok ? r.value.reason : `${grpc.status[r.error.code]} ${r.error.reason}`;
  }

  it("a binding made through one worker holds on every worker; unassigning through another removes it everywhere", async () => {
    const [first = 0, second = 0] = workers.ids;
    const gone = "UNAUTHENTICATED CALLER_UNIDENTIFIED";
    expect(await workers.each(answer)).toEqual(workers.all(gone));
    const orgs = expectOk(await once(fresh.system, (c) => c.call("listOrgs", {}, operator))).orgs;
    const namespace = { namespace: "spiffe://tessera.local/", orgId: orgs[0]?.id ?? "" };
    expectOk(await once(fresh.system, (c) => c.call("assignIdentityNamespace", namespace, operator)));
    const bind = { identity: GATEWAY };
    expectOk(await workers.on(AdminService, first).call("bindServiceIdentity", bind, admin));
    expect(await untilEveryWorker(workers, answer, "ALLOWED_BY_RULE")).toEqual(
      workers.all("ALLOWED_BY_RULE"),
    );

    const res = expectOk(
      await workers
        .on(SystemService, second)
        .call("unassignIdentityNamespace", { namespace: namespace.namespace }, operator),
    );
    expect(res.removed.map((r) => r.identity)).toEqual([GATEWAY]);
    expect(await untilEveryWorker(workers, answer, gone)).toEqual(workers.all(gone));
  });

  it("limits signing-key rotation to one a minute for the whole server, not per worker", async () => {
    const [first = 0] = workers.ids;
    expectOk(await workers.on(SystemService, first).call("rotateSigningKeys", {}, operator));
    // Twice on every worker, the one that rotated and the others.
    const again = await workers.each(async (_c, id) => {
      const system = workers.on(SystemService, id);
      const tries = [await system.call("rotateSigningKeys", {}, operator)];
      tries.push(await system.call("rotateSigningKeys", {}, operator));
      return tries.map((r) => (r.ok ? "OK" : `${grpc.status[r.error.code]} ${r.error.reason}`));
    });
    const limited = "RESOURCE_EXHAUSTED OPERATOR_RATE_LIMITED";
    expect(again).toEqual(workers.all([limited, limited]));
  });
});
