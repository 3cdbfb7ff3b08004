// One-off: creates an org and COUNT agents straight in a data directory's SQLite file, in one
// transaction, before Tessera starts. Prints the org's credentials as JSON.
//   node bench/seed-agents.mjs DATA_DIR COUNT
import { newId } from "../dist/src/auth/secrets.js";
import { createOrg } from "../dist/src/core/bootstrap.js";
import { openStore } from "../dist/src/store/store.js";

const [dataDir, count] = [process.argv[2], Number(process.argv[3])];
if (!dataDir || !Number.isInteger(count)) throw new Error("usage: seed-agents.mjs DATA_DIR COUNT");

const TIERS = ["unverified", "verified", "trusted", "privileged"];
const ROLES = [["viewer"], ["operator"], ["admin"], ["viewer", "operator"]];
const store = openStore(dataDir);
try {
  const now = new Date();
  const org = await createOrg(store, "bench", now);
  const insert = store.db.prepare(
    "INSERT INTO agents (id, org_id, name, tier, roles, tags, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const createdAt = Math.floor(now.getTime() / 1000);
  store.db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const roles = JSON.stringify(ROLES[i % ROLES.length]);
      insert.run(
        newId("agt"),
        org.orgId,
        `agent-${i}`,
        TIERS[i % 4],
        roles,
        JSON.stringify([`team-${i % 50}`]),
        createdAt,
      );
    }
  })();
  process.stdout.write(`${JSON.stringify(org)}\n`);
} finally {
  store.close();
}
