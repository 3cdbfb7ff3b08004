import { type Client, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { createOrg, EXAMPLE_POLICY, type NewOrg } from "../../src/core/bootstrap.js";
import type { CoreSettings } from "../../src/core/settings.js";
import { buildTessera, type Tessera } from "../../src/core/tessera.js";
import type { PeerIdentity } from "../../src/domain/principal.js";
import { openStore, type Store } from "../../src/store/store.js";
import { addConnectService, peerKey } from "../../src/transport/connect-adapter.js";
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
};

/** The whole core behind an in-memory Connect transport, over a real SQLite file. */
export interface InMemoryTessera {
  readonly tessera: Tessera;
  readonly store: Store;
  readonly org: NewOrg;
  readonly auth: Client<typeof AuthService>;
  readonly admin: Client<typeof AdminService>;
  /** Headers of the org's admin pair. */
  readonly adminHeaders: Record<string, string>;
  /** Clients whose calls carry the given mTLS peer identity. */
  asPeer(peer: PeerIdentity): { auth: Client<typeof AuthService>; admin: Client<typeof AdminService> };
  close(): void;
}

export async function inMemoryTessera(now: () => Date = () => new Date()): Promise<InMemoryTessera> {
  const tmp = tempDir();
  const store = openStore(tmp.dir);
  const tessera = await buildTessera(store, TEST_SETTINGS, now);
  const org = createOrg(store, "test", now());
  tessera.policies.putTrusted(org.orgId, EXAMPLE_POLICY, "example.yaml");
  const transportFor = (peer?: PeerIdentity) => {
    const setPeer: Interceptor = (next) => (req) => {
      if (peer) req.contextValues.set(peerKey, peer);
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
    adminHeaders: { "x-api-key": org.apiKey, "x-admin-token": org.adminToken },
    asPeer(peer) {
      const pt = transportFor(peer);
      return { auth: createClient(AuthService, pt), admin: createClient(AdminService, pt) };
    },
    close() {
      store.close();
      tmp.cleanup();
    },
  };
}
