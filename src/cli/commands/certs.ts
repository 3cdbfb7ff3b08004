import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { wantsJson } from "../common.js";
import { emit } from "../output.js";
import { topLevel } from "../registry.js";

export function registerCerts(program: Command): void {
  const certs = topLevel(program, "certs");
  certs
    .command("dev")
    .description("write a development CA, a server certificate and a client certificate with SPIFFE IDs")
    .option("--out <dir>", "where to write the PEM files", "./certs")
    .option("--trust-domain <domain>", "SPIFFE trust domain", "tessera.local")
    .option("--client <name>", "the client workload name (its SPIFFE path)", "client")
    .action(async (o: { out: string; trustDomain: string; client: string }, cmd: Command) => {
      const { createDevCa } = await import("../../auth/dev-certs.js");
      const ca = await createDevCa();
      const server = await ca.issueServer({ spiffeId: `spiffe://${o.trustDomain}/tessera` });
      const spiffeId = `spiffe://${o.trustDomain}/${o.client}`;
      const client = await ca.issueClient({ commonName: o.client, spiffeId });
      mkdirSync(o.out, { recursive: true });
      const files: Record<string, string> = {
        "ca.pem": ca.cert,
        "server.pem": server.cert,
        "server-key.pem": server.key,
        "client.pem": client.cert,
        "client-key.pem": client.key,
      };
      for (const [name, pem] of Object.entries(files)) {
        writeFileSync(join(o.out, name), pem, { mode: name.endsWith("key.pem") ? 0o600 : 0o644 });
      }
      emit(wantsJson(cmd), { dir: o.out, clientSpiffeId: spiffeId, files: Object.keys(files) }, () =>
        [
          `Wrote ${Object.keys(files).join(", ")} to ${o.out} (client identity ${spiffeId}). Development only.`,
          `  server: tessera serve --tls-cert ${join(o.out, "server.pem")} --tls-key ${join(o.out, "server-key.pem")} --tls-client-ca ${join(o.out, "ca.pem")}`,
          `  client: tessera --server https://localhost:50051 --tls-ca ${join(o.out, "ca.pem")} --client-cert ${join(o.out, "client.pem")} --client-key ${join(o.out, "client-key.pem")} …`,
        ].join("\n"),
      );
    });
}
