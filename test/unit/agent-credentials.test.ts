import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecret, newId, secretDigest } from "../../src/auth/secrets.js";
import { AgentCredentialService } from "../../src/core/agent-credentials.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { type ErrorReason, TesseraError } from "../../src/domain/errors.js";
import { AgentCredentialRepository } from "../../src/store/agent-credentials.js";
import type { AgentRecord } from "../../src/store/agents.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";
import { Clock, T0 } from "./token-kit.js";

let tmp: ReturnType<typeof tempDir>;
let store: Store;
let service: AgentCredentialService;
let orgA: string;
let orgB: string;
const clock = new Clock();

function newAgent(orgId: string, name = newId("name")): AgentRecord {
  const agent: AgentRecord = {
    id: newId("agt"),
    orgId,
    name,
    tier: "verified",
    roles: ["operator"],
    tags: ["team=unit"],
    createdAt: T0,
  };
  expect(store.agents.insert(agent)).toBe(true);
  return agent;
}

/** The reason `fn` is refused with; fails when it returns or throws something else. */
async function reasonOf(fn: () => unknown): Promise<ErrorReason> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    return (err as TesseraError).reason;
  }
  throw new Error("expected a TesseraError, but nothing was thrown");
}

const keyCount = () => (store.db.prepare("SELECT count(*) AS n FROM agent_keys").get() as { n: number }).n;
const pem = (k: KeyObject) => k.export({ format: "pem", type: "spki" }) as string;
const jwkText = (k: KeyObject) => JSON.stringify(k.export({ format: "jwk" }));

beforeAll(async () => {
  tmp = tempDir("tessera-agent-creds-");
  store = openStore(tmp.dir);
  orgA = (await createOrg(store, "a", clock.now())).orgId;
  orgB = (await createOrg(store, "b", clock.now())).orgId;
  service = new AgentCredentialService({
    repo: new AgentCredentialRepository(store.db),
    liveness: { apply: async () => {} },
    maxTokenTtlSeconds: 3600,
    audience: "tessera",
    clockToleranceSeconds: 10,
    now: clock.now,
  });
});
afterAll(() => {
  void store.close();
  tmp.cleanup();
});

describe("agent secrets", () => {
  it("creates a tas_ secret, stores only its digest and authenticates with it", async () => {
    const agent = newAgent(orgA);
    const secret = await service.createSecret(orgA, agent.id);
    expect(secret).toMatch(/^tas_[0-9A-Za-z]{46}$/);
    const row = store.db.prepare("SELECT secret_digest FROM agents WHERE id = ?").get(agent.id) as {
      secret_digest: Buffer;
    };
    expect(row.secret_digest.equals(secretDigest(secret))).toBe(true);
    expect((await service.authenticateSecret(agent.id, secret)).agent).toEqual(
      store.agents.get(agent.orgId, agent.id),
    );
  });

  it("rotating kills the old secret", async () => {
    const agent = newAgent(orgA);
    const old = await service.createSecret(orgA, agent.id);
    const fresh = await service.createSecret(orgA, agent.id);
    expect(await reasonOf(() => service.authenticateSecret(agent.id, old))).toBe("AGENT_SECRET_INVALID");
    expect((await service.authenticateSecret(agent.id, fresh)).agent.id).toBe(agent.id);
  });

  it("refuses malformed, wrong and unknown alike with AGENT_SECRET_INVALID", async () => {
    const agent = newAgent(orgA);
    const secret = await service.createSecret(orgA, agent.id);
    const noSecret = newAgent(orgA);
    const flipped = secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
    const cases: [string, string][] = [
      [agent.id, ""],
      [agent.id, flipped],
      [agent.id, `tsk_${secret.slice(4)}`],
      [agent.id, generateSecret("apiKey")],
      [agent.id, generateSecret("agentSecret")],
      [noSecret.id, generateSecret("agentSecret")],
      [newId("agt"), secret],
      ["", secret],
    ];
    for (const [id, s] of cases) {
      expect(await reasonOf(() => service.authenticateSecret(id, s))).toBe("AGENT_SECRET_INVALID");
    }
  });

  it("refuses a malformed secret before any lookup", async () => {
    const other = tempDir("tessera-agent-creds-closed-");
    const closed = openStore(other.dir);
    const svc = new AgentCredentialService({
      repo: new AgentCredentialRepository(closed.db),
      liveness: { apply: async () => {} },
      maxTokenTtlSeconds: 3600,
      audience: "x",
      clockToleranceSeconds: 0,
      now: clock.now,
    });
    closed.close(); // any database access would now throw a non-Tessera error
    try {
      expect(await reasonOf(() => svc.authenticateSecret("agt_x", "tas_short"))).toBe("AGENT_SECRET_INVALID");
    } finally {
      other.cleanup();
    }
  });

  it("refuses a suspended agent with AGENT_SUSPENDED, but only to someone holding its secret", async () => {
    const agent = newAgent(orgA);
    const secret = await service.createSecret(orgA, agent.id);
    store.db.prepare("UPDATE agents SET suspended_at = ? WHERE id = ?").run(T0, agent.id);
    expect(await reasonOf(() => service.authenticateSecret(agent.id, secret))).toBe("AGENT_SUSPENDED");
    const wrong = generateSecret("agentSecret");
    expect(await reasonOf(() => service.authenticateSecret(agent.id, wrong))).toBe("AGENT_SECRET_INVALID");
    store.db.prepare("UPDATE agents SET suspended_at = NULL WHERE id = ?").run(agent.id);
    expect((await service.authenticateSecret(agent.id, secret)).agent.id).toBe(agent.id);
  });

  it("does not find another org's agent, and writes nothing for it", async () => {
    const agent = newAgent(orgA);
    const secret = await service.createSecret(orgA, agent.id);
    expect(await reasonOf(() => service.createSecret(orgB, agent.id))).toBe("AGENT_NOT_FOUND");
    expect(await reasonOf(() => service.createSecret(orgA, newId("agt")))).toBe("AGENT_NOT_FOUND");
    expect((await service.authenticateSecret(agent.id, secret)).agent.id).toBe(agent.id);
  });
});

describe("registering public keys", () => {
  const ed = generateKeyPairSync("ed25519");
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });

  it.each([
    ["Ed25519 PEM", () => pem(ed.publicKey), ed.publicKey, "EdDSA"],
    ["Ed25519 JWK", () => jwkText(ed.publicKey), ed.publicKey, "EdDSA"],
    ["RSA-2048 PEM", () => pem(rsa.publicKey), rsa.publicKey, "RS256"],
    ["RSA-2048 JWK", () => jwkText(rsa.publicKey), rsa.publicKey, "RS256"],
  ] as const)("accepts %s, keyed by its RFC 7638 thumbprint", async (_, text, key, alg) => {
    const agent = newAgent(orgA);
    const out = await service.registerKey(orgA, agent.id, text());
    const jwk = key.export({ format: "jwk" });
    expect(out).toEqual({ keyId: await calculateJwkThumbprint(jwk), alg });
    const row = store.db.prepare("SELECT * FROM agent_keys WHERE id = ?").get(out.keyId) as Record<
      string,
      unknown
    >;
    expect(row).toMatchObject({ agent_id: agent.id, alg, created_at: T0 });
    expect(JSON.parse(row.public_jwk as string)).toEqual(jwk);
    await service.removeKey(orgA, agent.id, out.keyId); // the next case registers the same key
  });

  it("stores only the public members of a JWK, whatever else it carries", async () => {
    const agent = newAgent(orgA);
    const k = generateKeyPairSync("ed25519").publicKey;
    const text = JSON.stringify({ ...k.export({ format: "jwk" }), alg: "HS256", use: "enc", kid: "../x" });
    const { keyId } = await service.registerKey(orgA, agent.id, text);
    const row = store.db.prepare("SELECT public_jwk FROM agent_keys WHERE id = ?").get(keyId) as {
      public_jwk: string;
    };
    expect(JSON.parse(row.public_jwk)).toEqual(k.export({ format: "jwk" }));
  });

  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const refusals: [string, () => string, ErrorReason][] = [
    ["RSA-1024", () => pem(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey), "PUBLIC_KEY_WEAK"],
    [
      "RSA-1024 JWK",
      () => jwkText(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey),
      "PUBLIC_KEY_WEAK",
    ],
    ["EC P-256 PEM", () => pem(ec.publicKey), "PUBLIC_KEY_INVALID"],
    ["EC P-256 JWK", () => jwkText(ec.publicKey), "PUBLIC_KEY_INVALID"],
    ["X25519", () => pem(generateKeyPairSync("x25519").publicKey), "PUBLIC_KEY_INVALID"],
    [
      "RSA-PSS",
      () => pem(generateKeyPairSync("rsa-pss", { modulusLength: 2048 }).publicKey),
      "PUBLIC_KEY_INVALID",
    ],
    ["a private JWK", () => JSON.stringify(ed.privateKey.export({ format: "jwk" })), "PUBLIC_KEY_INVALID"],
    [
      "a private RSA JWK",
      () => JSON.stringify(rsa.privateKey.export({ format: "jwk" })),
      "PUBLIC_KEY_INVALID",
    ],
    [
      "a private PEM",
      () => ed.privateKey.export({ format: "pem", type: "pkcs8" }) as string,
      "PUBLIC_KEY_INVALID",
    ],
    ["a symmetric JWK", () => '{"kty":"oct","k":"c2VjcmV0"}', "PUBLIC_KEY_INVALID"],
    [
      "a JWK with a repeated member",
      () => jwkText(ed.publicKey).replace("{", '{"x":"AAAA",'),
      "PUBLIC_KEY_INVALID",
    ],
    [
      "a PKCS#1 PEM",
      () => rsa.publicKey.export({ format: "pem", type: "pkcs1" }) as string,
      "PUBLIC_KEY_INVALID",
    ],
    [
      "a truncated PEM body",
      () => pem(ed.publicKey).replace(/.{8}\n-----END/, "\n-----END"),
      "PUBLIC_KEY_INVALID",
    ],
    ["garbage", () => "not a key", "PUBLIC_KEY_INVALID"],
    ["empty", () => "", "PUBLIC_KEY_INVALID"],
    ["an empty JWK", () => "{}", "PUBLIC_KEY_INVALID"],
    ["a JSON array", () => "[1]", "PUBLIC_KEY_INVALID"],
    ["broken JSON", () => '{"kty":', "PUBLIC_KEY_INVALID"],
    ["a huge input", () => "A".repeat(100_000), "PUBLIC_KEY_INVALID"],
  ];
  it.each(refusals)("refuses %s and writes nothing", async (_, text, reason) => {
    const agent = newAgent(orgA);
    const before = keyCount();
    expect(await reasonOf(() => service.registerKey(orgA, agent.id, text()))).toBe(reason);
    expect(keyCount()).toBe(before);
  });

  it("lets two orgs register the same key for their own agents, each org once (finding 16)", async () => {
    const k = pem(generateKeyPairSync("ed25519").publicKey);
    const [a, b] = [newAgent(orgA), newAgent(orgB)];
    const first = await service.registerKey(orgB, b.id, k); // the other org registers it first
    expect(await service.registerKey(orgA, a.id, k)).toEqual(first);
    const before = keyCount();
    expect(await reasonOf(() => service.registerKey(orgA, a.id, k))).toBe("AGENT_KEY_EXISTS");
    expect(await reasonOf(() => service.registerKey(orgA, newAgent(orgA).id, k))).toBe("AGENT_KEY_EXISTS");
    expect(await reasonOf(() => service.registerKey(orgB, b.id, k))).toBe("AGENT_KEY_EXISTS");
    expect(keyCount()).toBe(before);
    // Removing it from one org leaves the other's.
    await service.removeKey(orgA, a.id, first.keyId);
    const rows = store.db.prepare("SELECT org_id, agent_id FROM agent_keys WHERE id = ?").all(first.keyId);
    expect(rows).toEqual([{ org_id: orgB, agent_id: b.id }]);
  });

  it("refuses the same key twice (in either form) with AGENT_KEY_EXISTS", async () => {
    const agent = newAgent(orgA);
    const k = generateKeyPairSync("ed25519").publicKey;
    await service.registerKey(orgA, agent.id, pem(k));
    const before = keyCount();
    expect(await reasonOf(() => service.registerKey(orgA, agent.id, pem(k)))).toBe("AGENT_KEY_EXISTS");
    expect(await reasonOf(() => service.registerKey(orgA, agent.id, jwkText(k)))).toBe("AGENT_KEY_EXISTS");
    // Key ids are unique across an org's agents: one key speaks for one agent of the org.
    expect(await reasonOf(() => service.registerKey(orgA, newAgent(orgA).id, pem(k)))).toBe(
      "AGENT_KEY_EXISTS",
    );
    expect(keyCount()).toBe(before);
  });

  it("does not find another org's agent", async () => {
    const agent = newAgent(orgA);
    const before = keyCount();
    const k = pem(generateKeyPairSync("ed25519").publicKey);
    expect(await reasonOf(() => service.registerKey(orgB, agent.id, k))).toBe("AGENT_NOT_FOUND");
    expect(await reasonOf(() => service.registerKey(orgA, newId("agt"), k))).toBe("AGENT_NOT_FOUND");
    expect(keyCount()).toBe(before);
  });
});

describe("removing public keys", () => {
  it("removes a key once; then AGENT_KEY_NOT_FOUND", async () => {
    const agent = newAgent(orgA);
    const { keyId } = await service.registerKey(
      orgA,
      agent.id,
      pem(generateKeyPairSync("ed25519").publicKey),
    );
    await service.removeKey(orgA, agent.id, keyId);
    expect(store.db.prepare("SELECT 1 FROM agent_keys WHERE id = ?").get(keyId)).toBeUndefined();
    expect(await reasonOf(() => service.removeKey(orgA, agent.id, keyId))).toBe("AGENT_KEY_NOT_FOUND");
  });

  it("cannot remove another agent's key, nor reach another org's agent", async () => {
    const owner = newAgent(orgA);
    const other = newAgent(orgA);
    const { keyId } = await service.registerKey(
      orgA,
      owner.id,
      pem(generateKeyPairSync("ed25519").publicKey),
    );
    expect(await reasonOf(() => service.removeKey(orgA, other.id, keyId))).toBe("AGENT_KEY_NOT_FOUND");
    expect(await reasonOf(() => service.removeKey(orgB, owner.id, keyId))).toBe("AGENT_NOT_FOUND");
    expect(store.db.prepare("SELECT agent_id FROM agent_keys WHERE id = ?").get(keyId)).toEqual({
      agent_id: owner.id,
    });
  });
});
