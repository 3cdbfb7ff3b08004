// Writes docs/config.md from the configuration schemas (src/config/schema.ts,
// src/config/client-config.ts), as built in dist/: run it through `npm run docs:config`.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderConfigDoc } from "../dist/src/config/config-doc.js";

const target = fileURLToPath(new URL("../docs/config.md", import.meta.url));
writeFileSync(target, renderConfigDoc());
console.log(`wrote ${target}`);
