// Reads the .cpuprofile files of a directory (`BENCH_CPU_PROF=<dir>` runs) and prints, over all
// of them, the functions with the most self time and the inclusive time of the functions named
// on the command line: `node bench/cpu-profile.mjs <dir> [functionName ...]`. With
// `--under=<functionName>`, also the functions with the most inclusive time beneath it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const under = args.find((a) => a.startsWith("--under="))?.slice("--under=".length);
const [dir, ...named] = args.filter((a) => !a.startsWith("--under="));
if (!dir) {
  console.error("usage: node bench/cpu-profile.mjs <dir> [functionName ...]");
  process.exit(2);
}

const self = new Map();
/** Inclusive time of every function beneath `under` (each counted once per sample). */
const beneath = new Map();
const inclusive = new Map(named.map((n) => [n, 0]));
let total = 0;
let idle = 0;

for (const file of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
  const p = JSON.parse(readFileSync(join(dir, file), "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Sample time per node: each sample lasts until the next one.
  const us = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    us.set(p.samples[i], (us.get(p.samples[i]) ?? 0) + dt);
  }
  for (const [id, t] of us) {
    const n = byId.get(id);
    const name = n.callFrame.functionName || "(anonymous)";
    const where = n.callFrame.url ? n.callFrame.url.replace(/^.*\/(node_modules|dist|node:)/, "$1") : "";
    total += t;
    if (name === "(idle)") idle += t;
    const key = `${name} ${where}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + t);
    // Inclusive: count the sample once for each named function on its stack.
    const seen = new Set();
    const stack = [];
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const fn = byId.get(cur).callFrame.functionName;
      stack.push(fn || "(anonymous)");
      if (inclusive.has(fn) && !seen.has(fn)) {
        seen.add(fn);
        inclusive.set(fn, inclusive.get(fn) + t);
      }
    }
    const at = under ? stack.indexOf(under) : -1;
    if (at > 0) for (const fn of new Set(stack.slice(0, at))) beneath.set(fn, (beneath.get(fn) ?? 0) + t);
  }
}

const busy = total - idle;
const pct = (t) => `${((100 * t) / busy).toFixed(1)}%`;
console.log(`busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s sampled`);
console.log("\ntop self time (share of busy time):");
for (const [k, t] of [...self]
  .filter(([k]) => !k.startsWith("(idle)"))
  .sort((a, b) => b[1] - a[1])
  .slice(0, 30))
  console.log(`${pct(t).padStart(6)}  ${k}`);
if (named.length) {
  console.log("\ninclusive time:");
  for (const [k, t] of inclusive) console.log(`${pct(t).padStart(6)}  ${k}`);
}
if (under) {
  console.log(`\nbeneath ${under} (inclusive):`);
  for (const [k, t] of [...beneath].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${pct(t).padStart(6)}  ${k}`);
}
