#!/usr/bin/env node
// The installed `tessera` command: runs the compiled CLI (npm install builds it via `prepare`).
// Only main.js is imported here: each command loads what it needs, so `--help` stays fast.
import { keepsRunning, runCli } from "../dist/src/cli/main.js";

const code = await runCli(process.argv);
// A started server keeps running; everything else (a failed start included) exits with its code.
if (!(await keepsRunning())) process.exit(code);
