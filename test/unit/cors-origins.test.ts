import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { corsAllowsAnyOrigin, originList } from "../../src/config/cors-origins.js";
import { corsPolicy } from "../../src/transport/cors.js";

/*
 * Issue #13, browsers and CORS: the allow-list as configured (exact origins, normalized as a
 * browser serializes its Origin header) and the match (whole strings, no suffix or substring).
 */

describe("corsOrigins (the allow-list setting)", () => {
  it("is empty by default: no origin is allowed", () => {
    const config = loadConfig({}, {});
    expect(config.corsOrigins).toEqual([]);
    expect(corsAllowsAnyOrigin(config)).toBe(false);
  });

  it("reads comma-separated origins from a flag or the environment", () => {
    expect(
      loadConfig({ corsOrigins: "https://app.example.com, http://localhost:5173" }, {}).corsOrigins,
    ).toEqual(["https://app.example.com", "http://localhost:5173"]);
    expect(loadConfig({}, { TESSERA_CORS_ORIGINS: "https://a.example" }).corsOrigins).toEqual([
      "https://a.example",
    ]);
  });

  it("keeps each origin as a browser sends it: lower case, default port dropped, punycode", () => {
    expect(originList.parse("HTTPS://App.Example.COM:443/")).toEqual(["https://app.example.com"]);
    expect(originList.parse("http://app.example.com:80")).toEqual(["http://app.example.com"]);
    expect(originList.parse("https://app.example.com:8443")).toEqual(["https://app.example.com:8443"]);
    expect(originList.parse("https://bücher.example")).toEqual(["https://xn--bcher-kva.example"]);
    expect(originList.parse("http://[::1]:3000")).toEqual(["http://[::1]:3000"]);
    expect(originList.parse("https://a.example,https://a.example")).toEqual(["https://a.example"]);
  });

  it("takes none, or an empty value, as no origins", () => {
    expect(originList.parse("none")).toEqual([]);
    expect(originList.parse("")).toEqual([]);
  });

  it("takes * only alone, and says so through corsAllowsAnyOrigin", () => {
    const config = loadConfig({ corsOrigins: "*" }, {});
    expect(config.corsOrigins).toEqual(["*"]);
    expect(corsAllowsAnyOrigin(config)).toBe(true);
    expect(() => loadConfig({ corsOrigins: "*,https://a.example" }, {})).toThrow(ConfigError);
  });

  it.each([
    ["a path", "https://app.example.com/app"],
    ["a query", "https://app.example.com?x=1"],
    ["a fragment", "https://app.example.com#x"],
    ["user info", "https://user@app.example.com"],
    ["a wildcard subdomain", "https://*.example.com"],
    ["the null origin", "null"],
    ["a scheme other than http(s)", "chrome-extension://abcdef"],
    ["no scheme", "app.example.com"],
    ["a bad port", "https://app.example.com:99999"],
    ["a number", 8080],
  ])("refuses %s, naming the flag", (_what, value) => {
    expect(() => loadConfig({ corsOrigins: value }, {})).toThrow(
      /--cors-origins must be comma-separated origins/,
    );
  });
});

describe("the CORS origin match", () => {
  const cors = corsPolicy(["https://app.example.com", "http://localhost:5173"]);

  it("allows exactly the listed origins", () => {
    expect(cors.allows("https://app.example.com")).toBe(true);
    expect(cors.allows("http://localhost:5173")).toBe(true);
  });

  it.each([
    "https://app.example.com.attacker.net",
    "https://evil-app.example.com",
    "https://xapp.example.com",
    "https://sub.app.example.com",
    "http://app.example.com",
    "https://app.example.com:8443",
    "https://app.example.com/",
    "https://app.example.com, https://attacker.net",
    "HTTPS://APP.EXAMPLE.COM",
    "http://localhost:5174",
    "http://localhost",
    "null",
    "",
  ])("refuses %j", (origin) => {
    expect(cors.allows(origin)).toBe(false);
  });

  it("allows nothing with an empty list, anything with *", () => {
    expect(corsPolicy([]).allows("https://app.example.com")).toBe(false);
    expect(corsPolicy(["*"]).allows("https://anything.example")).toBe(true);
  });
});
