import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OrgCredentials } from "../../src/auth/org-credentials.js";
import {
  digestsEqual,
  generateSecret,
  isWellFormedSecret,
  newId,
  SECRET_PREFIXES,
  type SecretType,
  secretDigest,
} from "../../src/auth/secrets.js";
import { createOrg, type NewOrg } from "../../src/core/bootstrap.js";
import { type ErrorReason, TesseraError } from "../../src/domain/errors.js";
import type { CredentialRow } from "../../src/store/orgs.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TYPES: [SecretType, string][] = [
  ["apiKey", "tsk_"],
  ["adminToken", "tat_"],
];

/** The reason `fn` is refused with; fails when it returns or throws something else. */
function reasonOf(fn: () => unknown): ErrorReason {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    return (err as TesseraError).reason;
  }
  throw new Error("expected a TesseraError, but nothing was thrown");
}

describe("secrets", () => {
  it.each(TYPES)("generates well-formed %s secrets with prefix %s", (type, prefix) => {
    expect(SECRET_PREFIXES[type]).toBe(prefix);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = generateSecret(type);
      expect(s).toMatch(new RegExp(`^${prefix}[0-9A-Za-z]{46}$`));
      expect(isWellFormedSecret(type, s)).toBe(true);
      seen.add(s);
    }
    expect(seen.size).toBe(200);
  });

  it.each(TYPES)("the %s checksum catches every one-character change", (type) => {
    const s = generateSecret(type);
    for (let i = 4; i < s.length; i++) {
      for (const c of ALPHABET) {
        if (c === s[i]) continue;
        const changed = s.slice(0, i) + c + s.slice(i + 1);
        expect(isWellFormedSecret(type, changed), `position ${i} → ${c}`).toBe(false);
      }
    }
  });

  it("the checksum covers the prefix: a swapped prefix is refused as either type", () => {
    const key = generateSecret("apiKey");
    const swapped = `tat_${key.slice(4)}`;
    expect(isWellFormedSecret("adminToken", swapped)).toBe(false);
    expect(isWellFormedSecret("apiKey", swapped)).toBe(false);
    expect(isWellFormedSecret("adminToken", key)).toBe(false);
  });

  it.each([
    ["empty", ""],
    ["prefix only", "tsk_"],
    ["short", "tsk_abc"],
    ["one character too long", `${generateSecret("apiKey")}0`],
    ["upper-case prefix", `TSK_${generateSecret("apiKey").slice(4)}`],
    [
      "non-base62 character",
      `${generateSecret("apiKey").slice(0, 20)}-${generateSecret("apiKey").slice(21)}`,
    ],
  ])("refuses a malformed key: %s", (_name, value) => {
    expect(isWellFormedSecret("apiKey", value)).toBe(false);
  });

  it("digests are 32-byte SHA-256 values compared exactly", () => {
    // The FIPS 180-2 test vector: SHA-256("abc").
    expect(secretDigest("abc").toString("hex")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    const a = secretDigest(generateSecret("apiKey"));
    expect(a).toHaveLength(32);
    expect(secretDigest(generateSecret("adminToken"))).toHaveLength(32);
    expect(digestsEqual(a, Buffer.from(a))).toBe(true);
    expect(digestsEqual(a, secretDigest("tsk_b"))).toBe(false);
    expect(digestsEqual(a, a.subarray(0, 31))).toBe(false);
  });

  it.each(["org", "agt", "key"])(
    "newId(%s) is the prefix, an underscore and 20 base62 characters",
    (prefix) => {
      const ids = new Set(Array.from({ length: 100 }, () => newId(prefix)));
      expect(ids.size).toBe(100);
      for (const id of ids) expect(id).toMatch(new RegExp(`^${prefix}_[0-9A-Za-z]{20}$`));
    },
  );
});

describe("OrgCredentials over a real store", () => {
  const tmp = tempDir();
  let store: Store;
  let creds: OrgCredentials;
  let a: NewOrg;
  let b: NewOrg;

  beforeAll(async () => {
    store = openStore(tmp.dir);
    a = await createOrg(store, "org-a", new Date(0));
    b = await createOrg(store, "org-b", new Date(0));
    creds = await OrgCredentials.open(store.orgs);
  });
  afterAll(() => {
    void store.close();
    tmp.cleanup();
  });

  it("resolves an API key and an admin pair to their org", () => {
    expect(creds.orgOfApiKey(a.apiKey)).toBe(a.orgId);
    expect(creds.orgOfApiKey(b.apiKey)).toBe(b.orgId);
    expect(creds.adminOrg(a.apiKey, a.adminToken)).toBe(a.orgId);
    expect(creds.adminOrg(b.apiKey, b.adminToken)).toBe(b.orgId);
  });

  const flip = (s: string) => s.slice(0, -1) + (s.endsWith("A") ? "B" : "A");

  it.each<[string, () => unknown, ErrorReason]>([
    ["a short key", () => creds.orgOfApiKey("tsk_x"), "API_KEY_MALFORMED"],
    ["a key with a bad checksum", () => creds.orgOfApiKey(flip(a.apiKey)), "API_KEY_MALFORMED"],
    ["an admin token as API key", () => creds.orgOfApiKey(a.adminToken), "API_KEY_MALFORMED"],
    ["a well-formed unknown key", () => creds.orgOfApiKey(generateSecret("apiKey")), "API_KEY_UNKNOWN"],
    ["no admin token", () => creds.adminOrg(a.apiKey, undefined), "ADMIN_TOKEN_MISSING"],
    ["an empty admin token", () => creds.adminOrg(a.apiKey, ""), "ADMIN_TOKEN_MISSING"],
    ["an admin token without key", () => creds.adminOrg(undefined, a.adminToken), "API_KEY_MISSING"],
    ["an admin token with an empty key", () => creds.adminOrg("", a.adminToken), "API_KEY_MISSING"],
    [
      "an admin pair with an unknown key",
      () => creds.adminOrg(generateSecret("apiKey"), a.adminToken),
      "API_KEY_UNKNOWN",
    ],
    ["a malformed admin token", () => creds.adminOrg(a.apiKey, "tat_x"), "ADMIN_TOKEN_MALFORMED"],
    ["an API key as admin token", () => creds.adminOrg(a.apiKey, a.apiKey), "ADMIN_TOKEN_MALFORMED"],
    [
      "an unknown admin token",
      () => creds.adminOrg(a.apiKey, generateSecret("adminToken")),
      "ADMIN_TOKEN_UNKNOWN",
    ],
    [
      "org A's key with org B's admin token",
      () => creds.adminOrg(a.apiKey, b.adminToken),
      "ADMIN_TOKEN_ORG_MISMATCH",
    ],
    [
      "org B's key with org A's admin token",
      () => creds.adminOrg(b.apiKey, a.adminToken),
      "ADMIN_TOKEN_ORG_MISMATCH",
    ],
  ])("refuses %s", (_name, call, reason) => {
    expect(reasonOf(call)).toBe(reason);
  });

  it("refuses a revoked API key and admin token as unknown", async () => {
    const c = await createOrg(store, "org-c", new Date(0));
    store.db.prepare("UPDATE org_credentials SET revoked_at = 1 WHERE org_id = ?").run(c.orgId);
    await creds.reload();
    expect(reasonOf(() => creds.orgOfApiKey(c.apiKey))).toBe("API_KEY_UNKNOWN");
    expect(reasonOf(() => creds.adminOrg(a.apiKey, c.adminToken))).toBe("ADMIN_TOKEN_UNKNOWN");
  });
});

describe("OrgCredentials: the in-memory credentials come before the format check", () => {
  const tmp = tempDir();
  let store: Store;
  let org: NewOrg;
  let nowSec = 1_000;
  /** A fresh cache for each test, so "before caching" really is. */
  let creds: OrgCredentials;

  beforeAll(async () => {
    store = openStore(tmp.dir);
    org = await createOrg(store, "org-cache", new Date(0));
  });
  beforeEach(async () => {
    nowSec = 1_000;
    creds = await OrgCredentials.open(store.orgs, () => new Date(nowSec * 1000));
  });
  afterAll(() => {
    void store.close();
    tmp.cleanup();
  });

  const flip = (s: string) => s.slice(0, -1) + (s.endsWith("A") ? "B" : "A");

  /** A scoped API key added to `org` straight through the repository. */
  const scopedKey = async (extra: Partial<CredentialRow> = {}) => {
    const secret = generateSecret("apiKey");
    const row: CredentialRow = {
      id: newId("key"),
      orgId: org.orgId,
      kind: "api_key",
      digest: secretDigest(secret),
      name: "scoped",
      scopes: ["reports:read"],
      prefix: secret.slice(0, 8),
      ...extra,
    };
    store.orgs.addScopedKey(row, nowSec);
    await creds.reload();
    return { secret, id: row.id };
  };

  it.each<[string, () => string]>([
    ["empty", () => ""],
    ["short", () => "tsk_x"],
    ["a bad checksum", () => flip(org.apiKey)],
    ["a swapped prefix", () => `tat_${org.apiKey.slice(4)}`],
    ["a trailing character", () => `${org.apiKey}0`],
  ])("a malformed API key (%s) is API_KEY_MALFORMED, also after the real key was cached", (_name, key) => {
    expect(reasonOf(() => creds.orgOfApiKey(key()))).toBe("API_KEY_MALFORMED");
    expect(creds.orgOfApiKey(org.apiKey)).toBe(org.orgId);
    expect(reasonOf(() => creds.orgOfApiKey(key()))).toBe("API_KEY_MALFORMED");
  });

  it("a well-formed unknown key is API_KEY_UNKNOWN, every time (misses are not cached as hits)", () => {
    const unknown = generateSecret("apiKey");
    expect(reasonOf(() => creds.orgOfApiKey(unknown))).toBe("API_KEY_UNKNOWN");
    expect(reasonOf(() => creds.orgOfApiKey(unknown))).toBe("API_KEY_UNKNOWN");
    expect(reasonOf(() => creds.adminOrg(org.apiKey, generateSecret("adminToken")))).toBe(
      "ADMIN_TOKEN_UNKNOWN",
    );
  });

  it("a key created after loading is unknown until the credentials are reloaded, then found", async () => {
    const secret = generateSecret("apiKey");
    expect(reasonOf(() => creds.orgOfApiKey(secret))).toBe("API_KEY_UNKNOWN");
    store.orgs.addScopedKey(
      {
        id: newId("key"),
        orgId: org.orgId,
        kind: "api_key",
        digest: secretDigest(secret),
        name: "late",
        scopes: ["reports:read"],
        prefix: secret.slice(0, 8),
      },
      nowSec,
    );
    // No lookup ever reaches the database: the change arrives by reload (the change feed's).
    expect(reasonOf(() => creds.orgOfApiKey(secret))).toBe("API_KEY_UNKNOWN");
    await creds.reload();
    expect(creds.orgOfApiKey(secret)).toBe(org.orgId);
  });

  it("an admin token sent as an API key is API_KEY_MALFORMED, before and after it is cached as an admin token", () => {
    expect(reasonOf(() => creds.orgOfApiKey(org.adminToken))).toBe("API_KEY_MALFORMED");
    expect(creds.adminOrg(org.apiKey, org.adminToken)).toBe(org.orgId);
    expect(reasonOf(() => creds.orgOfApiKey(org.adminToken))).toBe("API_KEY_MALFORMED");
    expect(reasonOf(() => creds.apiKey(org.adminToken))).toBe("API_KEY_MALFORMED");
    // Nor does it pass as the API key of an admin pair.
    expect(reasonOf(() => creds.adminOrg(org.adminToken, org.adminToken))).toBe("API_KEY_MALFORMED");
    // The admin token itself still works in its own slot.
    expect(creds.adminOrg(org.apiKey, org.adminToken)).toBe(org.orgId);
  });

  it("an API key sent as an admin token is ADMIN_TOKEN_MALFORMED, before and after it is cached as an API key", () => {
    expect(reasonOf(() => creds.adminOrg(org.apiKey, org.apiKey))).toBe("ADMIN_TOKEN_MALFORMED");
    expect(creds.orgOfApiKey(org.apiKey)).toBe(org.orgId);
    expect(reasonOf(() => creds.adminOrg(org.apiKey, org.apiKey))).toBe("ADMIN_TOKEN_MALFORMED");
    expect(creds.orgOfApiKey(org.apiKey)).toBe(org.orgId);
  });

  it("a scoped API key sent as an admin token is ADMIN_TOKEN_MALFORMED once cached", async () => {
    const { secret } = await scopedKey();
    expect(creds.apiKey(secret)).toMatchObject({
      orgId: org.orgId,
      kind: "api_key",
      scopes: ["reports:read"],
    });
    expect(reasonOf(() => creds.adminOrg(org.apiKey, secret))).toBe("ADMIN_TOKEN_MALFORMED");
  });

  it("a revoked scoped key is API_KEY_UNKNOWN after a reload", async () => {
    const { secret, id } = await scopedKey();
    expect(creds.orgOfApiKey(secret)).toBe(org.orgId);
    expect(store.orgs.revokeKey(org.orgId, id, nowSec)).toBe(true);
    await creds.reload();
    expect(reasonOf(() => creds.orgOfApiKey(secret))).toBe("API_KEY_UNKNOWN");
    expect(reasonOf(() => creds.orgOfApiKey(secret))).toBe("API_KEY_UNKNOWN");
  });

  it("a replaced primary key and admin token are UNKNOWN after a reload, and the new ones work", async () => {
    const old = await createOrg(store, "org-replaced", new Date(0));
    await creds.reload();
    expect(creds.adminOrg(old.apiKey, old.adminToken)).toBe(old.orgId);
    const apiKey = generateSecret("apiKey");
    const adminToken = generateSecret("adminToken");
    store.orgs.replacePrimary(
      old.orgId,
      [
        { id: newId("key"), kind: "api_key", digest: secretDigest(apiKey) },
        { id: newId("key"), kind: "admin_token", digest: secretDigest(adminToken) },
      ],
      nowSec,
    );
    await creds.reload();
    expect(reasonOf(() => creds.orgOfApiKey(old.apiKey))).toBe("API_KEY_UNKNOWN");
    expect(reasonOf(() => creds.adminOrg(apiKey, old.adminToken))).toBe("ADMIN_TOKEN_UNKNOWN");
    expect(creds.adminOrg(apiKey, adminToken)).toBe(old.orgId);
  });

  it("a cached key still expires on time", async () => {
    const { secret } = await scopedKey({ expiresAt: nowSec + 60 });
    expect(creds.orgOfApiKey(secret)).toBe(org.orgId);
    nowSec += 59;
    expect(creds.orgOfApiKey(secret)).toBe(org.orgId);
    nowSec += 1;
    expect(reasonOf(() => creds.orgOfApiKey(secret))).toBe("API_KEY_EXPIRED");
  });
});
