import { describe, expect, it } from "vitest";
import { sqliteSource } from "../../src/cli/commands/migrate-store.js";
import { UsageError } from "../../src/cli/output.js";
import { redactUrl } from "../../src/config/database-url.js";

describe("migrate-store's --from", () => {
  it.each([
    ["sqlite:./data", "./data"],
    ["sqlite:/var/lib/tessera", "/var/lib/tessera"],
    ["sqlite:///var/lib/tessera", "/var/lib/tessera"],
    ["SQLite:data", "data"],
    ["./data", "./data"],
    ["/var/lib/tessera/tessera.db", "/var/lib/tessera/tessera.db"],
  ])("reads %s as the path %s", (given, path) => {
    expect(sqliteSource(given)).toBe(path);
  });

  it.each(["sqlite:", "postgres://u@h/db", "mysql://h/db"])("refuses %s as a usage mistake", (given) => {
    expect(() => sqliteSource(given)).toThrow(UsageError);
  });
});

describe("redactUrl", () => {
  it("masks the password in the userinfo and in a password parameter, and nothing else", () => {
    expect(redactUrl("postgres://tessera:hunter2@db:5432/tessera?sslmode=require&password=hunter3")).toBe(
      "postgres://tessera:***@db:5432/tessera?sslmode=require&password=***",
    );
    expect(redactUrl("postgres://tessera@db/tessera")).toBe("postgres://tessera@db/tessera");
    expect(redactUrl("postgres://u:p@[bad")).not.toContain(":p@");
  });
});
