import { randomBytes } from "node:crypto";
import { decodeProtectedHeader } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { KeyRing, type KeyRingOptions } from "../../src/auth/key-ring.js";
import { MasterKeyError } from "../../src/auth/master-key.js";
import { TokenSigner } from "../../src/auth/token-signer.js";
import { TokenVerifier } from "../../src/auth/token-verifier.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";
import { AUDIENCE, Clock, CONTENT, expectRefused, ISSUER, T0, TOLERANCE } from "./token-kit.js";

const TTL = 3600;
const RETIRE = TTL + TOLERANCE;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A data directory; each `store()` is another connection to it, like another process. */
function dataDir(): { store: () => Store } {
  const tmp = tempDir("tessera-keys-");
  cleanups.push(tmp.cleanup);
  return {
    store() {
      const s = openStore(tmp.dir);
      cleanups.push(() => s.close());
      return s;
    },
  };
}

function open(store: Store, clock: Clock, o: Partial<KeyRingOptions> = {}): Promise<KeyRing> {
  return KeyRing.open(store.signingKeys, {
    now: clock.now,
    alg: "EdDSA",
    retireAfterSeconds: RETIRE,
    rotationIntervalSeconds: 0,
    ...o,
  });
}

const verifier = (ring: KeyRing, clock: Clock) =>
  new TokenVerifier(ring, {
    issuer: ISSUER,
    audience: AUDIENCE,
    clockToleranceSeconds: TOLERANCE,
    now: clock.now,
  });

async function sign(ring: KeyRing, clock: Clock): Promise<string> {
  return (await new TokenSigner(ring, ISSUER).sign(CONTENT, clock.sec, TTL)).token;
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const stateOf = async (ring: KeyRing, state: string) => (await ring.list()).filter((k) => k.state === state);
const rows = (store: Store) =>
  store.db
    .prepare<[], { kid: string; state: string; private_jwk: string }>("SELECT * FROM signing_keys")
    .all();

describe("opening the key ring", () => {
  it("creates an active and a next key, both published; only the active one signs", async () => {
    const clock = new Clock();
    const ring = await open(dataDir().store(), clock);
    const [active] = await stateOf(ring, "active");
    const [next] = await stateOf(ring, "next");
    expect(await ring.list()).toHaveLength(2);
    expect(active).toMatchObject({ alg: "EdDSA", createdAt: T0 });
    expect(
      ring
        .jwks()
        .map((k) => k.kid)
        .sort(),
    ).toEqual([active?.kid, next?.kid].sort());
    for (const k of ring.jwks()) expect(k).toMatchObject({ alg: "EdDSA", use: "sig" });
    expect(ring.jwks().some((k) => "d" in k)).toBe(false);
    expect(ring.signingKey().kid).toBe(active?.kid);
    expect(kidOf(await sign(ring, clock))).toBe(active?.kid);
    expect(ring.find(next?.kid ?? "")?.kid).toBe(next?.kid);
  });

  it("reopening keeps the same keys", async () => {
    const dir = dataDir();
    const clock = new Clock();
    const first = await open(dir.store(), clock);
    const again = await open(dir.store(), clock);
    expect(await again.list()).toEqual(await first.list());
  });

  it("two processes opening an empty database at once create one active key", async () => {
    const dir = dataDir();
    const clock = new Clock();
    const stores = [dir.store(), dir.store(), dir.store()];
    const rings = await Promise.all(stores.map((s) => open(s, clock)));
    const states = rows(stores[0] as Store)
      .map((r) => r.state)
      .sort();
    expect(states).toEqual(["active", "next"]);
    expect(new Set(rings.map((r) => r.signingKey().kid)).size).toBe(1);
  });
});

describe("rotation", () => {
  it("promotes the published next key, retires the active one until its tokens expire", async () => {
    const store = dataDir().store();
    const clock = new Clock();
    const ring = await open(store, clock);
    const oldKid = ring.signingKey().kid;
    const [next] = await stateOf(ring, "next");
    const oldToken = await sign(ring, clock);
    const seq = store.changes.latest();

    const listed = await ring.rotate();
    expect(ring.signingKey().kid).toBe(next?.kid);
    expect(kidOf(await sign(ring, clock))).toBe(next?.kid);
    expect(listed.find((k) => k.kid === oldKid)).toMatchObject({
      state: "retired",
      publishedUntil: T0 + RETIRE,
    });
    expect(listed.filter((k) => k.state === "next")).toHaveLength(1);
    expect(ring.jwks()).toHaveLength(3);
    expect(store.changes.since(seq).map((c) => c.kind)).toEqual(["keys"]);
    // A retired key never signs again: its private half is erased.
    expect(rows(store).find((r) => r.kid === oldKid)?.private_jwk).toBe("");

    clock.sec = T0 + RETIRE - 1;
    await expect(verifier(ring, clock).verify(oldToken)).resolves.toMatchObject({ sub: CONTENT.sub });
    clock.sec = T0 + RETIRE;
    expect(ring.find(oldKid)).toBeUndefined();
    expect(ring.jwks().map((k) => k.kid)).not.toContain(oldKid);
    await expectRefused(verifier(ring, clock).verify(oldToken), "TOKEN_KEY_UNKNOWN");

    // Reopening drops it from the table as well.
    await open(store, clock);
    expect(rows(store).map((r) => r.kid)).not.toContain(oldKid);
    await ring.reload();
    expect((await ring.list()).map((k) => k.kid)).not.toContain(oldKid);
  });

  it("another process converges on reload", async () => {
    const dir = dataDir();
    const clock = new Clock();
    const a = await open(dir.store(), clock);
    const b = await open(dir.store(), clock);
    const token = await sign(a, clock);
    await a.rotate();
    // b already published a's new active key as its next key, so a's new tokens verify at once.
    await expect(verifier(b, clock).verify(await sign(a, clock))).resolves.toBeDefined();
    await b.reload();
    expect(b.signingKey().kid).toBe(a.signingKey().kid);
    expect(b.jwks()).toEqual(a.jwks());
    await expect(verifier(b, clock).verify(token)).resolves.toBeDefined();
  });

  it("rotateIfDue rotates once the interval has passed, and only once across processes", async () => {
    const dir = dataDir();
    const clock = new Clock();
    const store = dir.store();
    const a = await open(store, clock, { rotationIntervalSeconds: 100 });
    const b = await open(dir.store(), clock, { rotationIntervalSeconds: 100 });
    const first = a.signingKey().kid;
    clock.sec = T0 + 99;
    expect(await a.rotateIfDue()).toBe(false);
    clock.sec = T0 + 100;
    expect((await Promise.all([a.rotateIfDue(), b.rotateIfDue()])).filter(Boolean)).toHaveLength(1);
    // Either process may have won: each picks up the other's rotation on reload.
    await Promise.all([a.reload(), b.reload()]);
    expect(a.signingKey().kid).not.toBe(first);
    expect(b.signingKey().kid).toBe(a.signingKey().kid);
    expect(rows(store).filter((r) => r.state === "retired")).toHaveLength(1);
    expect(await a.rotateIfDue()).toBe(false);
    clock.sec = T0 + 199;
    expect(await a.rotateIfDue()).toBe(false);
    clock.sec = T0 + 200;
    expect(await b.rotateIfDue()).toBe(true);
    expect(rows(store).filter((r) => r.state === "retired")).toHaveLength(2);
  });

  it("never rotates on schedule when the interval is 0", async () => {
    const clock = new Clock();
    const ring = await open(dataDir().store(), clock);
    clock.sec = T0 + 10 * 365 * 86400;
    expect(await ring.rotateIfDue()).toBe(false);
  });
});

describe("ES256", () => {
  it("signs ES256 tokens that verify", async () => {
    const clock = new Clock();
    const ring = await open(dataDir().store(), clock, { alg: "ES256" });
    expect(ring.signingKey().alg).toBe("ES256");
    expect(ring.jwks()[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    const token = await sign(ring, clock);
    expect(decodeProtectedHeader(token).alg).toBe("ES256");
    await expect(verifier(ring, clock).verify(token)).resolves.toBeDefined();
  });

  it("moves from EdDSA to ES256 while EdDSA tokens keep verifying", async () => {
    const dir = dataDir();
    const clock = new Clock();
    const ed = await sign(await open(dir.store(), clock), clock);
    const ring = await open(dir.store(), clock, { alg: "ES256" });
    expect(ring.signingKey().alg).toBe("EdDSA");
    await ring.rotate(); // the EdDSA next key signs; an ES256 key is published next
    await ring.rotate();
    expect(ring.signingKey().alg).toBe("ES256");
    const es = await sign(ring, clock);
    for (const token of [ed, es]) await expect(verifier(ring, clock).verify(token)).resolves.toBeDefined();
  });
});

describe("master key", () => {
  const master = randomBytes(32);

  it("seals private keys at rest and reopens with the same master key", async () => {
    const dir = dataDir();
    const store = dir.store();
    const clock = new Clock();
    const ring = await open(store, clock, { masterKey: master });
    for (const r of rows(store)) {
      expect(r.private_jwk.startsWith("enc:v1:")).toBe(true);
      expect(r.private_jwk).not.toContain('"d"');
    }
    const token = await sign(ring, clock);
    const again = await open(dir.store(), clock, { masterKey: master });
    expect(again.signingKey().kid).toBe(ring.signingKey().kid);
    await expect(verifier(again, clock).verify(await sign(again, clock))).resolves.toBeDefined();
    await expect(verifier(again, clock).verify(token)).resolves.toBeDefined();
  });

  it("seals development keys once a master key is configured", async () => {
    const store = dataDir().store();
    const clock = new Clock();
    await open(store, clock);
    expect(rows(store).every((r) => r.private_jwk.startsWith("{"))).toBe(true);
    await open(store, clock, { masterKey: master });
    expect(rows(store).every((r) => r.private_jwk.startsWith("enc:v1:"))).toBe(true);
  });

  async function refusal(store: Store, masterKey?: Buffer): Promise<MasterKeyError> {
    const err = await open(store, new Clock(), { masterKey }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MasterKeyError);
    return err as MasterKeyError;
  }

  it("refuses to open with no master key or the wrong one, naming the kid", async () => {
    const store = dataDir().store();
    await open(store, new Clock(), { masterKey: master });
    const kids = rows(store).map((r) => r.kid);
    const missing = await refusal(store);
    expect(missing.problem).toBe("MASTER_KEY_MISSING");
    expect(kids).toContain(missing.kid);
    const wrong = await refusal(store, randomBytes(32));
    expect(wrong.problem).toBe("KEY_UNDECRYPTABLE");
    expect(kids).toContain(wrong.kid);
    expect(wrong.message).toContain(wrong.kid);
    expect(wrong.message).not.toContain(master.toString("base64"));
  });

  it("refuses a tampered ciphertext", async () => {
    const store = dataDir().store();
    await open(store, new Clock(), { masterKey: master });
    const [row] = rows(store).filter((r) => r.state === "active");
    const sealed = row?.private_jwk ?? "";
    const last = sealed.at(-2) === "A" ? "B" : "A";
    const tampered = `${sealed.slice(0, -2)}${last}${sealed.slice(-1)}`;
    store.db.prepare("UPDATE signing_keys SET private_jwk = ? WHERE kid = ?").run(tampered, row?.kid);
    const err = await refusal(store, master);
    expect(err.problem).toBe("KEY_UNDECRYPTABLE");
    expect(err.kid).toBe(row?.kid);
  });
});
