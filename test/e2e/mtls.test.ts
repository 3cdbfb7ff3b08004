import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService, Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import { AuthMethod, PrincipalKind, Tier } from "../../gen/tessera/v1/types_pb.js";
import { createDevCa, type DevCa, type PemPair } from "../../src/auth/dev-certs.js";
import { adminHeaders, expectFailure, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { createOperatorToken, startTestServer, type TestServer, tempDir } from "../helpers/server.js";

const GATEWAY = "spiffe://tessera.local/gateway";

/** Writes the CA and a server pair it issued into `dir`; returns the overrides that turn on mTLS. */
async function writeMtlsFiles(ca: DevCa, dir: string) {
  const pair = await ca.issueServer();
  const files = { "ca.pem": ca.cert, "server.pem": pair.cert, "server-key.pem": pair.key };
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, name), pem);
  return {
    tlsCert: join(dir, "server.pem"),
    tlsKey: join(dir, "server-key.pem"),
    tlsClientCa: join(dir, "ca.pem"),
  };
}

describe("gRPC port with mTLS", () => {
  let tmp: ReturnType<typeof tempDir>;
  let ca: DevCa;
  let server: TestServer;
  let operator: Record<string, string>;
  const open: { close(): void }[] = [];

  /** grpc-js clients presenting `client` (or no certificate), trusting our dev CA for the server. */
  function clientsWith(client: PemPair | undefined) {
    const creds = grpc.credentials.createSsl(
      Buffer.from(ca.cert),
      client ? Buffer.from(client.key) : null,
      client ? Buffer.from(client.cert) : null,
    );
    const address = `127.0.0.1:${server.grpcPort}`;
    // The server certificate names localhost; 127.0.0.1 avoids depending on how localhost resolves.
    const options = { "grpc.ssl_target_name_override": "localhost" };
    const c = {
      auth: grpcClient(AuthService, address, creds, options),
      admin: grpcClient(AdminService, address, creds, options),
      system: grpcClient(SystemService, address, creds, options),
    };
    open.push(c.auth, c.admin, c.system);
    return c;
  }

  const attributesQuery = {
    subject: { case: "attributes" as const, value: { id: "a1", tier: Tier.VERIFIED, roles: ["operator"] } },
    scope: "governance:propose",
    resource: { kind: "tool", id: "t1" },
  };

  beforeAll(async () => {
    tmp = tempDir("tessera-mtls-");
    ca = await createDevCa();
    server = await startTestServer(await writeMtlsFiles(ca, tmp.dir));
    operator = { "x-operator-token": await createOperatorToken(server.dataDir) };
  });

  afterAll(async () => {
    for (const c of open) c.close();
    await server?.stop();
    tmp?.cleanup();
  });

  it("authenticates a SPIFFE client certificate, with no credential, as that service", async () => {
    const { auth } = clientsWith(await ca.issueClient({ commonName: "gateway", spiffeId: GATEWAY }));
    const res = expectOk(await auth.call("authenticate", {}));
    expect(res.principal).toMatchObject({
      id: GATEWAY,
      kind: PrincipalKind.SERVICE,
      authMethod: AuthMethod.MTLS,
    });
  });

  it("uses the common name of a certificate without a SPIFFE ID, as a CN (cn:NAME)", async () => {
    const { auth } = clientsWith(await ca.issueClient({ commonName: "billing-worker" }));
    const res = expectOk(await auth.call("authenticate", {}));
    expect(res.principal).toMatchObject({
      id: "cn:billing-worker",
      name: "billing-worker",
      kind: PrincipalKind.SERVICE,
      authMethod: AuthMethod.MTLS,
    });
  });

  it.each<[string, () => Promise<PemPair | undefined>]>([
    ["no client certificate", async () => undefined],
    [
      "a certificate from a foreign CA",
      async () =>
        (await createDevCa("Foreign CA")).issueClient({ commonName: "intruder", spiffeId: GATEWAY }),
    ],
    [
      "an expired certificate",
      () => ca.issueClient({ commonName: "old", spiffeId: GATEWAY, notAfter: new Date(Date.now() - 30_000) }),
    ],
  ])("fails the handshake for %s, and no handler runs", async (_name, cert) => {
    const authenticate = vi.spyOn(server.tessera.login, "authenticate");
    const adminOrg = vi.spyOn(server.tessera.admin, "adminOrg");
    try {
      const c = clientsWith(await cert());
      expectFailure(await c.auth.call("authenticate", {}), grpc.status.UNAVAILABLE, undefined);
      const admin = adminHeaders(server.org);
      expectFailure(
        await c.admin.call("createAgent", { name: "sneaky" }, admin),
        grpc.status.UNAVAILABLE,
        undefined,
      );
      expect(authenticate).not.toHaveBeenCalled();
      expect(adminOrg).not.toHaveBeenCalled();
    } finally {
      authenticate.mockRestore();
      adminOrg.mockRestore();
    }
  });

  it("authorizes for the org an identity is bound to, with no API key", async () => {
    const { auth, admin, system } = clientsWith(
      await ca.issueClient({ commonName: "gateway", spiffeId: GATEWAY }),
    );
    const namespace = { orgId: server.org.orgId, namespace: "spiffe://tessera.local/" };
    expectOk(await system.call("assignIdentityNamespace", namespace, operator));
    const bound = expectOk(
      await admin.call("bindServiceIdentity", { identity: GATEWAY }, adminHeaders(server.org)),
    );
    expect(bound).toMatchObject({ identity: GATEWAY, orgId: server.org.orgId });
    const who = expectOk(await auth.call("authenticate", {}));
    expect(who.principal?.orgId).toBe(server.org.orgId);
    const res = expectOk(await auth.call("authorize", attributesQuery));
    expect(res).toMatchObject({ decision: Decision.ALLOW, rule: "example/propose" });
  });

  it("refuses an attributes subject from an unbound identity with CALLER_UNIDENTIFIED", async () => {
    const spiffeId = "spiffe://tessera.local/stranger";
    const { auth } = clientsWith(await ca.issueClient({ commonName: "stranger", spiffeId }));
    const who = expectOk(await auth.call("authenticate", {}));
    expect(who.principal).toMatchObject({ id: spiffeId, orgId: "" });
    expectFailure(
      await auth.call("authorize", attributesQuery),
      grpc.status.UNAUTHENTICATED,
      "CALLER_UNIDENTIFIED",
    );
  });

  it("does not take a CN-only certificate named like a bound SPIFFE ID for that identity", async () => {
    const payments = "spiffe://tessera.local/payments";
    const { admin, system } = clientsWith(await ca.issueClient({ commonName: "ops", spiffeId: GATEWAY }));
    const namespace = { orgId: server.org.orgId, namespace: payments };
    expectOk(await system.call("assignIdentityNamespace", namespace, operator));
    expectOk(await admin.call("bindServiceIdentity", { identity: payments }, adminHeaders(server.org)));
    const real = clientsWith(await ca.issueClient({ commonName: "payments", spiffeId: payments }));
    expect(expectOk(await real.auth.call("authenticate", {})).principal?.orgId).toBe(server.org.orgId);
    expectOk(await real.auth.call("authorize", attributesQuery));

    // Same CA, CN=spiffe://tessera.local/payments, no URI SAN.
    const impostor = clientsWith(await ca.issueClient({ commonName: payments }));
    const who = expectOk(await impostor.auth.call("authenticate", {}));
    expect(who.principal).toMatchObject({ id: `cn:${payments}`, name: payments, orgId: "" });
    expectFailure(
      await impostor.auth.call("authorize", attributesQuery),
      grpc.status.UNAUTHENTICATED,
      "CALLER_UNIDENTIFIED",
    );
  });
});

describe("HTTPS port with a client CA", () => {
  it("takes only a certificate from that CA as an identity", async () => {
    const ca = await createDevCa();
    const tmp = tempDir("tessera-https-");
    const server = await startTestServer(await writeMtlsFiles(ca, tmp.dir));
    // HTTP/1.1: an idle HTTP/2 session on this TLS port keeps close() from ever resolving (reported).
    const authenticateAs = async (client: PemPair) => {
      const transport = createConnectTransport({
        baseUrl: `https://127.0.0.1:${server.httpPort}`,
        httpVersion: "1.1",
        nodeOptions: { ca: ca.cert, cert: client.cert, key: client.key, servername: "localhost" },
      });
      return createClient(AuthService, transport).authenticate({}, { timeoutMs: 10_000 });
    };
    try {
      const ours = await authenticateAs(await ca.issueClient({ commonName: "gw", spiffeId: GATEWAY }));
      expect(ours.principal).toMatchObject({ id: GATEWAY, authMethod: AuthMethod.MTLS });
      const foreign = await (await createDevCa("Foreign CA")).issueClient({
        commonName: "x",
        spiffeId: GATEWAY,
      });
      const err = await authenticateAs(foreign).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(Code.Unauthenticated);
      expect(err?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("CREDENTIAL_MISSING");
    } finally {
      await server.stop();
      tmp.cleanup();
    }
  });
});
