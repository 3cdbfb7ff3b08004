#!/usr/bin/env node
// The installed `tessera` command: runs the compiled CLI (npm install builds it via `prepare`).
import { isServing } from "../dist/src/cli/commands/serve.js";
import { runCli } from "../dist/src/cli/main.js";

const code = await runCli(process.argv);
// A started server keeps running; everything else (a failed start included) exits with its code.
if (!isServing()) process.exit(code);
