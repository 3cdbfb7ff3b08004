import { type Client, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import { createOrg, EXAMPLE_POLICY, type NewOrg } from "../../src/core/bootstrap.js";
import type { CoreSettings } from "../../src/core/settings.js";
import { issueOperatorToken } from "../../src/core/system.js";
import { buildTessera, type Tessera } from "../../src/core/tessera.js";
import type { PeerIdentity } from "../../src/domain/principal.js";
import { openStore, type Store } from "../../src/store/store.js";
import { addConnectService, peerKey, remoteKey } from "../../src/transport/connect-adapter.js";
import { serviceBindings } from "../../src/transport/servers.js";
import { tempDir } from "./server.js";

export const TEST_SETTINGS: CoreSettings = {
  issuer: "tessera",
  audience: "tessera",
  defaultTokenTtlSeconds: 900,
  maxTokenTtlSeconds: 3600,
  clockToleranceSeconds: 10,
  refreshTokenTtlSeconds: 7 * 86400,
  maxDelegationDepth: 3,
  signingAlg: "EdDSA",
  keyRotationIntervalSeconds: 0,
  // Any hash will do here; test/unit/passwords.test.ts covers the default cost.
  passwordHashCost: { N: 1024, r: 8, p: 1 },
};

/** The whole core behind an in-memory Connect transport, over a real SQLite file. */
export interface InMemoryTessera {
  readonly tessera: Tessera;
  readonly store: Store;
  readonly org: NewOrg;
  readonly auth: Client<typeof AuthService>;
  readonly admin: Client<typeof AdminService>;
  readonly system: Client<typeof SystemService>;
  /** Headers of the org's admin pair. */
  readonly adminHeaders: Record<string, string>;
  /** Headers carrying an operator token (x-operator-token) made on the store. */
  readonly operatorHeaders: Record<string, string>;
  /** Clients whose calls carry the given mTLS peer identity. */
  asPeer(peer: PeerIdentity): { auth: Client<typeof AuthService>; admin: Client<typeof AdminService> };
  /** Clients whose calls come from the given network address (CallContext.remote()). */
  fromAddress(remote: string): { auth: Client<typeof AuthService>; admin: Client<typeof AdminService> };
  close(): void;
}

export async function inMemoryTessera(now: () => Date = () => new Date()): Promise<InMemoryTessera> {
  const tmp = tempDir();
  const store = openStore(tmp.dir);
  const tessera = await buildTessera(store, TEST_SETTINGS, now);
  const org = await createOrg(store, "test", now());
  tessera.policies.putTrusted(org.orgId, EXAMPLE_POLICY, "example.yaml");
  const transportFor = (peer?: PeerIdentity, remote?: string) => {
    const setPeer: Interceptor = (next) => (req) => {
      if (peer) req.contextValues.set(peerKey, peer);
      if (remote) req.contextValues.set(remoteKey, remote);
      return next(req);
    };
    return createRouterTransport(
      (router) => {
        for (const b of serviceBindings(tessera)) addConnectService(router, b);
      },
      { router: { interceptors: [setPeer] } },
    );
  };
  const t = transportFor();
  return {
    tessera,
    store,
    org,
    auth: createClient(AuthService, t),
    admin: createClient(AdminService, t),
    system: createClient(SystemService, t),
    adminHeaders: { "x-api-key": org.apiKey, "x-admin-token": org.adminToken },
    operatorHeaders: { "x-operator-token": (await issueOperatorToken(store.operators, "test", now())).token },
    asPeer(peer) {
      const pt = transportFor(peer);
      return { auth: createClient(AuthService, pt), admin: createClient(AdminService, pt) };
    },
    fromAddress(remote) {
      const rt = transportFor(undefined, remote);
      return { auth: createClient(AuthService, rt), admin: createClient(AdminService, rt) };
    },
    close() {
      void store.close();
      tmp.cleanup();
    },
  };
}
