#!/usr/bin/env node
// The installed `tessera` command: runs the compiled CLI (npm install builds it via `prepare`).
import { runCli } from "../dist/src/cli/main.js";

const code = await runCli(process.argv);
// `serve` keeps running; every other command exits with its code.
if (process.argv[2] !== "serve") process.exit(code);
