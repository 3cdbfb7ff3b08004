import { describe, expect, it } from "vitest";
import { createLogger, type LogFormat, resolveLogFormat } from "../../src/log.js";
import { prettyLine } from "../../src/log-pretty.js";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A logger writing into an array of lines. */
function capture(format: LogFormat, color = false) {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", format, color, destination: { write: (l) => lines.push(l) } });
  return { log, lines };
}

describe("logs (issue #10: readable by a person, parseable by a machine)", () => {
  it("writes JSON lines with ISO 8601 times", () => {
    const { log, lines } = capture("json");
    log.info({ grpcPort: 50051 }, "tessera listening");
    const record = JSON.parse(lines[0] ?? "") as Record<string, unknown>;
    expect(record).toMatchObject({
      msg: "tessera listening",
      grpcPort: 50051,
      level: 30,
      service: "tessera",
    });
    expect(record.time).toMatch(ISO);
  });

  it("writes one line a record for people: ISO time, level, message, then key=value", () => {
    const { log, lines } = capture("pretty");
    log.info({ grpcPort: 50051, host: "127.0.0.1", note: "two words", tls: false }, "tessera listening");
    log.debug({ rpc: "tessera.v1.AuthService/Authorize", code: "OK" }, "request");
    const [info, debug] = lines;
    expect(info).toMatch(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z INFO {2}tessera listening grpcPort=50051 host=127\.0\.0\.1 note="two words" tls=false\n$/,
    );
    expect(debug).toMatch(/Z DEBUG request rpc=tessera\.v1\.AuthService\/Authorize code=OK\n$/);
    expect(lines.join("")).not.toMatch(/[{}]/);
  });

  it("indents an error's stack under its line", () => {
    const { log, lines } = capture("pretty");
    log.error({ err: new Error("boom") }, "internal error");
    const [head, ...stack] = (lines[0] ?? "").trimEnd().split("\n");
    expect(head).toMatch(/Z ERROR internal error$/);
    expect(stack[0]).toBe("    Error: boom");
    expect(stack.length).toBeGreaterThan(1);
  });

  it.each<LogFormat>(["json", "pretty"])("redacts secrets in %s output too", (format) => {
    const { log, lines } = capture(format);
    log.info({ apiKey: "tsk_x", devOrg: { adminToken: "tat_y" }, masterKey: "m" }, "credentials");
    expect(lines.join("")).not.toMatch(/tsk_x|tat_y|"m"|=m\b/);
    expect(lines.join("")).toContain("[redacted]");
  });

  it("colours the level only when asked (a terminal)", () => {
    const plain = capture("pretty");
    plain.log.warn("careful");
    expect(plain.lines[0]).not.toContain("\u001b[");
    const coloured = capture("pretty", true);
    coloured.log.warn("careful");
    expect(coloured.lines[0]).toContain("\u001b[33mWARN \u001b[0m careful");
  });

  it("passes a line that is not a JSON record through unchanged", () => {
    expect(prettyLine("not json\n")).toBe("not json\n");
  });

  it.each<[LogFormat | "auto", boolean, LogFormat]>([
    ["auto", true, "pretty"],
    ["auto", false, "json"],
    ["json", true, "json"],
    ["pretty", false, "pretty"],
  ])("--log-format %s with a terminal %s writes %s", (setting, terminal, format) => {
    expect(resolveLogFormat(setting, terminal)).toBe(format);
  });
});
