import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { startTestServer, tempDir } from "../helpers/server.js";

describe("TLS configuration", () => {
  it("refuses plaintext on a non-loopback address", async () => {
    expect(() => loadConfig({ host: "0.0.0.0" }, {})).toThrow(ConfigError);
    expect(() => loadConfig({}, { TESSERA_HOST: "0.0.0.0" })).toThrow(ConfigError);
    const data = tempDir("tessera-refused-");
    try {
      await expect(startTestServer({ host: "0.0.0.0" }, data.dir)).rejects.toBeInstanceOf(ConfigError);
      expect(readdirSync(data.dir)).toEqual([]); // refused before any database was opened
    } finally {
      data.cleanup();
    }
  });

  it("accepts a non-loopback address once a certificate and key are configured", () => {
    const config = loadConfig({ host: "0.0.0.0", tlsCert: "s.pem", tlsKey: "k.pem" }, {});
    expect(config.tls).toMatchObject({ certFile: "s.pem", keyFile: "k.pem" });
  });

  it("refuses a client CA without a server certificate, and a certificate without its key", () => {
    expect(() => loadConfig({ tlsClientCa: "ca.pem" }, {})).toThrow(ConfigError);
    expect(() => loadConfig({ tlsCert: "s.pem" }, {})).toThrow(ConfigError);
  });
});
