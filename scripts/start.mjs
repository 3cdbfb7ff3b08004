#!/usr/bin/env node
// `npm start`: build dist/ only when TypeScript is installed and dist/ is missing or older than
// its sources, then serve from dist/ — so it also works after `npm ci --omit=dev`, which has no
// TypeScript but carries a built dist/. Extra arguments go to `tessera serve`.
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildIfStale } from "./build.mjs";

const BIN = fileURLToPath(new URL("../bin/tessera.js", import.meta.url));

const code = buildIfStale();
if (code !== 0) process.exit(code);
// Run the CLI in this process (no second process to forward signals to). argv[1] is what
// node:cluster forks for workers, so it must name the CLI itself.
process.argv = [process.execPath, BIN, "serve", ...process.argv.slice(2)];
await import(pathToFileURL(BIN).href);
