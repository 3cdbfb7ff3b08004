import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWTHeaderParameters, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIGNING_ALG } from "../../src/auth/key-ring.js";
import { ACCESS_TOKEN_TYP } from "../../src/auth/token-claims.js";
import {
  CONTENT,
  claimsAt,
  expectRefused,
  handMade,
  type Kit,
  openKit,
  privateKeyOf,
  T0,
} from "./token-kit.js";

let kit: Kit;
let foreign: Kit;
let kid: string;
beforeAll(async () => {
  [kit, foreign] = await Promise.all([openKit(), openKit()]);
  kid = kit.ring.signingKey().kid;
});
afterAll(() => {
  kit.close();
  foreign.close();
});

const ours = () => privateKeyOf(kit.ring);
/** Our usual header with changes; a parameter set to undefined is left out. */
const header = (extra: Record<string, unknown> = {}): JWTHeaderParameters =>
  Object.fromEntries(
    Object.entries({ alg: SIGNING_ALG, kid, typ: ACCESS_TOKEN_TYP, ...extra }).filter(
      ([, v]) => v !== undefined,
    ),
  ) as JWTHeaderParameters;

describe("keys", () => {
  it("refuses a token from another ring (same kid scheme) as an unknown key", async () => {
    const { token } = await foreign.signer.sign(CONTENT, T0, 300);
    expect(foreign.ring.signingKey().kid).not.toBe(kid);
    await expectRefused(kit.verifier().verify(token), "TOKEN_KEY_UNKNOWN");
  });

  it("refuses a token with our kid signed by another key", async () => {
    const other = await generateKeyPair(SIGNING_ALG);
    const token = await new SignJWT(claimsAt(T0)).setProtectedHeader(header()).sign(other.privateKey);
    await expectRefused(kit.verifier().verify(token), "TOKEN_INVALID");
  });

  // Functions, because our kid is only known once the ring is open (after collection).
  it.each<[string, () => unknown]>([
    ["no kid", () => undefined],
    ["an empty kid", () => ""],
    ["a path traversal kid", () => "../../../../etc/passwd"],
    ["an SQL kid", () => "' OR '1'='1"],
    ["a shell kid", () => "$(touch /tmp/pwned)"],
    ["a numeric kid", () => 1],
    ["our kid with a trailing space", () => `${kid} `],
    ["our kid in upper case", () => kid.toUpperCase()],
  ])("refuses %s as an unknown key", async (_name, bad) => {
    const token = await handMade(header({ kid: bad() }), claimsAt(T0), ours());
    await expectRefused(kit.verifier().verify(token), "TOKEN_KEY_UNKNOWN");
  });
});

describe("algorithms are pinned per key", () => {
  it.each(["none", "None", "NONE", "nOnE"])("refuses alg %s", async (alg) => {
    const body = `${Buffer.from(JSON.stringify(header({ alg }))).toString("base64url")}.${Buffer.from(JSON.stringify(claimsAt(T0))).toString("base64url")}`;
    await expectRefused(kit.verifier().verify(`${body}.`), "TOKEN_INVALID");
    await expectRefused(kit.verifier().verify(`${body}.${body.slice(0, 20)}`), "TOKEN_INVALID");
  });

  it("refuses HS256 keyed with our public key bytes (algorithm confusion)", async () => {
    const jwk = kit.ring.find(kid)?.publicJwk;
    expect(jwk?.x).toBeDefined();
    const secrets = [
      Buffer.from(jwk?.x ?? "", "base64url"),
      Buffer.from(jwk?.x ?? ""),
      Buffer.from(JSON.stringify(jwk)),
    ];
    for (const secret of secrets) {
      for (const alg of ["HS256", "HS512"]) {
        const token = await new SignJWT(claimsAt(T0)).setProtectedHeader(header({ alg })).sign(secret);
        await expectRefused(kit.verifier().verify(token), "TOKEN_INVALID");
      }
    }
  });

  it("refuses an ES256 token naming our kid", async () => {
    const ec = await generateKeyPair("ES256");
    const token = await new SignJWT(claimsAt(T0))
      .setProtectedHeader(header({ alg: "ES256" }))
      .sign(ec.privateKey);
    await expectRefused(kit.verifier().verify(token), "TOKEN_INVALID");
  });
});

describe("header parameters", () => {
  let server: Server;
  let url = "";
  let hits = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      hits++;
      res.end("{}");
    });
    server.on("connection", () => hits++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("refuses jku, x5u, jwk, x5c, crit, b64 and unknown parameters, correctly signed by our key", async () => {
    const attacker = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const cases: Record<string, unknown>[] = [
      { jku: url },
      { x5u: url },
      { jwk: await exportJWK(attacker.publicKey) },
      { x5c: ["MIIB"] },
      { crit: ["exp"] },
      { crit: ["b64"], b64: false },
      { cty: "JWT" },
      { zip: "DEF" },
      { foo: "bar" },
    ];
    for (const extra of cases) {
      const token = await handMade(header(extra), claimsAt(T0), ours());
      await expectRefused(kit.verifier().verify(token), "TOKEN_INVALID");
    }
    expect(hits, "the verifier must make no outbound connection").toBe(0);
  });

  it("refuses an embedded jwk naming the attacker's own key", async () => {
    const attacker = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    const token = await new SignJWT(claimsAt(T0))
      .setProtectedHeader(header({ jwk }))
      .sign(attacker.privateKey);
    await expectRefused(kit.verifier().verify(token), "TOKEN_INVALID");
  });
});

describe("issuer, audience and type", () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ["a wrong iss", {}, { iss: "https://evil.test" }],
    ["no iss", {}, { iss: undefined }],
    ["a wrong aud", {}, { aud: "someone-else" }],
    ["an aud list", {}, { aud: ["agents", "someone-else"] }],
    ["no aud", {}, { aud: undefined }],
    ["typ JWT", { typ: "JWT" }, {}],
    ["a refresh token typ", { typ: "refresh+jwt" }, {}],
    ["no typ", { typ: undefined }, {}],
  ])("refuses %s", async (_name, headerChanges, claimChanges) => {
    const token = await handMade(header(headerChanges), claimsAt(T0, claimChanges), ours());
    await expectRefused(kit.verifier().verify(token), "TOKEN_INVALID");
  });

  it("accepts the same hand-made token when nothing is changed", async () => {
    const token = await handMade(header(), claimsAt(T0), ours());
    await expect(kit.verifier().verify(token)).resolves.toMatchObject({ sub: claimsAt(T0).sub });
  });
});
