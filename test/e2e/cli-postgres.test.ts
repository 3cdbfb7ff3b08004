import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { cliEnv, runTessera } from "../helpers/cli.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { createTestDatabase, pgSkipReason } from "../helpers/pg.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

/**
 * The commands that work on the store itself (never over the network) reach a shared
 * PostgreSQL database with --database or TESSERA_DATABASE_URL, as they reach SQLite with
 * --data-dir: how the first org and the operator token of a replicated deployment are made.
 */
describe.skipIf(pgSkipReason !== undefined)(
  `init and operator tokens on PostgreSQL${pgSkipReason ? ` (skipped: ${pgSkipReason})` : ""}`,
  () => {
    const home = tempDir();
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let server: TestServer | undefined;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => {
      await server?.stop();
      await db.drop();
      home.cleanup();
    });

    it("creates an org and an operator token in the database, and a replica on it accepts both", async () => {
      const init = await runTessera(
        ["init", "--database", db.url, "--name", "acme", "--json"],
        cliEnv(home.dir),
      );
      expect(init.code).toBe(0);
      const org = JSON.parse(init.stdout) as { orgId: string; apiKey: string; adminToken: string };
      // The URL from the environment works the same, and the password-less URL is never echoed.
      const op = await runTessera(
        ["operator", "token", "create", "--name", "ops", "--json"],
        cliEnv(home.dir, { TESSERA_DATABASE_URL: db.url }),
      );
      expect(op.code).toBe(0);
      expect(JSON.parse(op.stdout)).toMatchObject({ name: "ops" });
      const listed = await runTessera(
        ["operator", "token", "list", "--database", db.url, "--json"],
        cliEnv(home.dir),
      );
      expect((JSON.parse(listed.stdout) as { tokens: { name: string }[] }).tokens.map((t) => t.name)).toEqual(
        ["ops"],
      );

      server = await startTestServer({ database: db.url, bootstrapDevOrg: false });
      const admin = grpcClient(AdminService, `127.0.0.1:${server.grpcPort}`);
      const agents = await admin.call(
        "listAgents",
        {},
        { "x-api-key": org.apiKey, "x-admin-token": org.adminToken },
      );
      expect(agents).toMatchObject({ ok: true, value: { agents: [] } });
      admin.close();
    });
  },
);
