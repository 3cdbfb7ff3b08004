import { randomUUID, type webcrypto } from "node:crypto";
import { createServer, type Server } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MAX_ASSERTION_BYTES } from "../../src/auth/client-assertion.js";
import { newId } from "../../src/auth/secrets.js";
import { AgentCredentialService } from "../../src/core/agent-credentials.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { AgentCredentialRepository } from "../../src/store/agent-credentials.js";
import type { AgentRecord } from "../../src/store/agents.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";
import { b64, Clock, expectRefused, handMade, T0 } from "./token-kit.js";

type CryptoKey = webcrypto.CryptoKey;
const AUDIENCE = "https://tessera.test";
const TOLERANCE = 10;

interface Signer {
  readonly agent: AgentRecord;
  readonly key: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly kid: string;
  readonly alg: "EdDSA" | "RS256";
}

let tmp: ReturnType<typeof tempDir>;
let store: Store;
let service: AgentCredentialService;
let ed: Signer; // Ed25519 key registered as a JWK
let rsa: Signer; // RSA-2048 key registered as PEM, same agent as `ed`
let other: Signer; // another agent in the same org
const clock = new Clock();

function newAgent(orgId: string): AgentRecord {
  const agent: AgentRecord = {
    id: newId("agt"),
    orgId,
    name: newId("name"),
    tier: "verified",
    roles: [],
    tags: [],
    createdAt: T0,
  };
  store.agents.insert(agent);
  return agent;
}

async function register(agent: AgentRecord, alg: "EdDSA" | "RS256", asPem: boolean): Promise<Signer> {
  const pair = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const text = asPem ? await exportSPKI(pair.publicKey) : JSON.stringify(await exportJWK(pair.publicKey));
  const { keyId } = await service.registerKey(agent.orgId, agent.id, text);
  return { agent, key: pair.privateKey, publicKey: pair.publicKey, kid: keyId, alg };
}

/** Valid claims for `agentId` at the clock's time, with overrides (undefined removes one). */
function claims(agentId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const all = {
    iss: agentId,
    sub: agentId,
    aud: AUDIENCE,
    iat: clock.sec,
    exp: clock.sec + 60,
    jti: randomUUID(),
  };
  return Object.fromEntries(Object.entries({ ...all, ...overrides }).filter(([, v]) => v !== undefined));
}

/** An assertion signed by `s` (its alg and kid unless the header overrides say otherwise). */
function assertion(s: Signer, overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  return new SignJWT(claims(s.agent.id, overrides))
    .setProtectedHeader({ alg: s.alg, kid: s.kid, ...header } as { alg: string })
    .sign(s.key);
}

const usedCount = () =>
  (store.db.prepare("SELECT count(*) AS n FROM used_assertions").get() as { n: number }).n;

beforeAll(async () => {
  tmp = tempDir("tessera-assertions-");
  store = openStore(tmp.dir);
  const orgId = (await createOrg(store, "a", clock.now())).orgId;
  service = new AgentCredentialService({
    repo: new AgentCredentialRepository(store.db),
    liveness: { apply: async () => {} },
    maxTokenTtlSeconds: 3600,
    audience: AUDIENCE,
    clockToleranceSeconds: TOLERANCE,
    now: clock.now,
  });
  const agent = newAgent(orgId);
  ed = await register(agent, "EdDSA", false);
  rsa = await register(agent, "RS256", true);
  other = await register(newAgent(orgId), "EdDSA", true);
});
afterAll(() => {
  void store.close();
  tmp.cleanup();
});
beforeEach(() => {
  clock.sec = T0;
});

describe("valid assertions", () => {
  it.each([
    ["EdDSA", () => ed],
    ["RS256", () => rsa],
  ])("accepts %s and returns the agent", async (_, s) => {
    const login = await service.authenticateAssertion(await assertion(s()));
    expect(login.agent).toEqual(store.agents.get(ed.agent.orgId, ed.agent.id));
    // The session it starts records the key that verified it, so removing the key ends it.
    expect(login.start.credential).toBe(`key:${s().kid}`);
  });

  it("accepts no kid (the agent's keys of that alg are tried), a typ, and aud as an array", async () => {
    const noKid = await new SignJWT(claims(ed.agent.id, { aud: ["other", AUDIENCE] }))
      .setProtectedHeader({ alg: "EdDSA", typ: "JWT" })
      .sign(ed.key);
    expect((await service.authenticateAssertion(noKid)).agent.id).toBe(ed.agent.id);
  });

  it("accepts the time claims at their boundaries", async () => {
    const now = clock.sec;
    for (const o of [
      { exp: now + 300 },
      { exp: now - TOLERANCE + 1, iat: now - 100 },
      { iat: now + TOLERANCE },
      { nbf: now + TOLERANCE },
      { iat: undefined },
    ]) {
      expect((await service.authenticateAssertion(await assertion(ed, o))).agent.id).toBe(ed.agent.id);
    }
  });

  it("lets another org's agent register the same key, and each agent log in with it (finding 16)", async () => {
    const elsewhere = newAgent((await createOrg(store, "b", clock.now())).orgId);
    const publicKey = JSON.stringify(await exportJWK(ed.publicKey));
    expect((await service.registerKey(elsewhere.orgId, elsewhere.id, publicKey)).keyId).toBe(ed.kid);
    const twin: Signer = { ...ed, agent: elsewhere };
    expect((await service.authenticateAssertion(await assertion(twin))).agent).toMatchObject(elsewhere);
    expect((await service.authenticateAssertion(await assertion(ed))).agent.id).toBe(ed.agent.id);
  });

  it("keeps jti per agent: another agent may use the same one", async () => {
    const jti = randomUUID();
    await service.authenticateAssertion(await assertion(ed, { jti }));
    expect((await service.authenticateAssertion(await assertion(other, { jti }))).agent.id).toBe(
      other.agent.id,
    );
  });
});

describe("replay", () => {
  it("refuses the same assertion twice, and another assertion with a used jti", async () => {
    const jti = randomUUID();
    const jwt = await assertion(ed, { jti });
    await service.authenticateAssertion(jwt);
    await expectRefused(service.authenticateAssertion(jwt), "ASSERTION_REPLAYED");
    await expectRefused(service.authenticateAssertion(await assertion(rsa, { jti })), "ASSERTION_REPLAYED");
  });

  it("a forged or refused assertion does not burn its jti", async () => {
    const jti = randomUUID();
    const before = usedCount();
    const forged = await assertion({ ...ed, key: other.key }, { jti }); // ed's kid, other's key
    await expectRefused(service.authenticateAssertion(forged), "ASSERTION_INVALID");
    await expectRefused(
      service.authenticateAssertion(await assertion(ed, { jti, aud: "x" })),
      "ASSERTION_INVALID",
    );
    expect(usedCount()).toBe(before);
    expect((await service.authenticateAssertion(await assertion(ed, { jti }))).agent.id).toBe(ed.agent.id);
  });

  it("forgets used ids once they are long expired", async () => {
    await service.authenticateAssertion(await assertion(ed));
    clock.sec = T0 + 3600;
    await service.authenticateAssertion(await assertion(ed));
    const left = store.db
      .prepare("SELECT max(expires_at) AS hi, min(expires_at) AS lo FROM used_assertions")
      .get();
    expect(left).toEqual({ hi: T0 + 3660, lo: T0 + 3660 });
  });
});

describe("suspended agents and removed keys", () => {
  it("refuses a suspended agent's valid assertion without burning it; a forged one stays ASSERTION_INVALID", async () => {
    const s = await register(newAgent(ed.agent.orgId), "EdDSA", true);
    store.db.prepare("UPDATE agents SET suspended_at = ? WHERE id = ?").run(T0, s.agent.id);
    const jwt = await assertion(s);
    await expectRefused(service.authenticateAssertion(jwt), "AGENT_SUSPENDED");
    await expectRefused(
      service.authenticateAssertion(await assertion({ ...s, key: ed.key })),
      "ASSERTION_INVALID",
    );
    store.db.prepare("UPDATE agents SET suspended_at = NULL WHERE id = ?").run(s.agent.id);
    expect((await service.authenticateAssertion(jwt)).agent.id).toBe(s.agent.id);
  });

  it("refuses an assertion signed with a removed key", async () => {
    const s = await register(newAgent(ed.agent.orgId), "EdDSA", false);
    await service.removeKey(s.agent.orgId, s.agent.id, s.kid);
    await expectRefused(service.authenticateAssertion(await assertion(s)), "ASSERTION_INVALID");
    await expectRefused(
      service.authenticateAssertion(await assertion(s, {}, { kid: undefined })),
      "ASSERTION_INVALID",
    );
  });
});

describe("refusals", () => {
  const now = () => clock.sec;
  it.each([
    ["exp more than 5 minutes ahead", { exp: () => now() + 301 }],
    ["exp an hour ahead", { exp: () => now() + 3600 }],
    ["expired", { exp: () => now() - TOLERANCE }],
    ["no exp", { exp: () => undefined }],
    ["exp as a string", { exp: () => String(now() + 60) }],
    ["nbf in the future", { nbf: () => now() + TOLERANCE + 1 }],
    ["iat in the future", { iat: () => now() + TOLERANCE + 1 }],
    ["wrong aud", { aud: () => "https://elsewhere.test" }],
    ["no aud", { aud: () => undefined }],
    ["iss ≠ sub", { sub: () => other.agent.id }],
    ["no iss", { iss: () => undefined }],
    ["no sub", { sub: () => undefined }],
    ["unknown agent", { iss: () => "agt_nobody", sub: () => "agt_nobody" }],
    ["no jti", { jti: () => undefined }],
    ["empty jti", { jti: () => "" }],
    ["a 129-character jti", { jti: () => "j".repeat(129) }],
    ["a numeric jti", { jti: () => 42 }],
  ] as [string, Record<string, () => unknown>][])("%s", async (_, make) => {
    const overrides = Object.fromEntries(Object.entries(make).map(([k, f]) => [k, f()]));
    await expectRefused(service.authenticateAssertion(await assertion(ed, overrides)), "ASSERTION_INVALID");
  });

  it.each([
    ["an unknown kid", () => assertion(ed, {}, { kid: "no-such-key" })],
    ["a kid with SQL in it", () => assertion(ed, {}, { kid: "' OR 1=1 --" })],
    ["another agent's kid", () => assertion({ ...ed, key: other.key }, {}, { kid: other.kid })],
    ["another agent's key, no kid", () => assertion({ ...ed, key: other.key }, {}, { kid: undefined })],
    ["RS256 under an EdDSA key's kid (alg pinned per key)", () => assertion({ ...rsa, kid: ed.kid })],
    ["typ that is not a string", () => assertion(ed, {}, { typ: 1 })],
  ])("refuses %s", async (_, make) => {
    await expectRefused(service.authenticateAssertion(await make()), "ASSERTION_INVALID");
  });

  it.each(["none", "None", "NONE"])("refuses alg %s", async (alg) => {
    const body = `${b64(JSON.stringify({ alg }))}.${b64(JSON.stringify(claims(ed.agent.id)))}`;
    for (const sig of ["", b64("x")]) {
      await expectRefused(service.authenticateAssertion(`${body}.${sig}`), "ASSERTION_INVALID");
    }
  });

  it("refuses HS256 keyed with the registered public key's bytes", async () => {
    for (const s of [ed, rsa]) {
      for (const secret of [await exportSPKI(s.publicKey), JSON.stringify(await exportJWK(s.publicKey))]) {
        const jwt = await new SignJWT(claims(s.agent.id))
          .setProtectedHeader({ alg: "HS256", kid: s.kid })
          .sign(new TextEncoder().encode(secret));
        await expectRefused(service.authenticateAssertion(jwt), "ASSERTION_INVALID");
      }
    }
  });

  it.each([
    ["jku", "http://127.0.0.1:1/jwks"],
    ["x5u", "http://127.0.0.1:1/cert"],
    ["jwk", { kty: "OKP", crv: "Ed25519", x: "AAAA" }],
    ["x5c", ["MIIB"]],
    ["crit", ["exp"]],
    ["b64", false],
    ["zip", "DEF"],
  ])("refuses header parameter %s", async (name, value) => {
    const header = { alg: "EdDSA", kid: ed.kid, [name]: value };
    const jwt = await handMade(header, claims(ed.agent.id), ed.key);
    await expectRefused(service.authenticateAssertion(jwt), "ASSERTION_INVALID");
  });

  it("never connects to a jku or x5u", async () => {
    let connections = 0;
    const server: Server = createServer((sock) => {
      connections++;
      sock.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    try {
      for (const name of ["jku", "x5u"]) {
        const jwt = await handMade(
          { alg: "EdDSA", [name]: `http://127.0.0.1:${port}/keys` },
          claims(ed.agent.id),
          ed.key,
        );
        await expectRefused(service.authenticateAssertion(jwt), "ASSERTION_INVALID");
      }
      await new Promise((r) => setTimeout(r, 50));
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  it("refuses duplicate keys in the claims or the header", async () => {
    const c = JSON.stringify(claims(ed.agent.id));
    const dupClaims = c.replace("{", `{"sub":"${other.agent.id}",`);
    const dupHeader = `{"alg":"EdDSA","kid":"${ed.kid}","kid":"${other.kid}"}`;
    for (const [h, p] of [
      [{ alg: "EdDSA", kid: ed.kid }, dupClaims],
      [dupHeader, c],
    ] as const) {
      await expectRefused(service.authenticateAssertion(await handMade(h, p, ed.key)), "ASSERTION_INVALID");
    }
    expect(
      (await service.authenticateAssertion(await handMade({ alg: "EdDSA", kid: ed.kid }, c, ed.key))).agent
        .id,
    ).toBe(ed.agent.id);
  });

  it("refuses bad encodings and shapes", async () => {
    const jwt = await assertion(ed);
    const [h, p, s] = jwt.split(".") as [string, string, string];
    for (const bad of [
      "",
      `${h}.${p}`,
      `${jwt}.`,
      `${h}.${p}.${s}=`,
      `${h}.${p}.${s.slice(0, -1)}`,
      `${h}=.${p}.${s}`,
      `${h}.${p}.${s.replace(/.$/, (c) => (c === "A" ? "B" : "A"))}`,
      `${b64("[]")}.${p}.${s}`,
      `${h}.${b64("null")}.${s}`,
      `${h}.${b64("not json")}.${s}`,
    ]) {
      await expectRefused(service.authenticateAssertion(bad), "ASSERTION_INVALID");
    }
  });

  it("refuses a signature whose unused base64url bits are set (one assertion, one spelling)", async () => {
    const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const jwt = await assertion(ed);
    const i = ALPHABET.indexOf(jwt.at(-1) as string);
    // 64 signature bytes leave 4 spare bits in the last character: same bytes, other text.
    const twin = jwt.slice(0, -1) + ALPHABET[(i & ~0xf) | ((i + 1) & 0xf)];
    expect(Buffer.from(twin.split(".")[2] as string, "base64url")).toEqual(
      Buffer.from(jwt.split(".")[2] as string, "base64url"),
    );
    await expectRefused(service.authenticateAssertion(twin), "ASSERTION_INVALID");
    expect((await service.authenticateAssertion(jwt)).agent.id).toBe(ed.agent.id);
  });

  it("refuses an assertion over 8 KiB, and that does not burn its jti", async () => {
    const jti = randomUUID();
    const big = await assertion(ed, { jti, pad: "x".repeat(MAX_ASSERTION_BYTES) });
    expect(big.length).toBeGreaterThan(9 * 1024);
    await expectRefused(service.authenticateAssertion(big), "ASSERTION_INVALID");
    await expectRefused(service.authenticateAssertion("é".repeat(4097)), "ASSERTION_INVALID");
    expect((await service.authenticateAssertion(await assertion(ed, { jti }))).agent.id).toBe(ed.agent.id);
  });
});
