import { expect, it } from "vitest";
import type { Async } from "../../../src/store/contract/async.js";
import { PgRevocationRepository } from "../../../src/store/postgres/revocations.js";
import { RevocationRepository } from "../../../src/store/revocations.js";
import { describeBackends, type Opened, selectRows } from "./backends.js";

function revocations(o: Opened): Async<RevocationRepository> {
  return o.kind === "sqlite" ? new RevocationRepository(o.db) : new PgRevocationRepository(o.db);
}

const changes = (o: Opened) =>
  selectRows<{ kind: string; org_id: string | null; ref: string | null }>(
    o,
    "SELECT kind, org_id, ref FROM changes ORDER BY seq",
  );
const audits = (o: Opened) => selectRows(o, "SELECT action FROM admin_audit");
const byValue = <T extends { value: string }>(rows: T[]) =>
  [...rows].sort((a, b) => (a.value < b.value ? -1 : 1));

describeBackends("revocations", (opened) => {
  it("records a revocation with its change, each time, keeping the later expiry", async () => {
    const o = opened();
    const r = revocations(o);
    await r.revoke("jti", "j-1", 1000);
    await r.revoke("family", "f-1", 2000);
    expect(await r.get("jti", "j-1")).toBe(1000);
    expect(await r.get("family", "f-1")).toBe(2000);
    // Same value, the other kind: a different revocation.
    expect(await r.get("family", "j-1")).toBeUndefined();
    await r.revoke("jti", "j-1", 500); // an earlier expiry does not shorten it
    expect(await r.get("jti", "j-1")).toBe(1000);
    await r.revoke("jti", "j-1", 1500); // a later one extends it
    expect(await r.get("jti", "j-1")).toBe(1500);
    expect(await changes(o)).toEqual([
      { kind: "token_revoked", org_id: null, ref: "jti:j-1" },
      { kind: "token_revoked", org_id: null, ref: "family:f-1" },
      { kind: "token_revoked", org_id: null, ref: "jti:j-1" },
      { kind: "token_revoked", org_id: null, ref: "jti:j-1" },
    ]);
    expect(await audits(o)).toEqual([]); // token revocations are not admin changes
  });

  it("lists the revocations still in force: expiry strictly after now", async () => {
    const r = revocations(opened());
    await r.revoke("jti", "past", 99);
    await r.revoke("jti", "edge", 100);
    await r.revoke("jti", "live", 101);
    await r.revoke("family", "fam", 5000);
    expect(byValue(await r.live(100))).toEqual([
      { kind: "family", value: "fam", expiresAt: 5000 },
      { kind: "jti", value: "live", expiresAt: 101 },
    ]);
    expect(await r.live(5000)).toEqual([]);
  });

  it("prunes the revocations whose expiry is at or before now, and nothing else", async () => {
    const o = opened();
    const r = revocations(o);
    await r.revoke("jti", "past", 99);
    await r.revoke("jti", "edge", 100);
    await r.revoke("family", "live", 101);
    const before = (await changes(o)).length;
    await r.prune(100);
    expect(await r.get("jti", "past")).toBeUndefined();
    expect(await r.get("jti", "edge")).toBeUndefined();
    expect(await r.get("family", "live")).toBe(101);
    expect(await changes(o)).toHaveLength(before); // pruning tells no one
  });
});
