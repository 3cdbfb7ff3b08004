import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DevTraces, readDevTraces } from "../../../src/store/dev-traces.js";
import { readPgDevTraces } from "../../../src/store/postgres/dev-traces.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { createTestDatabase, pgSkipReason } from "../../helpers/pg.js";
import { describeBackends, insertRows, type Opened, seedOrg } from "./backends.js";

const EXAMPLE = "apiVersion: tessera/v1\nkind: Policy\nname: example\n";
const LOOK = { orgName: "development", policyName: "example", policyDocument: EXAMPLE };

function traces(o: Opened): Promise<DevTraces | undefined> | DevTraces | undefined {
  return o.kind === "sqlite" ? readDevTraces(dirname(o.db.name), LOOK) : readPgDevTraces(o.db, LOOK);
}

function policy(orgId: string, name: string, document: string) {
  return { org_id: orgId, name, document, rule_count: 1, revision: 1, updated_at: 1_700_000_000 };
}

describeBackends("development traces", (opened) => {
  it("finds the development org by name, and policies by name or by text up to surrounding blanks", async () => {
    const o = opened();
    await seedOrg(o, "org-dev", "development");
    await seedOrg(o, "org-dev2", "development");
    await seedOrg(o, "org-prod", "production");
    await insertRows(o, "policies", [
      policy("org-dev", "example", EXAMPLE),
      policy("org-prod", "Zcopy", `\n\t ${EXAMPLE.trim()}\r\n\n`),
      policy("org-prod", "example", "something else\n"),
      policy("org-prod", "other", `${EXAMPLE}extra: 1\n`),
      policy("org-prod", "spaced", ` ${EXAMPLE.replace("Policy", "Policy ")}`),
    ]);
    const found = await traces(o);
    expect([...(found?.orgs ?? [])].map((r) => r.id).sort()).toEqual(["org-dev", "org-dev2"]);
    expect(found?.policies).toEqual([
      { orgId: "org-dev", name: "example", document: EXAMPLE },
      { orgId: "org-prod", name: "Zcopy", document: `\n\t ${EXAMPLE.trim()}\r\n\n` },
      { orgId: "org-prod", name: "example", document: "something else\n" },
    ]);
  });

  it("finds nothing in a store without development traces", async () => {
    const o = opened();
    await seedOrg(o, "org-prod", "production");
    expect(await traces(o)).toEqual({ orgs: [], policies: [] });
  });
});

describe("development traces where there is no store yet", () => {
  it("[sqlite] answers undefined for a data directory without a database", () => {
    const dir = mkdtempSync(join(tmpdir(), "tessera-traces-"));
    try {
      expect(readDevTraces(dir, LOOK)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(pgSkipReason !== undefined)(
    "[postgres] answers undefined for a database without the schema",
    async () => {
      const { url, drop } = await createTestDatabase();
      const db = new PgDb(url);
      try {
        expect(await readPgDevTraces(db, LOOK)).toBeUndefined();
        // Nothing was created by looking.
        expect(await db.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).toEqual(
          [],
        );
      } finally {
        await db.close();
        await drop();
      }
    },
  );
});
