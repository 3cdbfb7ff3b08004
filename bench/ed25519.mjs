// The MintToken baseline: raw Ed25519 signing with node:crypto in a loop, one process of this
// per Tessera worker, run at the same time. Prints {"opsPerSec": …}.
//   node bench/ed25519.mjs SECONDS
import { generateKeyPairSync, sign } from "node:crypto";

const seconds = Number(process.argv[2] ?? 3);
const { privateKey } = generateKeyPairSync("ed25519");
// About the size of a token's signing input (base64url header.claims).
const data = Buffer.from(`eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.${"x".repeat(330)}`);
for (let i = 0; i < 2000; i++) sign(null, data, privateKey); // warm up
let ops = 0;
const start = process.hrtime.bigint();
const end = start + BigInt(Math.round(seconds * 1e9));
let now = start;
while (now < end) {
  for (let i = 0; i < 100; i++) sign(null, data, privateKey);
  ops += 100;
  now = process.hrtime.bigint();
}
process.stdout.write(`${JSON.stringify({ opsPerSec: ops / (Number(now - start) / 1e9) })}\n`);
