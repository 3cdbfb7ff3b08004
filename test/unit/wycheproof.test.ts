import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { importJWK, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyRing } from "../../src/auth/key-ring.js";
import { TokenVerifier } from "../../src/auth/token-verifier.js";
import { TesseraError } from "../../src/domain/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

/** The parts of the Wycheproof JsonWebSignature schema this test reads. */
interface Vector {
  readonly tcId: number;
  readonly comment: string;
  readonly jws: string;
  readonly result: "valid" | "invalid" | "acceptable";
}
interface Group {
  readonly comment: string;
  readonly public?: JWK;
  readonly private?: JWK;
  readonly tests: readonly Vector[];
}
interface Corpus {
  readonly numberOfTests: number;
  readonly testGroups: readonly Group[];
}

const FILE = fileURLToPath(new URL("../fixtures/wycheproof/json_web_signature_test.json", import.meta.url));
// A missing corpus must fail the run, not shrink it to nothing: see the first test.
const corpus: Corpus | undefined = existsSync(FILE)
  ? (JSON.parse(readFileSync(FILE, "utf8")) as Corpus)
  : undefined;
const groups = (corpus?.testGroups ?? []).map((g, index) => ({ ...g, index }));
const vectors = groups.flatMap((g) => g.tests.map((t) => ({ ...t, group: g.index, label: g.comment })));

const NOW = () => new Date(Date.UTC(2024, 0, 1));
const OPTS = { issuer: "tessera", audience: "tessera", clockToleranceSeconds: 10, now: NOW };

/** The key material of a group's key, trusted under its own kid with a JOSE alg name. */
function trustedKey(g: Group): { kid: string; alg: string; jwk: JWK } | undefined {
  const src = g.public ?? g.private;
  if (!src?.kid) return undefined;
  const { kty, crv, x, y, n, e, k } = src;
  const jwk = Object.fromEntries(
    Object.entries({ kty, crv, x, y, n, e, k }).filter(([, v]) => v !== undefined),
  );
  const alg = src.alg === "ES521" ? "ES512" : (src.alg ?? (kty === "RSA" ? "RS256" : "ES256"));
  return { kid: src.kid, alg, jwk: { ...jwk, kid: src.kid, alg } };
}

const stores: { store: Store; cleanup: () => void }[] = [];

/** A verifier over a fresh store; `extra` keys are registered beside the generated Ed25519 key. */
async function verifierWith(extra?: { kid: string; alg: string; jwk: JWK }): Promise<TokenVerifier> {
  const tmp = tempDir("tessera-wycheproof-");
  const store = openStore(tmp.dir);
  stores.push({ store, cleanup: tmp.cleanup });
  const ring = await KeyRing.open(store.signingKeys, NOW);
  if (!extra) return new TokenVerifier(ring, OPTS);
  // The vectors use algorithms Tessera never signs with (RS256, ES512…), which its key table
  // refuses; trust the group's key beside the ring's, exactly as a published key would be.
  const key = {
    kid: extra.kid,
    alg: extra.alg,
    key: await importJWK(extra.jwk, extra.alg),
    publicJwk: extra.jwk,
  };
  const lookup = { find: (kid: string) => (kid === extra.kid ? key : ring.find(kid)) } as unknown as KeyRing;
  return new TokenVerifier(lookup, OPTS);
}

/** Verifies and returns whatever was thrown (or "accepted"). */
async function outcome(verifier: TokenVerifier, jws: string): Promise<unknown> {
  try {
    await verifier.verify(jws);
    return "accepted";
  } catch (err) {
    return err;
  }
}

let plain: TokenVerifier;
const withGroupKey = new Map<number, TokenVerifier>();

beforeAll(async () => {
  plain = await verifierWith();
  for (const g of groups) {
    const key = trustedKey(g);
    if (key) withGroupKey.set(g.index, await verifierWith(key));
  }
});
afterAll(() => {
  for (const s of stores) {
    void s.store.close();
    s.cleanup();
  }
});

describe("Wycheproof JWS vectors", () => {
  it("has the corpus, every vector a compact-serialisation string", () => {
    expect(existsSync(FILE), `missing ${FILE}`).toBe(true);
    expect(vectors).toHaveLength(corpus?.numberOfTests ?? -1);
    expect(vectors.length).toBeGreaterThanOrEqual(401);
    for (const v of vectors) expect(typeof v.jws).toBe("string");
  });

  it("registers the key of every group that names one", () => {
    expect(withGroupKey.size).toBe(groups.filter((g) => (g.public ?? g.private)?.kid).length);
    expect(withGroupKey.size).toBeGreaterThan(20);
  });

  it.each(vectors)("tc $tcId ($label: $comment, $result) is unauthenticated", async (v) => {
    const verifiers = [plain, withGroupKey.get(v.group)].filter((x) => x !== undefined);
    for (const verifier of verifiers) {
      const err = await outcome(verifier, v.jws);
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).kind).toBe("unauthenticated");
    }
  });
});
