import { createHash } from "node:crypto";

/** A stored policy document with its name. */
export interface NamedDocument {
  readonly name: string;
  readonly document: string;
}

/**
 * The SHA-256 (hex) of an org's document set: each document's name and text, length-prefixed
 * so no two sets share an encoding, in name order. Two processes holding the same revision
 * number compiled the same policy exactly when their digests are equal.
 */
export function policySetDigest(documents: readonly NamedDocument[]): string {
  const hash = createHash("sha256");
  const sorted = [...documents].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const { name, document } of sorted) {
    hash.update(`${Buffer.byteLength(name)}:${name}`);
    hash.update(`${Buffer.byteLength(document)}:`);
    hash.update(document);
  }
  return hash.digest("hex");
}
