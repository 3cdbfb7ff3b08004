import { PassThrough } from "node:stream";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { confirm } from "../../src/cli/confirm.js";
import { unifiedDiff } from "../../src/cli/diff.js";
import { CliError, describeError, UsageError } from "../../src/cli/output.js";
import { TesseraError } from "../../src/domain/errors.js";

describe("one error shape for every failure", () => {
  const wrapped = new Error("[unknown] wrapped", {
    cause: new CliError({ code: "Unavailable", reason: "TLS_REQUIRED", message: "use https" }, 2),
  });
  it.each([
    ["a usage error", new UsageError("give --scope"), "InvalidArgument", "USAGE", 2],
    [
      "a config error",
      Object.assign(new Error("unknown key"), { name: "ConfigError" }),
      "InvalidArgument",
      "USAGE",
      2,
    ],
    ["a refused request", new TesseraError("ROLE_INVALID", "bad role"), "InvalidArgument", "ROLE_INVALID", 2],
    [
      "an invalid policy (a failed check)",
      new TesseraError("POLICY_INVALID", "x"),
      "InvalidArgument",
      "POLICY_INVALID",
      1,
    ],
    ["a missing object", new TesseraError("AGENT_NOT_FOUND", "x"), "NotFound", "AGENT_NOT_FOUND", 1],
    ["a described failure wrapped by Connect", wrapped, "Unavailable", "TLS_REQUIRED", 2],
    ["anything else", new Error("boom"), "Internal", "INTERNAL", 1],
  ])("%s", (_name, err, code, reason, exit) => {
    const d = describeError(err);
    expect(d.shape).toMatchObject({ code, reason });
    expect(d.exit).toBe(exit);
  });
});

describe("unified diff", () => {
  it("is empty for equal texts", () => {
    expect(unifiedDiff("a\nb\n", "a\nb\n", "x", "y")).toBe("");
  });

  it("shows a changed line as a removal then an addition, with context and counts", () => {
    const before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    const after = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
    expect(unifiedDiff(before, after, "server/p", "p.yaml").split("\n")).toEqual([
      "--- server/p",
      "+++ p.yaml",
      "@@ -2,7 +2,7 @@",
      " 2",
      " 3",
      " 4",
      "-5",
      "+five",
      " 6",
      " 7",
      " 8",
    ]);
  });

  it("makes separate hunks of distant changes and counts a new file from 0", () => {
    const before = Array.from({ length: 20 }, (_, i) => `l${i}`).join("\n");
    const after = before.replace("l1\n", "L1\n").replace("l18", "L18");
    expect(unifiedDiff(before, after, "a", "b").match(/^@@/gm)).toHaveLength(2);
    expect(unifiedDiff("", "x\ny\n", "/dev/null", "b").split("\n")[2]).toBe("@@ -0,0 +1,2 @@");
  });
});

describe("confirming a destructive command", () => {
  /** A terminal (or not) whose user types `answer`. */
  function io(tty: boolean, answer?: string) {
    const input = Object.assign(new PassThrough(), { isTTY: tty });
    const output = Object.assign(new PassThrough(), { isTTY: tty });
    if (answer !== undefined) input.end(`${answer}\n`);
    return { input, output };
  }
  const cmd = (...args: string[]) => new Command("x").option("-y, --yes").parse(args, { from: "user" });

  it("goes on with --yes without asking", async () => {
    const t = io(false);
    await expect(confirm(cmd("--yes"), "delete it", t)).resolves.toBeUndefined();
    expect(t.output.read()).toBeNull();
  });

  it("refuses off a terminal without --yes: a usage error naming --yes", async () => {
    const err = await confirm(cmd(), "delete it", io(false)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String(err)).toContain("--yes");
  });

  it("asks on a terminal: y goes on, anything else changes nothing", async () => {
    const yes = io(true, "y");
    await expect(confirm(cmd(), "delete it", yes)).resolves.toBeUndefined();
    expect(String(yes.output.read())).toContain("delete it");
    const no = await confirm(cmd(), "delete it", io(true, "")).catch((e: unknown) => e);
    expect(describeError(no).shape.reason).toBe("NOT_CONFIRMED");
  });
});
