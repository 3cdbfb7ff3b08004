#!/usr/bin/env node
// The image's entrypoint: `tessera` with the arguments given (default `serve`). Before serving
// it checks that the TLS files the image expects are there, so a missing mount gets a sentence
// that says what to do instead of a file error from deep inside the start.
import { accessSync, constants } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const BIN = fileURLToPath(new URL("../bin/tessera.js", import.meta.url));

/** The TLS files `serve` will read (TESSERA_TLS_*) that this process cannot read. */
function unreadableTlsFiles(env = process.env) {
  const files = [env.TESSERA_TLS_CERT, env.TESSERA_TLS_KEY, env.TESSERA_TLS_CLIENT_CA].filter(Boolean);
  return files.filter((file) => {
    try {
      accessSync(file, constants.R_OK);
      return false;
    } catch {
      return true;
    }
  });
}

const args = process.argv.slice(2);
const missing = args[0] === "serve" ? unreadableTlsFiles() : [];
if (missing.length > 0) {
  process.stderr.write(
    [
      `tessera: cannot read ${missing.join(", ")}.`,
      "  The image serves TLS on 0.0.0.0: mount a directory with server.pem and server-key.pem at /tls",
      "  (tessera certs dev --out ./certs makes development ones), or set TESSERA_TLS_CERT/TESSERA_TLS_KEY",
      "  to your files. As a sidecar on the pod's loopback instead: TESSERA_HOST=127.0.0.1 with",
      "  TESSERA_TLS_CERT= and TESSERA_TLS_KEY= (empty). See README.md, 'Run in a container'.",
      "",
    ].join("\n"),
  );
  process.exit(2);
}
// Run the CLI in this process; argv[1] is what node:cluster forks for workers.
process.argv = [process.execPath, BIN, ...args];
await import(pathToFileURL(BIN).href);
